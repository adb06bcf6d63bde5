import BrookBroker
import BrookWire
import Foundation
import Logging
import NIOCore
import NIOFileSystem
import NIOPosix
import ServiceLifecycle
import Synchronization

/// Where the line server listens and what it allows.
public struct LineServerConfiguration: Sendable {
    /// Loopback by default; "0.0.0.0" opts in to every interface.
    public var host = "127.0.0.1"
    /// 7665 ("ROOK" on a phone keypad); 0 picks a free port.
    public var port = WireProtocol.defaultPort
    /// Frame sizes, connections, in-flight requests and the idle timeout, announced in the greeting.
    public var limits = WireLimits()

    public init() {}
}

/// The TCP front-end speaking the line protocol (docs/protocol.md) to a ``Broker``. A
/// swift-service-lifecycle `Service`: on graceful shutdown it stops accepting, stops reading
/// new requests, finishes the ones in flight (waking long polls) and closes its connections.
public final class LineServer: Service, Sendable {
    public let broker: Broker
    public let configuration: LineServerConfiguration
    let logger: Logger
    private let group: any EventLoopGroup
    private let listening: EventLoopPromise<SocketAddress>
    private let connectionCount = Atomic<Int>(0)
    private let connectionIDs = Atomic<UInt64>(0)
    /// Bytes all connections hold in unanswered PRODUCE data and unwritten replies.
    let heldBytes = Counter()
    /// Requests read from all connections since start.
    let requestsRead = Counter()

    public init(
        broker: Broker, configuration: LineServerConfiguration = LineServerConfiguration(),
        logger: Logger = Logger(label: "brook.server"),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.broker = broker
        self.configuration = configuration
        self.logger = logger
        self.group = eventLoopGroup
        self.listening = eventLoopGroup.next().makePromise(of: SocketAddress.self)
    }

    /// The bound address, once the server listens (useful with port 0).
    public func localAddress() async throws -> SocketAddress {
        try await listening.futureResult.get()
    }

    /// Open connections now.
    public var connections: Int { connectionCount.load(ordering: .relaxed) }
    /// Bytes held now for unanswered PRODUCE data and replies not yet written, over all connections.
    public var inFlightBytes: Int { heldBytes.value }
    /// Requests read since start, over all connections.
    public var requestsReceived: Int { requestsRead.value }

    public func run() async throws {
        let limits = configuration.limits
        let server: NIOAsyncChannel<NIOAsyncChannel<FrameEvent, ByteBuffer>, Never>
        do {
            server = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 256)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
                .bind(host: configuration.host, port: configuration.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(IdleStateHandler(allTimeout: .milliseconds(limits.idleTimeoutMs)))
                        try channel.pipeline.syncOperations.addHandler(IdleCloser(timeoutMs: limits.idleTimeoutMs))
                        // The decoder bounds its own buffer; the handler's cap is a backstop.
                        try channel.pipeline.syncOperations.addHandler(
                            ByteToMessageHandler(FrameDecoder(limits: limits), maximumBufferSize: limits.maxRequestBytes + 2 * limits.maxLine))
                        return try NIOAsyncChannel<FrameEvent, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            listening.fail(error)
            throw error
        }
        let address = server.channel.localAddress!
        listening.succeed(address)
        logger.info("listening", metadata: [
            "host": "\(configuration.host)", "port": "\(address.port ?? configuration.port)", "db": "\(broker.path)",
        ])
        try await withThrowingDiscardingTaskGroup { group in
            try await server.executeThenClose { inbound in
                for try await connection in inbound.cancelOnGracefulShutdown() {
                    group.addTask { await self.serve(connection) }
                }
            }
            logger.info("stopped accepting connections; finishing in-flight requests")
        }
        logger.info("line server stopped")
    }

    // MARK: Connections

