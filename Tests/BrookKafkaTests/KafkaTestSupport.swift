import BrookBroker
import BrookModel
import BrookTestSupport
import Logging
import NIOCore
import NIOPosix
import Synchronization

@testable import BrookKafka

/// A broker and a Kafka listener on an ephemeral loopback port, in this process; the listener's
/// log lines are kept for the test to read.
final class KafkaTestServer: Sendable {
    let dir: TemporaryDirectory
    let broker: Broker
    let listener: KafkaListener
    let task: Task<Void, Error>
    let port: Int
    let log: LogLines

    private init(dir: TemporaryDirectory, broker: Broker, listener: KafkaListener, task: Task<Void, Error>, port: Int, log: LogLines) {
        self.dir = dir
        self.broker = broker
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
        let dir = TemporaryDirectory("brook-kafka")
        try prepare(dir.file("brook.db"))
        var options = BrokerOptions()
        options.retentionCheckIntervalMs = 0
        options.logger = Logger(label: "test.broker", factory: { _ in SwiftLogNoOpLogHandler() })
        configureBroker(&options)
        let broker = try Broker(path: dir.file("brook.db"), options: options)
        var configuration = KafkaListenerConfiguration()
        configuration.port = 0
        configure(&configuration)
        let log = LogLines()
        let listener = KafkaListener(broker: broker, configuration: configuration, logger: Logger(label: "test.kafka", factory: { _ in log }))
        let task = Task { try await listener.run() }
        let bound = try await listener.localAddress()
        return KafkaTestServer(dir: dir, broker: broker, listener: listener, task: task, port: bound.port!, log: log)
    }

    func connect() async throws -> KafkaRawConnection {
        try await KafkaRawConnection(port: port)
    }

    func stop() async {
        task.cancel()
        _ = await task.result
        await broker.close()
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
    private let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
    private var iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    private var pending = ByteBuffer()
    private var correlation: Int32 = 0

    init(port: Int) async throws {
        channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        iterator = channel.inbound.makeAsyncIterator()
    }

    deinit {
        channel.outbound.finish()
        channel.channel.close(promise: nil)
    }

    func send(_ bytes: [UInt8]) async throws {
        try await channel.outbound.write(ByteBuffer(bytes: bytes))
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
        try await channel.outbound.write(frame)
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
        while true {
            if let size = pending.getInteger(at: pending.readerIndex, as: Int32.self), pending.readableBytes >= 4 + Int(size) {
                pending.moveReaderIndex(forwardBy: 4)
                return pending.readSlice(length: Int(size))
            }
            guard try await fill() else { return nil }
        }
    }

    /// Whether the server closes the connection with no reply: true once it is closed and
    /// nothing came before the close.
    func closesWithoutReply(within timeout: TimeAmount = .seconds(10)) async throws -> Bool {
        let channel = self.channel.channel
        let once = Once()
        channel.read()
        let closed = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            channel.closeFuture.whenComplete { _ in
                if once.claim() { continuation.resume(returning: true) }
            }
            channel.eventLoop.scheduleTask(in: timeout) {
                if once.claim() { continuation.resume(returning: false) }
            }
        }
        guard closed else { return false }  // still open: the test fails instead of hanging
        while try await fill() {}
        return pending.readableBytes == 0
    }

    private func fill() async throws -> Bool {
        do {
            guard var chunk = try await iterator.next() else { return false }
            pending.discardReadBytes()
            pending.writeBuffer(&chunk)
            return true
        } catch {
            return false
        }
    }
}

/// True for the first caller only.
final class Once: Sendable {
    private let claimed = Mutex(false)

    func claim() -> Bool {
        claimed.withLock { claimed in
            defer { claimed = true }
            return !claimed
        }
    }
}
