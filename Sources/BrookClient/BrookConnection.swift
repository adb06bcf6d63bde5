import BrookAuth
import BrookModel
import BrookWire
import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// Who a client authenticates as, when the server requires it (`brook serve --auth`).
public struct Credentials: Sendable, Hashable {
    public var user: String
    public var password: String
    public var mechanism: ScramMechanism

    public init(user: String, password: String, mechanism: ScramMechanism = .sha256) {
        self.user = user
        self.password = password
        self.mechanism = mechanism
    }
}

/// TLS to the server: the CA that signed its certificate, and for mTLS the client's own.
public struct ClientTLS: Sendable {
    let context: NIOSSLContext
    /// The client presents a certificate: to a server that requires one, it is the client's
    /// identity, and no AUTH follows.
    public let hasClientCertificate: Bool

    /// - Parameters:
    ///   - caFile: PEM; the server's certificate must chain to it and name the host connected to
    ///     (a DNS name, or an IP address SAN such as 127.0.0.1).
    ///   - certificateFile, keyFile: PEM, the client's certificate and key for a server that
    ///     requires one (`brook serve --tls-client-ca`).
    public init(caFile: String, certificateFile: String? = nil, keyFile: String? = nil) throws(BrookError) {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        do {
            configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
        } catch {
            throw BrookError(.invalidConfig, "cannot read the CA certificate '\(caFile)' (\(error)): give the PEM certificate of the CA that signed the server's")
        }
        hasClientCertificate = certificateFile != nil && keyFile != nil
        if let certificateFile, let keyFile {
            do {
                configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(certificateFile).map { .certificate($0) }
                configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem))
            } catch {
                throw BrookError(.invalidConfig, "cannot read the client certificate '\(certificateFile)' or key '\(keyFile)' (\(error)): give PEM files")
            }
        }
        do {
            context = try NIOSSLContext(configuration: configuration)
        } catch {
            throw BrookError(.invalidConfig, "cannot set up TLS with CA '\(caFile)': \(error)")
        }
    }
}

/// A server address: `HOST:PORT`, or `unix:PATH` for a Unix domain socket on this machine.
public struct ServerAddress: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int
    /// A Unix domain socket's path; when set, `host` and `port` are not used.
    public var unixSocketPath: String?

    public init(host: String = "127.0.0.1", port: Int = WireProtocol.defaultPort) {
        self.host = host
        self.port = port
    }

    /// A Unix domain socket (`brook serve --unix-socket PATH`).
    public init(unixSocketPath: String) {
        self.init()
        self.unixSocketPath = unixSocketPath
    }

    /// Parses `HOST:PORT`, `HOST`, `:PORT` or `unix:PATH`.
    public init?(_ text: String) {
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            guard !path.isEmpty else { return nil }
            self.init(unixSocketPath: path)
            return
        }
        guard let colon = text.lastIndex(of: ":") else {
            guard !text.isEmpty else { return nil }
            self.init(host: text)
            return
        }
        let host = String(text[..<colon])
        guard let port = Int(text[text.index(after: colon)...]), (1...65_535).contains(port) else { return nil }
        self.init(host: host.isEmpty ? "127.0.0.1" : host, port: port)
    }

    public var description: String { unixSocketPath.map { "unix:\($0)" } ?? "\(host):\(port)" }
}

/// One TCP connection to a Brook server. Requests may be sent from many tasks at once; they are
/// pipelined, and each gets the reply frame matching it (replies come in request order).
public final class BrookConnection: Sendable {
    public let address: ServerAddress
    /// The server's greeting line (`HELLO brook …` with its limits).
    public let greeting: Line
    /// Who the connection authenticated as, for a reconnect to do the same.
    public let credentials: Credentials?
    /// The TLS the connection uses, for a reconnect to do the same.
    public let tls: ClientTLS?
    let channel: any Channel

    private init(address: ServerAddress, channel: any Channel, greeting: Line, credentials: Credentials?, tls: ClientTLS?) {
        self.tls = tls
        self.address = address
        self.credentials = credentials
        self.channel = channel
        self.greeting = greeting
    }

