import BrookClient
import BrookModel
import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// One connection to a NATS server, enough of a client for `brook bench nats`: subscribe, publish
/// (optionally with a numbered reply subject), request and reply for JetStream's API, and a
/// PING/PONG round trip. Every subscription's handler runs on the connection's event loop, as
/// `BrookConnection`'s reply callbacks do. A publish is flushed at once unless it is sent from a
/// handler with `flush: false`: then it goes out with the others of the same read, when the read
/// completes, as nats.go's buffered writer coalesces publishes.
final class NatsConnection: Sendable {
    let channel: any Channel
    let address: ServerAddress
    /// This connection's own reply subjects start with it (`_INBOX.<random>`).
    let inbox: String
    private let state: NatsConnectionState

    var eventLoop: any EventLoop { channel.eventLoop }

    private init(channel: any Channel, address: ServerAddress, state: NatsConnectionState) {
        self.channel = channel
        self.address = address
        self.state = state
        inbox = "_INBOX." + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16)
    }

    /// Connects, reads the server's INFO, sends CONNECT and waits for the PONG to a PING, as a
    /// NATS client does before it counts as connected.
    /// - Throws: `BROKER_NOT_AVAILABLE` naming the address when nothing answers there.
    static func connect(to address: ServerAddress, name: String = "brook-bench") async throws -> NatsConnection {
        guard address.unixSocketPath == nil else { throw BrookError(.invalidRequest, "brook bench nats takes HOST:PORT, not a Unix socket (\(address))") }
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let state = NatsConnectionState(greeting: loop.makePromise(of: String.self))
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: loop)
                .connectTimeout(.seconds(10))
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(NatsFrameDecoder()))
                        try channel.pipeline.syncOperations.addHandler(NatsClientHandler(state: state))
                    }
                }
                .connect(host: address.host, port: address.port).get()
        } catch {
            state.fail(error)
            throw BrookError(.brokerNotAvailable, "cannot connect to the NATS server at \(address): \(error); start nats-server -js there")
        }
        let connection = NatsConnection(channel: channel, address: address, state: state)
        do {
            let info = try await state.greeting.futureResult.get()
            guard info.contains("\"jetstream\":true") else {
                throw BrookError(.invalidRequest, "the NATS server at \(address) has no JetStream: start it with -js (its INFO: \(info.prefix(200)))")
            }
            var buffer = channel.allocator.buffer(capacity: 256)
            NatsCommand.connect(name: name, into: &buffer)
            try await channel.writeAndFlush(buffer)
            try await connection.roundTrip()
        } catch {
            try? await channel.close()
            throw error
        }
        return connection
    }

    /// Subscribes `handler` to `subject` (wildcards allowed); it runs on the event loop for each
    /// message. Returns the subscription id.
    @discardableResult
    func subscribe(_ subject: String, _ handler: @escaping @Sendable (NatsMessage) -> Void) -> Int {
        let sid = state.add(handler)
        var buffer = channel.allocator.buffer(capacity: subject.utf8.count + 16)
        NatsCommand.subscribe(subject, sid: sid, into: &buffer)
        channel.writeAndFlush(buffer, promise: nil)
        return sid
    }

    /// Publishes `payload` to `subject`, with `replyTo` followed by `token` as the reply subject
    /// when given. With `flush: false` (only from a subscription's handler, on the event loop) it
    /// is flushed when the current read completes.
    func publish(_ subject: String, replyTo: String? = nil, token: Int? = nil, payload: ByteBuffer, flush: Bool = true) {
        var buffer = channel.allocator.buffer(capacity: subject.utf8.count + (replyTo?.utf8.count ?? 0) + payload.readableBytes + 40)
        NatsCommand.publish(subject, replyTo: replyTo, token: token, payload: payload, into: &buffer)
        if flush { channel.writeAndFlush(buffer, promise: nil) } else { channel.write(buffer, promise: nil) }
    }

    func flush() { channel.flush() }

    /// Sends PING and waits for its PONG: everything written before has been read by the server.
    func roundTrip() async throws {
        let promise = channel.eventLoop.makePromise(of: Void.self)
        state.awaitPong(promise)
        var buffer = channel.allocator.buffer(capacity: 8)
        NatsCommand.ping(into: &buffer)
        channel.writeAndFlush(buffer, promise: nil)
        try await promise.futureResult.get()
    }

    /// A request to JetStream's API (`$JS.API.…`): publishes `json` with a reply subject of its
    /// own and returns the reply's JSON object.
    /// - Throws: the API's error (`{"error":{"code":…,"description":…}}`) as `UNKNOWN_SERVER_ERROR`
    ///   naming the subject; `REQUEST_TIMED_OUT` after 10 s; `BROKER_NOT_AVAILABLE` when no one
    ///   answers the subject (JetStream off, or a misspelt API).
    func jetStreamRequest(_ subject: String, _ json: String) async throws -> [String: Any] {
        let reply = try await request(subject, payload: channel.allocator.buffer(string: json))
        if reply.status == 503 {
            throw BrookError(.brokerNotAvailable, "no JetStream answers \(subject) at \(address): start nats-server with -js")
        }
        let object = (try? JSONSerialization.jsonObject(with: Data(reply.payload.readableBytesView))) as? [String: Any]
        guard let object else {
            throw BrookError(.unknownServerError, "JetStream answered \(subject) with '\(String(buffer: reply.payload).prefix(200))', not a JSON object")
        }
        if let error = object["error"] as? [String: Any] {
            throw BrookError(.unknownServerError, "JetStream refused \(subject): \(error["description"] ?? error) (code \(error["err_code"] ?? error["code"] ?? "?"))")
        }
        return object
    }

    /// Publishes with a one-off reply subject and waits up to 10 s for the first reply.
    func request(_ subject: String, payload: ByteBuffer) async throws -> NatsMessage {
        let replies = state.requestReplies(on: self)
        let promise = channel.eventLoop.makePromise(of: NatsMessage.self)
        let token = replies.register(promise)
        let timeout = channel.eventLoop.scheduleTask(in: .seconds(10)) {
            replies.cancel(token)?.fail(BrookError(.requestTimedOut, "no reply to \(subject) from \(self.address) within 10 s"))
        }
        defer { timeout.cancel() }
        publish(subject, replyTo: replies.prefix, token: token, payload: payload)
        return try await promise.futureResult.get()
    }

    /// Calls `handler` once, on the first failure of the connection (closed, `-ERR`, a protocol
    /// error), or at once if it has failed already.
    func onFailure(_ handler: @escaping @Sendable (Error) -> Void) { state.onFailure(handler) }

    func close() async {
        try? await channel.close()
    }
}

