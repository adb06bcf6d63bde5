import BrookAuth
import BrookBroker
import BrookFrontEnd
import BrookModel
import BrookWire
import Foundation
import Logging
import NIOCore
import NIOFileSystem

/// A reply body: a buffer, or a header then a file streamed and deleted (BACKUP).
enum ReplyBody: Sendable {
    case buffer(ByteBuffer)
    case file(head: ByteBuffer, path: String, size: Int)
}

/// The line protocol's side of one connection; a ``RequestPipelineHandler`` does the rest
/// (order, limits, backpressure, idle close, quiesce, half-close).
///
/// Requests take effect in the order they arrive, as Kafka's do, while consecutive PRODUCEs
/// overlap: each is queued to the broker's writer as it is read — so a connection's produces
/// commit in order and group commit sees many at once — and answered from the writer's
/// completion. Any other request runs once every earlier request has finished, and a PRODUCE
/// waits for an earlier request of another kind.
final class LineConnection: RequestPipelineAdapter {
    typealias Request = FrameEvent

    private let server: LineServer
    private let id: UInt64
    private let peer: String
    private let limits: WireLimits
    /// The authenticated user; nil until AUTH succeeds on a server that requires it.
    private var principal: String?
    /// The SASL exchange under way, between AUTH and AUTH CONTINUE.
    private var sasl: SaslSession?
    /// PLAIN sends the password itself, so it is taken only where nobody can listen: loopback or
    /// a Unix domain socket.
    private let isLoopback: Bool
    /// The peer's address as ACL rules name it, parsed once rather than on every request.
    private let host: String

    init(server: LineServer, id: UInt64, peer: String, isLoopback: Bool = false) {
        self.server = server
        self.id = id
        self.peer = peer
        self.limits = server.configuration.limits
        self.isLoopback = isLoopback
        self.host = Access.host(ofPeer: peer)
    }

    /// The connection's user and address, for the ACL checks.
    private var access: Access { Access(control: server.broker.access, user: principal, host: host) }

    private var plainAllowed: Bool { isLoopback || server.configuration.tls != nil }

    private var authMechanisms: [String] { SaslSession.mechanisms(plainAllowed: plainAllowed) }

    // MARK: RequestPipelineAdapter

    func admission(of event: FrameEvent) -> RequestAdmission {
        switch event {
        case .frame(let frame):
            let verb = frame.line.verb
            let meter = server.requestMeters?[verb]
            guard verb == "PRODUCE" else { return RequestAdmission(concurrency: .exclusive, meter: meter) }
            let bytes = Self.dataBytes(frame)
            return RequestAdmission(heldBytes: bytes, concurrency: .overlapping, orderedOnStart: !Self.isLarge(frame, bytes: bytes), meter: meter)
        case .refused, .lost, .streamStart, .streamChunk, .streamEnd:
            // Answered at once, with no effect on the log.
            return RequestAdmission(concurrency: .overlapping)
        }
    }

    func start(_ event: FrameEvent, responder: RequestResponder, context: ChannelHandlerContext) {
        switch event {
        case .frame(let frame):
            server.requestsRead.add(1)
            if principal == nil, server.configuration.tls?.requiresClientCertificate == true {
                principal = ServerTLS.clientCommonName(context.pipeline.syncOperations)
            }
            start(frame, responder: responder, loop: context.eventLoop)
        case .refused(_, let error):
            responder.fail(error)
        case .lost(let error):
            responder.fail(error, thenClose: true)
        case .streamStart, .streamChunk, .streamEnd:
            responder.fail(BrookError(.invalidRequest, "clients may not send stream= data"), thenClose: true)
        }
    }

    func reply(to error: any Error, allocator: ByteBufferAllocator) -> ByteBuffer {
        Self.error(error)
    }

    func greeting(allocator: ByteBufferAllocator) -> ByteBuffer? {
        var greeting = allocator.buffer(capacity: 320)
        let options = server.broker.options
        Reply.greeting(
            limits, maxGroupMembers: options.groups.maxMembersPerGroup, sql: options.sqlLimits,
            authMechanisms: server.configuration.requireAuthentication ? authMechanisms : nil, into: &greeting)
        return greeting
    }

    func idleFarewell(allocator: ByteBufferAllocator) -> ByteBuffer? {
        Self.error(BrookError(.idleTimeout, "no traffic for idle_timeout_ms=\(limits.idleTimeoutMs); closing the connection"))
    }