    /// The event loop the connection's callbacks run on; requests sent from it are written at
    /// once, with no hop between threads.
    public var eventLoop: any EventLoop { channel.eventLoop }

    /// Connects, reads the greeting and, when the server requires it, authenticates.
    /// - Throws: `BROKER_NOT_AVAILABLE` naming the address when nothing answers there;
    ///   `SASL_AUTHENTICATION_FAILED` when the server requires authentication and the credentials
    ///   are missing or wrong.
    public static func connect(
        to address: ServerAddress, credentials: Credentials? = nil, tls: ClientTLS? = nil,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> BrookConnection {
        let channel: any Channel
        // One pick from the group (round robin) for both the channel and its greeting, so a
        // process's connections spread over the group's loops: picking twice per connection
        // put every connection on the same loop.
        let loop = eventLoopGroup.next()
        // Queued in the handler before the connection exists: the greeting may arrive at once.
        let greetingPromise = loop.makePromise(of: Frame.self)
        do {
            let bootstrap = ClientBootstrap(group: loop)
                .connectTimeout(.seconds(10))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let tls {
                            // SNI takes host names only; for an IP address NIOSSL checks the
                            // certificate against the address connected to.
                            let isIP = (try? SocketAddress(ipAddress: address.host, port: 0)) != nil
                            try channel.pipeline.syncOperations.addHandler(
                                try NIOSSLClientHandler(context: tls.context, serverHostname: isIP ? nil : address.host))
                        }
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder(limits: .client)))
                        try channel.pipeline.syncOperations.addHandler(ClientHandler(greeting: greetingPromise))
                    }
                }
            if let path = address.unixSocketPath {
                channel = try await bootstrap.connect(unixDomainSocketPath: path).get()
            } else {
                channel = try await bootstrap.channelOption(.tcpOption(.tcp_nodelay), value: 1)
                    .connect(host: address.host, port: address.port).get()
            }
        } catch {
            greetingPromise.fail(error)
            throw BrookError(.brokerNotAvailable, "cannot connect to \(address): \(Self.reason(connecting: error, to: address))")
        }
        let greeting = try await Self.greeting(greetingPromise.futureResult, on: channel, from: address, tls: tls != nil)
        guard greeting.verb == "HELLO" else {
            channel.close(promise: nil)
            throw BrookError(.invalidRequest, "\(address) is not a Brook server: it said '\(Line.printable(greeting.text))'")
        }
        let connection = BrookConnection(address: address, channel: channel, greeting: greeting, credentials: credentials, tls: tls)
        if let mechanisms = greeting.option("auth"), credentials != nil || tls?.hasClientCertificate != true {
            do {
                try await connection.authenticate(credentials, offered: mechanisms)
            } catch {
                await connection.close()
                throw error
            }
        }
        return connection
    }

    /// The SCRAM exchange over AUTH lines: the server proves it holds the verifier, too.
    private func authenticate(_ credentials: Credentials?, offered: String) async throws {
        guard let credentials else {
            throw BrookError(
                .saslAuthenticationFailed,
                "\(address) requires authentication: give a user (--user NAME, password from BROOK_PASSWORD or standard input)")
        }
        let mechanism = credentials.mechanism
        guard offered.split(separator: ",").contains(Substring(mechanism.rawValue)) else {
            throw BrookError(.unsupportedSaslMechanism, "\(address) offers \(offered), not \(mechanism.rawValue)")
        }
        var exchange = ScramClientExchange(mechanism: mechanism, user: credentials.user, password: credentials.password)
        let challenge = try Reply.check(try await send(.auth(mechanism: mechanism.rawValue, payload: Data(exchange.clientFirst).base64EncodedString())))
        guard challenge.words.count >= 3, challenge.words[1] == "AUTH", challenge.words[2] == "continue",
            let serverFirst = Self.lastBase64(challenge.text)
        else {
            throw BrookError(.saslAuthenticationFailed, "\(address) answered AUTH with '\(Line.printable(challenge.text))'")
        }
        let final = try exchange.clientFinal(answering: serverFirst)
        let done = try Reply.check(try await send(.auth(mechanism: "CONTINUE", payload: Data(final).base64EncodedString())))
        guard let serverFinal = Self.lastBase64(done.text) else {
            throw BrookError(.saslAuthenticationFailed, "\(address) answered AUTH CONTINUE with '\(Line.printable(done.text))'")
        }
        try exchange.verify(serverFinal: serverFinal)
    }

    private static func lastBase64(_ text: String) -> [UInt8]? {
        text.split(separator: " ").last.flatMap { Data(base64Encoded: String($0)) }.map(Array.init)
    }

    /// How long a connected server may take to greet.
    static let greetingTimeout = TimeAmount.seconds(10)

    /// Waits for the greeting, which ends the wait in any case: a peer that accepts and never
    /// speaks (not a Brook server, or a socket nobody serves) would otherwise hold the caller
    /// forever, whatever its task's cancellation.
    /// - Throws: `CancellationError` when the task is cancelled meanwhile, `BROKER_NOT_AVAILABLE`
    ///   when no greeting comes within ``greetingTimeout`` or the connection closes first.
    private static func greeting(_ greeting: EventLoopFuture<Frame>, on channel: any Channel, from address: ServerAddress, tls: Bool) async throws -> Line {
        let timer = channel.eventLoop.scheduleTask(in: greetingTimeout) { channel.close(promise: nil) }
        defer { timer.cancel() }
        let deadline = NIODeadline.now() + greetingTimeout
        do {
            // Closing the channel fails the greeting, whoever closes it.
            return try await withTaskCancellationHandler {
                try await greeting.get().line
            } onCancel: {
                channel.close(promise: nil)
            }
        } catch {
            if NIODeadline.now() >= deadline {
                throw BrookError(
                    .brokerNotAvailable,
                    "\(address) accepted the connection but sent no greeting within \(greetingTimeout.nanoseconds / 1_000_000_000) s — is it a Brook server?"
                        + (tls ? "" : " If it runs with --tls-cert, connect with --tls-ca"))
            }
            if Task.isCancelled { throw CancellationError() }
            if tls, !(error is BrookError) {
                // A server that speaks TLS to a client that does not (or the reverse) sends nothing the
                // client can read.
                throw BrookError(
                    .brokerNotAvailable,
                    "TLS with \(address) failed (\(error)): check that --tls-ca is the CA that signed the server's certificate, that the certificate names \(address.host), and that the server runs with --tls-cert")
            }
            throw error
        }
    }

    /// Why a connect failed, in words that say what to do: SwiftNIO's own text names its types and
    /// errno values, which told a user nothing about a server that is simply not running.
    static func reason(connecting error: any Error, to address: ServerAddress) -> String {
        var errnos: [CInt] = []
        if let error = error as? NIOConnectionError {
            errnos = error.connectionErrors.compactMap { ($0.error as? IOError)?.errnoCode }
            if error.dnsAAAAError != nil || error.dnsAError != nil, error.connectionErrors.isEmpty {
                return "host '\(address.host)' was not found"
            }
        } else if let error = error as? IOError {
            errnos = [error.errnoCode]
        } else if case ChannelError.connectTimeout = error {
            return "no answer within 10 s — is the host reachable and the port right?"
        }
        let running = "is `brook serve` running\(address.unixSocketPath == nil ? "" : " with --unix-socket \(address.unixSocketPath!)")?"
        if errnos.contains(ECONNREFUSED) { return "connection refused — \(running)" }
        if errnos.contains(ENOENT) { return "no socket at that path — \(running)" }
        if errnos.contains(EACCES) { return "permission denied on the socket" }
        if errnos.contains(ETIMEDOUT) { return "timed out — is the host reachable and the port right?" }
        if errnos.contains(EHOSTUNREACH) || errnos.contains(ENETUNREACH) { return "the host is unreachable" }
        return "\(error)"
    }

    /// Sends a request and returns its reply frame (`ERR` replies are returned, not thrown).
    public func send(_ request: Request) async throws -> Frame {
        try request.checkEncodable()
        var buffer = channel.allocator.buffer(capacity: 64)
        request.encode(into: &buffer)
        return try await send(encoded: buffer)
    }

    /// Sends an already-encoded request and returns its reply frame.
    public func send(encoded buffer: ByteBuffer) async throws -> Frame {
        try await Self.send(Outgoing(buffer: buffer, reply: ReplySlot(.frame(channel.eventLoop.makePromise()))), on: channel)
    }

    /// Queues a request for writing before returning — so requests submitted one after another
    /// from one task go out in that order — and returns its future reply frame.
    public func submit(_ request: Request) -> EventLoopFuture<Frame> {
        do {
            try request.checkEncodable()
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        var buffer = channel.allocator.buffer(capacity: 64)
        request.encode(into: &buffer)
        let promise = channel.eventLoop.makePromise(of: Frame.self)
        let slot = request.expectsReply ? ReplySlot(.frame(promise)) : nil
        let address = self.address
        channel.writeAndFlush(Outgoing(buffer: buffer, reply: slot)).whenComplete { result in
            if case .failure(let error) = result {
                let failure = BrookError(.brokerNotAvailable, "cannot send to \(address): \(error)")
                if let slot { slot.failIfUnclaimed(failure) } else { promise.fail(failure) }
            } else if slot == nil {
                promise.succeed(Frame(line: Line("OK")))
            }
        }
        return promise.futureResult
    }

    /// Sends a request that gets no reply (PRODUCE with acks=0).
    public func sendWithoutReply(_ request: Request) async throws {
        try request.checkEncodable()
        var buffer = channel.allocator.buffer(capacity: 64)
        request.encode(into: &buffer)
        do {
            try await channel.writeAndFlush(Outgoing(buffer: buffer, reply: nil))
        } catch {
            throw BrookError(.brokerNotAvailable, "cannot send to \(address): \(error)")
        }
    }

    /// Sends a request whose reply streams (`stream=N`): `onChunk` gets each piece in order.
    /// - Returns: the reply's status line.
    public func sendStreaming(_ request: Request, onChunk: @escaping @Sendable (ByteBuffer) async throws -> Void) async throws -> Line {
        var buffer = channel.allocator.buffer(capacity: 64)
        request.encode(into: &buffer)
        let (chunks, continuation) = AsyncThrowingStream.makeStream(of: FrameEvent.self)
        let slot = ReplySlot(.stream(continuation))
        do {
            try await channel.writeAndFlush(Outgoing(buffer: buffer, reply: slot))
        } catch {
            let failure = BrookError(.brokerNotAvailable, "cannot send to \(address): \(error)")
            slot.failIfUnclaimed(failure)
            throw failure
        }
        var head: Line?
        for try await event in chunks {
            switch event {
            case .streamStart(let line, _): head = line
            case .streamChunk(let chunk): try await onChunk(chunk)
            case .streamEnd: return head!
            case .frame(let frame):
                try Reply.check(frame)
                return frame.line
            case .lost(let error), .refused(_, let error): throw error
            }
        }
        throw BrookError(.brokerNotAvailable, "connection to \(address) closed during a streamed reply")
    }

    private static func send(_ outgoing: Outgoing, on channel: any Channel) async throws -> Frame {
        guard let slot = outgoing.reply, case .frame(let promise) = slot.target else { preconditionFailure("a frame reply is expected") }
        do {
            try await channel.writeAndFlush(outgoing)
        } catch {
            slot.failIfUnclaimed(BrookError(.brokerNotAvailable, "cannot send: \(error)"))
        }
        return try await promise.futureResult.get()
    }

    public func close() async {
        try? await channel.close()
    }
}