/// The connection's shared state: subscriptions by id, PINGs awaiting their PONG, the greeting,
/// and who to tell when it fails. Read by the handler on the event loop and by the bench's tasks.
final class NatsConnectionState: Sendable {
    private struct State {
        var handlers: [(@Sendable (NatsMessage) -> Void)?] = [nil]
        var pongs: [EventLoopPromise<Void>] = []
        var failure: Error?
        var failureHandlers: [@Sendable (Error) -> Void] = []
        var replies: NatsReplies?
        var greeted = false
    }

    let greeting: EventLoopPromise<String>
    private let state = Mutex(State())

    init(greeting: EventLoopPromise<String>) {
        self.greeting = greeting
    }

    /// The first INFO completes the greeting; later ones (cluster updates) are ignored.
    func greeted(_ info: String) {
        let first = state.withLock { state in
            defer { state.greeted = true }
            return !state.greeted && state.failure == nil
        }
        if first { greeting.succeed(info) }
    }

    func add(_ handler: @escaping @Sendable (NatsMessage) -> Void) -> Int {
        state.withLock { state in
            state.handlers.append(handler)
            return state.handlers.count - 1
        }
    }

    func deliver(_ message: NatsMessage) {
        let handler = state.withLock { state in message.sid < state.handlers.count ? state.handlers[message.sid] : nil }
        handler?(message)
    }