    private func serve(_ channel: NIOAsyncChannel<FrameEvent, ByteBuffer>) async {
        let open = connectionCount.add(1, ordering: .relaxed).newValue
        defer { connectionCount.subtract(1, ordering: .relaxed) }
        if open > configuration.limits.maxConnections {
            var refusal = ByteBuffer()
            Reply.error(BrookError(.tooManyConnections, "the server holds max_connections=\(configuration.limits.maxConnections) connections; try again later"), into: &refusal)
            try? await channel.executeThenClose { _, outbound in try await outbound.write(refusal) }
            return
        }
        let peer = channel.channel.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?"
        let id = connectionIDs.add(1, ordering: .relaxed).newValue
        let connection = Connection(server: self, peer: peer, id: id)
        defer {
            // A dropped connection is a leave for its dynamic group members.
            Task { [broker] in await broker.groups.connectionClosed(id) }
        }
        do {
            try await channel.executeThenClose { inbound, outbound in
                var greeting = ByteBuffer()
                Reply.greeting(configuration.limits, maxGroupMembers: broker.options.groups.maxMembersPerGroup, into: &greeting)
                try await outbound.write(greeting)
                try await connection.run(inbound: inbound, outbound: outbound)
            }
        } catch {
            logger.debug("connection ended", metadata: ["peer": "\(peer)", "error": "\(error)"])
        }
    }
}

/// The replies of one connection, written in request order.
enum PendingReply: Sendable {
    case now(ByteBuffer)
    case later(Task<ReplyBody, Never>)
    /// A PRODUCE: its reply is encoded once the writer commits it, with no task of its own.
    case produce(ProduceTicket, heldBytes: Int)
}

enum ReplyBody: Sendable {
    case buffer(ByteBuffer)
    /// A header, then a file streamed and deleted (BACKUP).
    case file(head: ByteBuffer, path: String, size: Int)
}

/// One client connection: reads requests, starts each at once (produces are queued to the writer
/// in arrival order), and writes the replies in request order from a second task.
final class Connection: Sendable {
    let server: LineServer
    let peer: String
    let id: UInt64
    private let inFlight: InFlightLimit
    private let tasks = Mutex<[Int: Task<ReplyBody, Never>]>([:])
    private let nextTask = Atomic<Int>(0)

    init(server: LineServer, peer: String, id: UInt64) {
        self.server = server
        self.peer = peer
        self.id = id
        let limits = server.configuration.limits
        self.inFlight = InFlightLimit(requests: limits.maxInFlight, bytes: limits.maxInFlightBytes, total: server.heldBytes)
    }

