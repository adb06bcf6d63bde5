import BrookBroker
import BrookClient
import BrookLineServer
import BrookModel
import BrookTestSupport
import BrookWire
import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization
import Testing

/// A broker and a line server on an ephemeral loopback port, in this process.
final class TestServer: Sendable {
    let dir: TemporaryDirectory
    let broker: Broker
    let server: LineServer
    let task: Task<Void, Error>
    let address: ServerAddress

    private init(dir: TemporaryDirectory, broker: Broker, server: LineServer, task: Task<Void, Error>, address: ServerAddress) {
        self.dir = dir
        self.broker = broker
        self.server = server
        self.task = task
        self.address = address
    }

    static func start(
        broker configureBroker: (inout BrokerOptions) -> Void = { _ in },
        server configureServer: (inout LineServerConfiguration) -> Void = { _ in }
    ) async throws -> TestServer {
        let dir = TemporaryDirectory("brook-e2e")
        var options = BrokerOptions()
        options.retentionCheckIntervalMs = 0
        options.logger = Logger(label: "test.broker", factory: { _ in SwiftLogNoOpLogHandler() })
        configureBroker(&options)
        let broker = try Broker(path: dir.file("brook.db"), options: options)
        var configuration = LineServerConfiguration()
        configuration.port = 0
        configureServer(&configuration)
        let server = LineServer(broker: broker, configuration: configuration, logger: Logger(label: "test.server", factory: { _ in SwiftLogNoOpLogHandler() }))
        let task = Task { try await server.run() }
        let bound = try await server.localAddress()
        let address = configuration.unixSocketPath.map { ServerAddress(unixSocketPath: $0) } ?? ServerAddress(host: "127.0.0.1", port: bound.port!)
        return TestServer(dir: dir, broker: broker, server: server, task: task, address: address)
    }

    func client() async throws -> BrookClient {
        try await BrookClient.connect(to: address)
    }

    func stop() async {
        task.cancel()
        _ = await task.result
        await broker.close()
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

/// A raw TCP connection for sending exactly the bytes a test wants, as `nc` would. Built on NIO
/// so waiting for bytes never blocks the cooperative thread pool the in-process server runs on.
final class RawConnection {
    private let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
    private var iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    private var pending = ByteBuffer()

    /// `receiveBuffer` sets SO_RCVBUF, bounding what the kernel holds for a client that does not read.
    init(port: Int, receiveBuffer: Int? = nil) async throws {
        var bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        if let receiveBuffer { bootstrap = bootstrap.channelOption(.socketOption(.so_rcvbuf), value: SocketOptionValue(receiveBuffer)) }
        channel = try await bootstrap
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        iterator = channel.inbound.makeAsyncIterator()
    }

    deinit {
        // The writer must be finished before it goes; NIO traps on a writer dropped unfinished.
        channel.outbound.finish()
        channel.channel.close(promise: nil)
    }

    func send(_ text: String) async throws { try await send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) async throws {
        try await channel.outbound.write(ByteBuffer(bytes: bytes))
    }

    /// The next line without its terminator; nil once the server has closed the connection.
    func line() async throws -> String? {
        while true {
            if let newline = pending.readableBytesView.firstIndex(of: 10) {
                var line = pending.readBytes(length: newline - pending.readerIndex + 1)!
                line.removeLast()
                if line.last == 13 { line.removeLast() }
                return String(decoding: line, as: UTF8.self)
            }
            guard try await fill() else { return nil }
        }
    }

    /// Exactly `count` bytes; nil if the server closes the connection first.
    func bytes(_ count: Int) async throws -> [UInt8]? {
        while pending.readableBytes < count {
            guard try await fill() else { return nil }
        }
        return pending.readBytes(length: count)
    }

    /// Closes the sending side, as a client that vanishes mid-frame would.
    func finishSending() async throws {
        try await channel.channel.close(mode: .output)
    }

    /// Whether the server closes the connection within `timeout`: false if it has not by then, so
    /// a server that wrongly keeps a connection open fails the test instead of hanging it.
    func isClosedByServer(within timeout: TimeAmount = .seconds(5)) async throws -> Bool {
        let channel = self.channel.channel
        let once = Once()
        // Ask for a read, so the server's end of stream is seen even when nothing iterates the
        // inbound stream any more (its back-pressure may have left no read outstanding).
        channel.read()
        return await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            channel.closeFuture.whenComplete { _ in
                if once.claim() { continuation.resume(returning: true) }
            }
            channel.eventLoop.scheduleTask(in: timeout) {
                if once.claim() { continuation.resume(returning: false) }
            }
        }
    }

    private func fill() async throws -> Bool {
        do {
            guard var chunk = try await iterator.next() else { return false }
            pending.discardReadBytes()
            pending.writeBuffer(&chunk)
            return true
        } catch {
            return false  // reset by the server: closed
        }
    }
}