    func awaitPong(_ promise: EventLoopPromise<Void>) {
        let failure = state.withLock { state -> Error? in
            if state.failure == nil { state.pongs.append(promise) }
            return state.failure
        }
        if let failure { promise.fail(failure) }
    }

    func ponged() {
        let promise = state.withLock { state in state.pongs.isEmpty ? nil : state.pongs.removeFirst() }
        promise?.succeed()
    }

    /// The reply subscription for requests, made on first use.
    func requestReplies(on connection: NatsConnection) -> NatsReplies {
        let (replies, created) = state.withLock { state -> (NatsReplies, Bool) in
            if let replies = state.replies { return (replies, false) }
            let replies = NatsReplies(prefix: connection.inbox + ".api.")
            state.replies = replies
            return (replies, true)
        }
        if created {
            connection.subscribe(replies.prefix + "*") { message in replies.answer(message) }
            connection.onFailure { error in replies.failAll(error) }
        }
        return replies
    }

    func onFailure(_ handler: @escaping @Sendable (Error) -> Void) {
        let failure = state.withLock { state -> Error? in
            if state.failure == nil { state.failureHandlers.append(handler) }
            return state.failure
        }
        if let failure { handler(failure) }
    }

    func fail(_ error: Error) {
        let (pongs, handlers, greeted) = state.withLock { state -> ([EventLoopPromise<Void>], [@Sendable (Error) -> Void], Bool)? in
            guard state.failure == nil else { return nil }
            state.failure = error
            defer {
                state.pongs = []
                state.failureHandlers = []
                state.greeted = true
            }
            return (state.pongs, state.failureHandlers, state.greeted)
        } ?? ([], [], true)
        if !greeted { greeting.fail(error) }
        for pong in pongs { pong.fail(error) }
        for handler in handlers { handler(error) }
    }
}

/// Requests awaiting their reply, by the number ending their reply subject.
final class NatsReplies: Sendable {
    let prefix: String
    private let pending = Mutex<(next: Int, promises: [Int: EventLoopPromise<NatsMessage>])>((1, [:]))

    init(prefix: String) {
        self.prefix = prefix
    }

    func register(_ promise: EventLoopPromise<NatsMessage>) -> Int {
        pending.withLock { pending in
            defer { pending.next += 1 }
            pending.promises[pending.next] = promise
            return pending.next
        }
    }

    func cancel(_ token: Int) -> EventLoopPromise<NatsMessage>? {
        pending.withLock { $0.promises.removeValue(forKey: token) }
    }

    func answer(_ message: NatsMessage) {
        guard let token = message.lastSubjectNumber else { return }
        cancel(token)?.succeed(message)
    }

    func failAll(_ error: Error) {
        let promises = pending.withLock { pending in
            defer { pending.promises = [:] }
            return pending.promises.values
        }
        for promise in promises { promise.fail(error) }
    }
}

/// Reads the server's frames: answers PING, hands messages to their subscription, and fails the
/// connection on `-ERR`, a protocol error or the server closing it.
final class NatsClientHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = NatsFrame
    typealias OutboundOut = ByteBuffer

    private let state: NatsConnectionState

    init(state: NatsConnectionState) {
        self.state = state
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .message(let message):
            state.deliver(message)
        case .ping:
            var buffer = context.channel.allocator.buffer(capacity: 8)
            NatsCommand.pong(into: &buffer)
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        case .pong:
            state.ponged()
        case .info(let json):
            state.greeted(json)
        case .ok:
            break
        case .error(let text):
            state.fail(BrookError(.unknownServerError, "the NATS server said -ERR '\(text)'"))
            context.close(promise: nil)
        }
    }

    /// Sends what the handlers wrote during the read (publishes with `flush: false`) in one go.
    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        state.fail(BrookError(.brokerNotAvailable, "the NATS server closed the connection"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        state.fail(error)
        context.close(promise: nil)
    }
}