/// A request on its way out, and where its reply goes.
struct Outgoing: Sendable {
    enum ReplyTarget: Sendable {
        case frame(EventLoopPromise<Frame>)
        case stream(AsyncThrowingStream<FrameEvent, Error>.Continuation)
    }

    var buffer: ByteBuffer
    var reply: ReplySlot?
}

/// Where one reply goes, completed exactly once: by the handler once it has claimed the slot (on
/// write), or by the sender when the write never reached the handler (connection closed).
final class ReplySlot: Sendable {
    let target: Outgoing.ReplyTarget
    private let claimed = Atomic<Bool>(false)

    init(_ target: Outgoing.ReplyTarget) {
        self.target = target
    }

    /// True for the first caller only.
    func claim() -> Bool {
        !claimed.exchange(true, ordering: .acquiringAndReleasing)
    }

    func failIfUnclaimed(_ error: BrookError) {
        if claim() { target.fail(error) }
    }
}

extension Outgoing.ReplyTarget {
    func fail(_ error: BrookError) {
        switch self {
        case .frame(let promise): promise.fail(error)
        case .stream(let continuation): continuation.finish(throwing: error)
        }
    }
}

/// Matches reply frames to requests, in order, on the channel's event loop.
///
/// Requests sent while replies are being read (a producer refilling its window from each reply's
/// callback) are flushed together at the end of the read, as one write, rather than one write
/// each: the server then reads them together and commits them together.
final class ClientHandler: ChannelDuplexHandler {
    typealias InboundIn = FrameEvent
    typealias OutboundIn = Outgoing
    typealias OutboundOut = ByteBuffer

