import BrookBroker
import BrookModel
import BrookTestSupport
import Logging
import NIOCore
import Synchronization

@testable import BrookKafka

/// A broker and a Kafka listener on an ephemeral loopback port, in this process; the listener's
/// log lines are kept for the test to read.
final class KafkaTestServer: Sendable {
    private let test: TestBroker
    let listener: KafkaListener
    let task: Task<Void, Error>
    let port: Int
    let log: LogLines

    var dir: TemporaryDirectory { test.dir }
    var broker: Broker { test.broker }

    private init(test: TestBroker, listener: KafkaListener, task: Task<Void, Error>, port: Int, log: LogLines) {
        self.test = test
        self.listener = listener
        self.task = task
        self.port = port
        self.log = log
    }

    /// - Parameter prepare: runs on the database file's path before the broker opens it.
    static func start(
        broker configureBroker: (inout BrokerOptions) -> Void = { _ in }, listener configure: (inout KafkaListenerConfiguration) -> Void = { _ in },
        prepare: (String) throws -> Void = { _ in }
    ) async throws -> KafkaTestServer {
        let test = try TestBroker("brook-kafka", configure: configureBroker, prepare: prepare)
        var configuration = KafkaListenerConfiguration()
        configuration.port = 0
        configure(&configuration)
        let log = LogLines()
        let listener = KafkaListener(broker: test.broker, configuration: configuration, logger: Logger(label: "test.kafka", factory: { _ in log }))
        let task = Task { try await listener.run() }
        let bound = try await listener.localAddress()
        return KafkaTestServer(test: test, listener: listener, task: task, port: bound.port!, log: log)
    }

    func connect() async throws -> KafkaRawConnection {
        try await KafkaRawConnection(port: port)
    }

    func stop() async {
        await test.stop(serving: task)
    }
}

/// A log handler that keeps each line's message and metadata, for tests that read the log.
struct LogLines: LogHandler {
    private let lines = SharedLines()
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let fields = (event.metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        lines.storage.withLock { $0.append("\(event.level) \(event.message) \(fields)") }
    }

    var all: [String] { lines.storage.withLock { $0 } }

    private final class SharedLines: Sendable {
        let storage = Mutex<[String]>([])
    }
}

/// A raw TCP connection speaking Kafka's framing, for sending exactly the bytes a test wants.
final class KafkaRawConnection {
    private let raw: RawConnection
    private var correlation: Int32 = 0

    init(port: Int) async throws {
        raw = try await RawConnection(port: port)
    }

    func send(_ bytes: [UInt8]) async throws {
        try await raw.send(bytes)
    }

    /// Sends a request with a v1 header; returns its correlation id.
    @discardableResult
    func send(api: Int16, version: Int16, body: (inout ByteBuffer) -> Void) async throws -> Int32 {
        correlation += 1
        var frame = ByteBuffer()
        frame.writeInteger(Int32(0))
        frame.writeInteger(api)
        frame.writeInteger(version)
        frame.writeInteger(correlation)
        frame.writeKafkaString("brook-tests")
        body(&frame)
        frame.setInteger(Int32(frame.readableBytes - 4), at: 0)
        try await raw.send(frame)
        return correlation
    }

    /// Sends a request and returns its response body (after the correlation id, which is checked).
    func roundTrip(api: Int16, version: Int16, body: (inout ByteBuffer) -> Void) async throws -> ByteBuffer? {
        let id = try await send(api: api, version: version, body: body)
        guard let response = try await response() else { return nil }
        var body = response
        guard body.readInteger(as: Int32.self) == id else { return nil }
        return body
    }

    /// The next response frame (without its size); nil once the server closes the connection.
    func response() async throws -> ByteBuffer? {
        guard let head = try await raw.bytes(4), let size = ByteBuffer(bytes: head).getInteger(at: 0, as: Int32.self), size >= 0,
            let frame = try await raw.bytes(Int(size))
        else { return nil }
        return ByteBuffer(bytes: frame)
    }

    /// Whether the server closes the connection with no reply: true once it is closed and
    /// nothing came before the close.
    func closesWithoutReply(within timeout: TimeAmount = .seconds(10)) async throws -> Bool {
        // Still open: the test fails instead of hanging.
        guard try await raw.isClosedByServer(within: timeout) else { return false }
        return try await raw.remainder().isEmpty
    }
}