    func run(inbound: NIOAsyncChannelInboundStream<FrameEvent>, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>) async throws {
        let (replies, continuation) = AsyncStream.makeStream(of: PendingReply.self)
        defer { inFlight.close() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    try await self.writeReplies(replies, to: outbound)
                } catch {
                    // The client is gone: a reader waiting for room must not wait forever.
                    self.inFlight.close()
                    throw error
                }
            }
            defer { continuation.finish() }
            var order = RequestOrder()
            reading: for try await event in inbound.cancelOnGracefulShutdown() {
                if case .frame(let frame) = event {
                    // First the earlier request finishes, so its reply counts before this one is admitted.
                    await order.waitForTurn(isProduce: frame.line.verb == "PRODUCE")
                }
                await inFlight.acquire()
                if inFlight.isClosed { break reading }
                switch event {
                case .frame(let frame):
                    let (reply, close) = start(frame)
                    server.requestsRead.add(1)
                    switch reply {
                    case .later(let task): order.started(task)
                    case .produce(let ticket, let held):
                        inFlight.hold(bytes: held)
                        order.started(ticket)
                    case .now(let buffer): inFlight.hold(bytes: buffer.readableBytes)
                    case nil: break
                    }
                    if let reply { continuation.yield(reply) } else { inFlight.release() }
                    if close { break reading }
                case .refused(_, let error):
                    yieldNow(Self.error(error), to: continuation)
                case .lost(let error):
                    yieldNow(Self.error(error), to: continuation)
                    break reading
                case .streamStart, .streamChunk, .streamEnd:
                    yieldNow(Self.error(BrookError(.invalidRequest, "clients may not send stream= data")), to: continuation)
                    break reading
                }
            }
            if Task.isShuttingDownGracefully || Task.isCancelled {
                // Long polls return their (empty) results now rather than at their deadline.
                for task in tasks.withLock({ Array($0.values) }) { task.cancel() }
            }
            continuation.finish()
            try await group.waitForAll()
        }
    }

    private func yieldNow(_ buffer: ByteBuffer, to continuation: AsyncStream<PendingReply>.Continuation) {
        inFlight.hold(bytes: buffer.readableBytes)
        continuation.yield(.now(buffer))
    }

    private func writeReplies(_ replies: AsyncStream<PendingReply>, to outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>) async throws {
        for await pending in replies {
            var held = 0
            defer { inFlight.release(bytes: held) }
            let body: ReplyBody
            switch pending {
            case .now(let buffer):
                body = .buffer(buffer)
                held = buffer.readableBytes
            case .later(let task):
                body = await task.value
                if case .buffer(let buffer) = body { held = buffer.readableBytes }
            case .produce(let ticket, let heldBytes):
                held = heldBytes
                do {
                    var buffer = ByteBuffer()
                    Reply.positions(try await ticket.positions(), into: &buffer)
                    body = .buffer(buffer)
                } catch {
                    body = .buffer(Self.error(error))
                }
            }
            switch body {
            case .buffer(let buffer):
                try await outbound.write(buffer)
            case .file(let head, let path, let size):
                try await streamFile(head: head, path: path, size: size, to: outbound)
            }
        }
    }

    private func streamFile(head: ByteBuffer, path: String, size: Int, to outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>) async throws {
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await outbound.write(head)
        var sent = 0
        try await FileSystem.shared.withFileHandle(forReadingAt: FilePath(path)) { handle in
            for try await chunk in handle.readChunks(in: 0..<Int64(size), chunkLength: .mebibytes(1)) {
                sent += chunk.readableBytes
                try await outbound.write(chunk)
            }
        }
        if sent != size { throw BrookError(.storageError, "backup file ended early at \(sent) of \(size) bytes") }
        try await outbound.write(ByteBuffer(string: "\r\n"))
    }

    /// Starts a request; returns its pending reply (nil for acks=0) and whether to close after it.
    private func start(_ frame: Frame) -> (PendingReply?, close: Bool) {
        let request: Request
        do {
            request = try Request.parse(frame, limits: server.configuration.limits)
        } catch {
            return (.now(Self.error(error)), false)
        }
        switch request {
        case .quit:
            return (.now(ByteBuffer(string: "OK BYE\r\n")), true)
        case .ping(let word):
            return (.now(ByteBuffer(string: word.map { "OK PONG \($0)\r\n" } ?? "OK PONG\r\n")), false)
        case .produce(let topic, let acks, let records, let producer):
            // Queued to the writer now, so this connection's produces commit in order.
            let ticket: ProduceTicket
            do {
                ticket = try server.broker.submitProduce(topic: topic, records: records, acks: acks, producer: producer)
            } catch {
                if acks == .noAck {
                    server.logger.debug("acks=0 produce refused", metadata: ["peer": "\(peer)", "error": "\(error)"])
                    return (nil, false)
                }
                return (.now(Self.error(error)), false)
            }
            if acks == .noAck { return (nil, false) }
            return (.produce(ticket, heldBytes: frame.items.reduce(0) { $0 + $1.readableBytes }), false)
        default:
            return (later { [server, id, peer] in
                try await RequestHandler(server: server, connection: id, peer: peer).respond(to: request)
            }, false)
        }
    }

    /// Runs `body` in a task, turning errors into `ERR` replies.
    private func later(_ body: @escaping @Sendable () async throws -> ReplyBody) -> PendingReply {
        let id = nextTask.add(1, ordering: .relaxed).newValue
        let task = Task { [self] () -> ReplyBody in
            defer { _ = tasks.withLock { $0.removeValue(forKey: id) } }
            let reply: ReplyBody
            do {
                reply = try await body()
            } catch {
                reply = .buffer(Self.error(error))
            }
            // Held until written: a client that does not read its replies stops being read.
            if case .buffer(let buffer) = reply { inFlight.hold(bytes: buffer.readableBytes) }
            return reply
        }
        tasks.withLock { $0[id] = task }
        return .later(task)
    }

    static func error(_ error: Error) -> ByteBuffer {
        var buffer = ByteBuffer()
        let brookError = (error as? BrookError) ?? BrookError(.unknownServerError, "\(error)")
        Reply.error(brookError, into: &buffer)
        return buffer
    }
}

/// Keeps a connection's requests taking effect in the order they arrived, as Kafka does, while
/// letting consecutive PRODUCEs overlap: those are queued to the writer in order as they start,
/// so they commit in order, and group commit needs several in flight. Any other request waits
/// for every earlier one to finish, and a PRODUCE waits for an earlier request of another kind.
/// Since produces commit in order, waiting for the latest one covers all before it.
struct RequestOrder {
    private var lastProduce: ProduceTicket?
    private var other: Task<ReplyBody, Never>?