    private var waiting = CircularBuffer<Outgoing.ReplyTarget>()
    private var closed: BrookError?
    /// Replies of one read are being delivered: a flush waits for the end of the read.
    private var reading = false
    private var flushPending = false

    init(greeting: EventLoopPromise<Frame>) {
        waiting.append(.frame(greeting))
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let outgoing = unwrapOutboundIn(data)
        if let slot = outgoing.reply, slot.claim() {
            if let closed {
                slot.target.fail(closed)
                promise?.fail(closed)
                return
            }
            waiting.append(slot.target)
        }
        context.write(wrapOutboundOut(outgoing.buffer), promise: promise)
    }

    func flush(context: ChannelHandlerContext) {
        guard reading else { return context.flush() }
        guard !flushPending else { return }
        flushPending = true
        // Should the read end without its read-complete event (the channel closing), the flush
        // still goes before the loop's next turn.
        let bound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        context.eventLoop.execute { bound.value.handler.flushIfPending(bound.value.context) }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        reading = false
        flushIfPending(context)
        context.fireChannelReadComplete()
    }

    private func flushIfPending(_ context: ChannelHandlerContext) {
        reading = false
        guard flushPending else { return }
        flushPending = false
        context.flush()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        reading = true
        let event = unwrapInboundIn(data)
        guard let head = waiting.first else {
            // A reply nobody asked for: the stream is out of step.
            fail(BrookError(.invalidRequest, "unexpected reply from the server"))
            context.close(promise: nil)
            return
        }
        switch (head, event) {
        case (.frame(let promise), .frame(let frame)):
            waiting.removeFirst()
            promise.succeed(frame)
        case (.frame(let promise), .lost(let error)), (.frame(let promise), .refused(_, let error)):
            waiting.removeFirst()
            promise.fail(error)
        case (.stream(let continuation), _):
            continuation.yield(event)
            switch event {
            case .streamEnd, .frame, .lost, .refused:
                waiting.removeFirst()
                continuation.finish()
            default:
                break
            }
        default:
            fail(BrookError(.invalidRequest, "the server streamed a reply to a request that expects none"))
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(BrookError(.brokerNotAvailable, "connection closed by the server"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(BrookError(.brokerNotAvailable, "connection failed: \(error)"))
        context.close(promise: nil)
    }

    private func fail(_ error: BrookError) {
        closed = closed ?? error
        while let target = waiting.popFirst() { target.fail(error) }
    }
}