    func connectionClosed() {
        // A dropped connection is a leave for its dynamic group members.
        Task { [consumers = server.consumers, id] in await consumers.connectionClosed(id) }
    }

    func connectionFailed(_ error: any Error) {
        server.logger.debug("connection ended", metadata: ["peer": "\(peer)", "error": "\(error)"])
    }

    // MARK: Authentication

    /// One AUTH step. A failure closes the connection, so each connection gets one try and a
    /// guesser pays a new connection (and the client's key derivation) per password; the log
    /// names the user and the peer, never the message.
    private func authenticate(mechanism: String, payload: String, responder: RequestResponder) {
        var session: SaslSession
        let message: [UInt8]
        do {
            guard server.configuration.requireAuthentication else {
                throw BrookError(.illegalSaslState, "this server does not require authentication (started without --auth)")
            }
            guard principal == nil else {
                throw BrookError(.illegalSaslState, "this connection is authenticated already as '\(principal!)'")
            }
            guard let decoded = Data(base64Encoded: payload).map(Array.init) else {
                throw BrookError(.saslAuthenticationFailed, "the AUTH message is not base64")
            }
            message = decoded
            if mechanism == "CONTINUE" {
                guard let current = sasl else {
                    throw BrookError(.illegalSaslState, "AUTH CONTINUE without an exchange under way: start with AUTH SCRAM-SHA-256 <base64>")
                }
                session = current
            } else {
                let users = server.broker.users
                session = try SaslSession(
                    mechanism: mechanism, plainAllowed: plainAllowed, secret: server.authSecret,
                    lookup: { user, mechanism in users.credential(user: user, mechanism: mechanism) })
            }
        } catch {
            return authenticationFailed(error, responder: responder)
        }
        sasl = nil
        // PLAIN derives the salted password (PBKDF2, thousands of rounds): off the event loop,
        // which other connections share. The connection's next request waits for the answer.
        let loop = responder.eventLoop
        let connection = NIOLoopBound(self, eventLoop: loop)
        Task {
            let result = Result { () throws(BrookError) in
                let step = try session.receive(message)
                return (step, session)
            }
            loop.execute {
                let this = connection.value
                switch result {
                case .success((.challenge(let challenge), let session)):
                    this.sasl = session
                    responder.succeed(.buffer(ByteBuffer(string: "OK AUTH continue \(Data(challenge).base64EncodedString())\r\n")))
                case .success((.authenticated(let user, let serverFinal), _)):
                    this.principal = user
                    this.server.logger.info("authenticated", metadata: [
                        "user": "\(user)", "peer": "\(this.peer)", "mechanism": "\(mechanism == "CONTINUE" ? "SCRAM" : mechanism)",
                    ])
                    let final = serverFinal.isEmpty ? "" : " \(Data(serverFinal).base64EncodedString())"
                    responder.succeed(.buffer(ByteBuffer(string: "OK AUTH user=\(user)\(final)\r\n")))
                case .failure(let error):
                    this.authenticationFailed(error, responder: responder)
                }
            }
        }
    }

    /// A failed AUTH is answered after ``failedAuthenticationDelay``, then the connection closes:
    /// one guess per connection, at most ten a second each (Kafka's
    /// `connection.failed.authentication.delay.ms`). The log never holds the AUTH message.
    private func authenticationFailed(_ error: any Error, responder: RequestResponder) {
        sasl = nil
        server.logger.notice("authentication failed", metadata: ["peer": "\(peer)", "error": "\(error)"])
        responder.eventLoop.scheduleTask(in: Self.failedAuthenticationDelay) {
            responder.fail(error, thenClose: true)
        }
    }

    static let failedAuthenticationDelay = TimeAmount.milliseconds(100)

    // MARK: Requests