    mutating func waitForTurn(isProduce: Bool) async {
        if let other {
            _ = await other.value
            self.other = nil
        }
        if !isProduce, let lastProduce {
            _ = try? await lastProduce.positions()
            self.lastProduce = nil
        }
    }

    mutating func started(_ task: Task<ReplyBody, Never>) { other = task }
    mutating func started(_ produce: ProduceTicket) { lastProduce = produce }
}

/// Bounds what a connection holds: unanswered requests, and bytes of PRODUCE data and replies not
/// yet written. When a client pipelines without reading its replies, the server stops reading
/// from it (the kernel's buffers then push back on the client) instead of queueing without bound.
final class InFlightLimit: Sendable {
    private struct State {
        var requests: Int
        var bytes = 0
        var waiter: CheckedContinuation<Void, Never>?
        var closed = false

        func admits(maxBytes: Int) -> Bool { requests > 0 && bytes < maxBytes }

        /// Takes room for one request if there is some; a closed connection always lets the
        /// reader go on (to find it closed).
        mutating func take(maxBytes: Int) -> Bool {
            if closed { return true }
            guard admits(maxBytes: maxBytes) else { return false }
            requests -= 1
            return true
        }
    }

    private let state: Mutex<State>
    private let maxBytes: Int
    /// The server-wide total of bytes held, for observation.
    private let total: Counter?

    init(requests: Int, bytes: Int, total: Counter? = nil) {
        state = Mutex(State(requests: requests))
        maxBytes = bytes
        self.total = total
    }

    /// Whether the connection is gone (its replies can no longer be written).
    var isClosed: Bool { state.withLock { $0.closed } }

    /// Waits until one more request may be read, or the connection is closed. One reader per
    /// connection calls this.
    func acquire() async {
        let maxBytes = maxBytes
        if state.withLock({ $0.take(maxBytes: maxBytes) }) { return }
        await withCheckedContinuation { continuation in
            let immediate = state.withLock { state -> Bool in
                if state.take(maxBytes: maxBytes) { return true }
                state.waiter = continuation
                return false
            }
            if immediate { continuation.resume() }
        }
    }

    /// Counts `bytes` as held until a matching `release(bytes:)`.
    func hold(bytes: Int) {
        guard bytes > 0 else { return }
        let held = state.withLock { state -> Bool in
            guard !state.closed else { return false }
            state.bytes += bytes
            return true
        }
        if held { total?.add(bytes) }
    }

    /// The connection is gone: whatever it held is dropped, later holds count for nothing, and a
    /// reader waiting for room goes on (to find the connection closed). Idempotent.
    func close() {
        let (dropped, waiter) = state.withLock { state -> (Int, CheckedContinuation<Void, Never>?) in
            state.closed = true
            defer {
                state.bytes = 0
                state.waiter = nil
            }
            return (state.bytes, state.waiter)
        }
        total?.add(-dropped)
        waiter?.resume()
    }

    /// A request is answered (or needs no answer) and `bytes` it held are written.
    func release(bytes: Int = 0) {
        let maxBytes = maxBytes
        let (waiter, released) = state.withLock { state -> (CheckedContinuation<Void, Never>?, Bool) in
            state.requests += 1
            guard !state.closed else { return (nil, false) }
            state.bytes -= bytes
            guard let waiter = state.waiter, state.take(maxBytes: maxBytes) else { return (nil, true) }
            state.waiter = nil
            return (waiter, true)
        }
        if released, bytes > 0 { total?.add(-bytes) }
        waiter?.resume()
    }
}

/// A shared count, for observation.
final class Counter: Sendable {
    private let atomic = Atomic<Int>(0)
    var value: Int { atomic.load(ordering: .relaxed) }
    func add(_ amount: Int) { atomic.add(amount, ordering: .relaxed) }
}

/// Closes a connection that had no traffic either way for the idle timeout, saying why first.
final class IdleCloser: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let timeoutMs: Int64

    init(timeoutMs: Int64) { self.timeoutMs = timeoutMs }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is IdleStateHandler.IdleStateEvent else { return context.fireUserInboundEventTriggered(event) }
        var farewell = context.channel.allocator.buffer(capacity: 96)
        Reply.error(BrookError(.idleTimeout, "no traffic for idle_timeout_ms=\(timeoutMs); closing the connection"), into: &farewell)
        // Close once the farewell is written; the callback runs on the channel's event loop.
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(farewell)).whenComplete { _ in bound.value.close(promise: nil) }
    }
}
