import NIOCore
import NIOPosix
import Synchronization

/// A raw TCP connection for sending exactly the bytes a test wants, as `nc` would, whatever the
/// protocol. Built on NIO so waiting for bytes never blocks the cooperative thread pool an
/// in-process server runs on.
public final class RawConnection {
    private let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
    private var iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    private var pending = ByteBuffer()

    /// Connects to `port` on 127.0.0.1. `receiveBuffer` sets SO_RCVBUF, bounding what the kernel
    /// holds for a client that does not read.
    public init(port: Int, receiveBuffer: Int? = nil) async throws {
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

    public func send(_ text: String) async throws { try await send(Array(text.utf8)) }

    public func send(_ bytes: [UInt8]) async throws {
        try await send(ByteBuffer(bytes: bytes))
    }

    public func send(_ buffer: ByteBuffer) async throws {
        try await channel.outbound.write(buffer)
    }

    /// The next line without its terminator; nil once the server has closed the connection.
    public func line() async throws -> String? {
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
    public func bytes(_ count: Int) async throws -> [UInt8]? {
        while pending.readableBytes < count {
            guard try await fill() else { return nil }
        }
        return pending.readBytes(length: count)
    }

    /// Everything the server sends until it closes the connection.
    public func remainder() async throws -> [UInt8] {
        while try await fill() {}
        return pending.readBytes(length: pending.readableBytes) ?? []
    }

    /// Closes the sending side, as a client that vanishes mid-frame would.
    public func finishSending() async throws {
        try await channel.channel.close(mode: .output)
    }

    /// Whether the server closes the connection within `timeout`: false if it has not by then, so
    /// a server that wrongly keeps a connection open fails the test instead of hanging it.
    public func isClosedByServer(within timeout: TimeAmount = .seconds(5)) async throws -> Bool {
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

/// True for the first caller only.
public final class Once: Sendable {
    private let claimed = Mutex(false)

    public init() {}

    public func claim() -> Bool {
        claimed.withLock { claimed in
            defer { claimed = true }
            return !claimed
        }
    }
}