    private func start(_ frame: Frame, responder: RequestResponder, loop: any EventLoop) {
        if server.configuration.requireAuthentication && principal == nil,
            !["AUTH", "PING", "HELP", "QUIT"].contains(frame.line.verb)
        {
            return responder.fail(BrookError(
                .illegalSaslState,
                "authenticate first: AUTH \(authMechanisms.joined(separator: "|")) <base64> (brook commands take --user NAME)"))
        }
        if frame.line.verb == "PRODUCE", Self.isLarge(frame) {
            return startLarge(frame, access: access, responder: responder)
        }
        let request: BrookWire.Request
        do {
            request = try BrookWire.Request.parse(frame, limits: limits)
        } catch {
            return responder.fail(error)
        }
        switch request {
        case .auth(let mechanism, let payload):
            authenticate(mechanism: mechanism, payload: payload, responder: responder)
        case .quit:
            responder.succeed(.buffer(ByteBuffer(string: "OK BYE\r\n")), thenClose: true)
        case .ping(let word):
            responder.succeed(.buffer(ByteBuffer(string: word.map { "OK PONG \($0)\r\n" } ?? "OK PONG\r\n")))
        case .produce(let topic, let acks, let records, let producer):
            do {
                guard let ticket = try Self.submit(topic: topic, acks: acks, records: records, producer: producer, access: access, server: server, peer: peer)
                else { return responder.succeed(.none) }
                Self.answer(responder, from: ticket)
            } catch {
                responder.fail(error)
            }
        case .fetch(let topic, let partition, let offset, let maxRecords, let maxBytes, let maxWaitMs):
            do { try access.check(.read, .topic(topic)) } catch { return responder.fail(error) }
            startFetch(
                .single(topic: topic, partition: partition, offset: offset, maxRecords: maxRecords, maxBytes: maxBytes, maxWait: .milliseconds(maxWaitMs)),
                responder: responder, loop: loop, reply: WireFetchSink.reply)
        case .fetchPartitions(let topic, let offsets, let maxRecords, let maxBytes, let maxWaitMs):
            do { try access.check(.read, .topic(topic)) } catch { return responder.fail(error) }
            // The limits bound the whole answer and so each partition too; the first partition
            // with records gets at least one, as a single FETCH does.
            let partitions = offsets.map {
                FetchRequest.Partition(topic: topic, partition: $0.partition, offset: $0.offset, maxBytes: maxBytes, maxRecords: maxRecords)
            }
            startFetch(
                FetchRequest(partitions: partitions, maxBytes: maxBytes, maxRecords: maxRecords, maxWait: .milliseconds(maxWaitMs)),
                responder: responder, loop: loop, reply: WireFetchSink.replyPartitions)
        default:
            let task = Self.run(request, handler: RequestHandler(server: server, connection: id, peer: peer, access: access), responder: responder, logger: server.logger)
            // Shutdown wakes what waits, as does a peer that sent its last request (a POLL
            // returns now); otherwise a closed connection's requests run to their end.
            let waits = if case .poll = request { true } else { false }
            responder.onEnd { ending in
                if ending == .quiesce || (waits && ending == .inputClosed) { task.cancel() }
            }
        }
    }

    /// A FETCH: answered from the broker's fetch operation, which ends at its deadline, at
    /// shutdown, when the peer has sent its last request, or when the connection closes.
    private func startFetch(
        _ request: FetchRequest, responder: RequestResponder, loop: any EventLoop,
        reply: @escaping @Sendable (Result<FetchResponse<WireFetchSink>, Error>) throws -> ByteBuffer
    ) {
        let fetch: PendingFetch<WireFetchSink>
        do {
            fetch = try server.broker.startFetch(request, into: WireFetchSink.self, executor: { loop.execute($0) }) { result in
                // Encoded on the reader thread (or this loop, for records a commit handed over);
                // a refusal goes through `fail`, so it is counted as one.
                do {
                    responder.succeed(.buffer(try reply(result)))
                } catch {
                    responder.fail(error)
                }
            }
        } catch {
            return responder.fail(error)
        }
        // The broker keeps the deadline; the connection only ends the wait early (shutdown,
        // half-close, close), and then it answers with what it has.
        responder.onEnd { _ in fetch.answerNow() }
    }

    /// Answers a request in a task of its own; errors become `ERR` replies.
    private static func run(
        _ request: BrookWire.Request, handler: RequestHandler, responder: RequestResponder, logger: Logger
    ) -> Task<Void, Never> {
        Task {
            do {
                responder.succeed(pipelineReply(try await handler.respond(to: request), logger: logger))
            } catch {
                responder.fail(error)
            }
        }
    }

    /// A reply body as the pipeline writes it: a BACKUP file is streamed behind its header, each
    /// chunk written before the next is read, then deleted.
    private static func pipelineReply(_ body: ReplyBody, logger: Logger) -> PipelineReply {
        switch body {
        case .buffer(let buffer):
            return .buffer(buffer)
        case .file(let head, let path, let size):
            return .stream(ReplyStream(head: head, write: { channel in
                do {
                    var sent = 0
                    try await FileSystem.shared.withFileHandle(forReadingAt: FilePath(path)) { handle in
                        for try await chunk in handle.readChunks(in: 0..<Int64(size), chunkLength: .mebibytes(1)) {
                            sent += chunk.readableBytes
                            try await channel.writeAndFlush(chunk)
                        }
                    }
                    if sent != size { throw BrookError(.storageError, "backup file ended early at \(sent) of \(size) bytes") }
                    try await channel.writeAndFlush(ByteBuffer(string: "\r\n"))
                } catch {
                    // The reply cannot be completed: the client would misread what follows.
                    logger.warning("backup stream failed; closing the connection", metadata: ["error": "\(error)"])
                    throw error
                }
            }, release: { try? FileManager.default.removeItem(atPath: path) }))
        }
    }

    /// PRODUCEs with more data items or bytes than these are parsed, queued and answered in a
    /// task, keeping the event loop (which other connections share) free of long work.
    private static let inlineProduceItems = 128
    private static let inlineProduceBytes = 64 * 1_024

    private static func isLarge(_ frame: Frame, bytes: Int? = nil) -> Bool {
        frame.items.count > inlineProduceItems || (bytes ?? dataBytes(frame)) > inlineProduceBytes
    }

    private static func dataBytes(_ frame: Frame) -> Int {
        frame.items.reduce(0) { $0 + $1.readableBytes }
    }

    /// Parses and queues a large PRODUCE off the event loop. Later requests wait until it is queued
    /// to the writer (its admission is not ordered on start), so a connection's produces still
    /// commit in order; it is then answered as an inline one is.
    private func startLarge(_ frame: Frame, access: Access, responder: RequestResponder) {
        Self.parseAndSubmit(frame, access: access, server: server, peer: peer) { queued in
            switch queued {
            case .success(let ticket?):
                responder.ordered()
                Self.answer(responder, from: ticket)
            case .success(nil):
                responder.succeed(.none)
            case .failure(let error):
                responder.fail(error)
            }
        }
    }

    /// Queues a PRODUCE to the writer. nil for acks=0, which is never answered: its refusal is
    /// only logged.
    private static func submit(
        topic: String, acks: Acks, records: [ProducerRecord], producer: ProducerIdentity?, access: Access, server: LineServer, peer: String
    ) throws -> ProduceTicket? {
        do {
            try access.check(.write, .topic(topic))
            let ticket = try server.broker.submitProduce(topic: topic, records: records, acks: acks, producer: producer)
            return acks == .noAck ? nil : ticket
        } catch where acks == .noAck {
            server.logger.debug("acks=0 produce refused", metadata: ["peer": "\(peer)", "error": "\(error)"])
            return nil
        }
    }

    /// Parses a PRODUCE and queues it to the writer in a task; `submitted` gets its ticket (nil
    /// for acks=0) or the refusal.
    private static func parseAndSubmit(
        _ frame: Frame, access: Access, server: LineServer, peer: String, submitted: @escaping @Sendable (Result<ProduceTicket?, Error>) -> Void
    ) {
        Task {
            submitted(Result {
                guard case .produce(let topic, let acks, let records, let producer) = try BrookWire.Request.parse(frame, limits: server.configuration.limits) else {
                    preconditionFailure("a PRODUCE line parses as a produce request")
                }
                return try submit(topic: topic, acks: acks, records: records, producer: producer, access: access, server: server, peer: peer)
            })
        }
    }

    /// Answers a queued PRODUCE once the writer has committed (or refused) it. The reply is
    /// encoded on the event loop, keeping the writer's thread for writing.
    private static func answer(_ responder: RequestResponder, from ticket: ProduceTicket) {
        ticket.whenComplete { result in
            switch result {
            case .success(let positions):
                responder.execute { responder.succeed(.buffer(produced(positions))) }
            case .failure(let error):
                responder.fail(error)
            }
        }
    }

    /// A PRODUCE reply: each record's position.
    private static func produced(_ positions: [RecordPosition]) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: 48)
        Reply.positions(positions, into: &buffer)
        return buffer
    }

    static func error(_ error: Error) -> ByteBuffer {
        var buffer = ByteBuffer()
        let brookError = (error as? BrookError) ?? BrookError(.unknownServerError, "\(error)")
        Reply.error(brookError, into: &buffer)
        return buffer
    }
}
