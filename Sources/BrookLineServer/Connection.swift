import BrookBroker
import BrookModel
import BrookWire
import Foundation
import NIOCore
import NIOFileSystem

/// A reply body: a buffer, or a header then a file streamed and deleted (BACKUP).
enum ReplyBody: Sendable {
    case buffer(ByteBuffer)
    case file(head: ByteBuffer, path: String, size: Int)
}

/// One client connection, driven on its channel's event loop with no task of its own.
///
/// Requests take effect in the order they arrive, as Kafka's do, while consecutive PRODUCEs
/// overlap: each is queued to the broker's writer as it is read — so a connection's produces
/// commit in order and group commit sees many at once — and answered from the writer's
/// completion, hopping back to this event loop. Any other request runs in a task once every
/// earlier request has finished, and a PRODUCE waits for an earlier request of another kind.
/// Replies are written in request order, one flush per burst.
///
/// What a connection holds is bounded: at most `max_in_flight` unanswered requests and about
/// `max_in_flight_bytes` of PRODUCE data and unwritten replies. Past either, or while the socket
/// does not take what is written, the connection is not read (the kernel's buffers then push back
/// on the client) instead of queueing without bound.
final class ConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = FrameEvent
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// A started request, in request order, until its reply is written.
    private struct Slot {
        var reply: ReplyBody?
        /// Bytes held for it: PRODUCE data while unanswered, then the reply until written.
        var held: Int
    }

    /// Replies at least this large count as held until the socket has taken them; smaller ones
    /// are released once queued for writing, where the channel's writability bounds them.
    private static let trackedReplyBytes = 16 * 1_024

    private let server: LineServer
    private let id: UInt64
    private let peer: String
    private let limits: WireLimits
    private var context: ChannelHandlerContext!

    /// Read but not started: waiting for an earlier request to finish, or for room.
    private var queued = CircularBuffer<FrameEvent>()
    private var slots = CircularBuffer<Slot>()
    /// The sequence number of `slots.first`; a slot's number never changes.
    private var firstSlot: UInt64 = 0
    private var runningProduces = 0
    private var runningOthers = 0
    /// A large PRODUCE is being parsed and queued off the event loop; what follows waits for it.
    private var submitting = false
    private var held = 0
    /// The channel asked to read while there was no room.
    private var readPending = false
    private var needsFlush = false
    private var processScheduled = false
    /// A BACKUP file is being written; the replies after it wait.
    private var streaming = false
    /// No more requests (QUIT, framing lost, shutdown): close after the last reply.
    private var ending = false
    private var closing = false
    private var closed = false
    /// Running requests answered in tasks, to cancel (wake) on shutdown.
    private var tasks: [UInt64: Task<Void, Never>] = [:]
    /// Waiting long-poll FETCHes and their deadlines.
    private var polls: [UInt64: (operation: FetchOperation<WireFetchSink>, deadline: Scheduled<Void>)] = [:]

    init(server: LineServer, id: UInt64, peer: String) {
        self.server = server
        self.id = id
        self.peer = peer
        self.limits = server.configuration.limits
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        var greeting = context.channel.allocator.buffer(capacity: 320)
        Reply.greeting(limits, maxGroupMembers: server.broker.options.groups.maxMembersPerGroup, into: &greeting)
        context.writeAndFlush(wrapOutboundOut(greeting), promise: nil)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        queued.removeAll()
        for slot in slots { Self.discard(slot.reply) }
        firstSlot += UInt64(slots.count)
        slots.removeAll()
        server.heldBytes.add(-held)
        held = 0
        // Long polls end now; requests already started run to their end and their replies are
        // dropped. A dropped connection is a leave for its dynamic group members.
        expirePolls()
        Task { [consumers = server.consumers, id] in await consumers.connectionClosed(id) }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !ending else { return }
        queued.append(unwrapInboundIn(data))
        process()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushIfNeeded()
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        process()
        flushIfNeeded()
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if mayRead {
            context.read()
        } else {
            readPending = true
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ChannelShouldQuiesceEvent else { return context.fireUserInboundEventTriggered(event) }
        // Shutdown: read no more; long polls return their (empty) results now rather than at
        // their deadline; the connection closes once the started requests are answered.
        ending = true
        for task in tasks.values { task.cancel() }
        expirePolls()
        process()
        flushIfNeeded()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        server.logger.debug("connection ended", metadata: ["peer": "\(peer)", "error": "\(error)"])
        context.close(promise: nil)
    }

    // MARK: Requests

    private var hasRoom: Bool { slots.count < limits.maxInFlight && held < limits.maxInFlightBytes }

    private var mayRead: Bool { !ending && queued.isEmpty && hasRoom && context.channel.isWritable }

    /// Starts what may start, writes what is ready, and reads on when there is room.
    private func process() {
        // A BACKUP stream or a scheduled step can end after the connection did.
        guard !closed else { return }
        while !ending, let event = queued.first, hasRoom, mayStart(event) {
            queued.removeFirst()
            start(event)
        }
        writeReady()
        if ending {
            queued.removeAll()
            closeIfDone()
        } else if readPending && mayRead {
            readPending = false
            context.read()
        }
    }

    private func mayStart(_ event: FrameEvent) -> Bool {
        guard !submitting else { return false }
        guard case .frame(let frame) = event else { return true }
        return frame.line.verb == "PRODUCE" ? runningOthers == 0 : runningOthers == 0 && runningProduces == 0
    }

    private func start(_ event: FrameEvent) {
        switch event {
        case .frame(let frame):
            server.requestsRead.add(1)
            start(frame)
        case .refused(_, let error):
            answer(Self.error(error))
        case .lost(let error):
            answer(Self.error(error))
            ending = true
        case .streamStart, .streamChunk, .streamEnd:
            answer(Self.error(BrookError(.invalidRequest, "clients may not send stream= data")))
            ending = true
        }
    }

    private func start(_ frame: Frame) {
        if frame.line.verb == "PRODUCE", frame.items.count > Self.inlineProduceItems || Self.dataBytes(frame) > Self.inlineProduceBytes {
            return startLarge(frame)
        }
        let request: Request
        do {
            request = try Request.parse(frame, limits: limits)
        } catch {
            return answer(Self.error(error))
        }
        let loop = context.eventLoop
        let this = NIOLoopBound(self, eventLoop: loop)
        switch request {
        case .quit:
            answer(ByteBuffer(string: "OK BYE\r\n"))
            ending = true
        case .ping(let word):
            answer(ByteBuffer(string: word.map { "OK PONG \($0)\r\n" } ?? "OK PONG\r\n"))
        case .produce(let topic, let acks, let records, let producer):
            let ticket: ProduceTicket
            do {
                guard let queued = try Self.submit(topic: topic, acks: acks, records: records, producer: producer, server: server, peer: peer)
                else { return }
                ticket = queued
            } catch {
                return answer(Self.error(error))
            }
            let slot = open(holding: Self.dataBytes(frame))
            runningProduces += 1
            ticket.whenComplete { result in
                loop.execute { this.value.produced(slot, result) }
            }
        case .fetch(let topic, let partition, let offset, let maxRecords, let maxBytes, let maxWaitMs):
            let slot = open(holding: 0)
            runningOthers += 1
            let operation: FetchOperation<WireFetchSink>
            do {
                operation = try server.broker.startFetch(
                    topic: topic, partition: partition, offset: offset, maxRecords: maxRecords, maxBytes: maxBytes,
                    maxWait: .milliseconds(maxWaitMs), into: WireFetchSink.self, executor: { loop.execute($0) }
                ) { result in
                    // Encoded on the reader thread (or this loop, for records a commit handed over).
                    let reply = WireFetchSink.reply(result, offset: offset)
                    loop.execute { this.value.fetched(slot, reply) }
                }
            } catch {
                let reply = Self.error(error)
                return loop.execute { this.value.fetched(slot, reply) }
            }
            // Timed whether or not it waits now: a wait woken without data (a rebalance, a
            // retention pass) registers again, and must still end at its deadline.
            if maxWaitMs > 0 {
                polls[slot] = (operation, loop.scheduleTask(in: .milliseconds(maxWaitMs)) { operation.expire() })
            }
        default:
            let slot = open(holding: 0)
            runningOthers += 1
            tasks[slot] = Self.run(request, handler: RequestHandler(server: server, connection: id, peer: peer)) { body in
                loop.execute { this.value.finished(slot, body) }
            }
        }
    }

    /// Answers a request in a task of its own; errors become `ERR` replies.
    private static func run(
        _ request: Request, handler: RequestHandler, then deliver: @escaping @Sendable (ReplyBody) -> Void
    ) -> Task<Void, Never> {
        Task {
            let body: ReplyBody
            do {
                body = try await handler.respond(to: request)
            } catch {
                body = .buffer(Self.error(error))
            }
            deliver(body)
        }
    }

    /// PRODUCEs with more data items or bytes than these are parsed, queued and answered in a
    /// task, keeping the event loop (which other connections share) free of long work.
    private static let inlineProduceItems = 128
    private static let inlineProduceBytes = 64 * 1_024

    private static func dataBytes(_ frame: Frame) -> Int {
        frame.items.reduce(0) { $0 + $1.readableBytes }
    }

    /// Parses and queues a large PRODUCE off the event loop. Later requests wait until it is queued
    /// to the writer, so a connection's produces still commit in order; it is then answered as an
    /// inline one is.
    private func startLarge(_ frame: Frame) {
        let loop = context.eventLoop
        let this = NIOLoopBound(self, eventLoop: loop)
        let slot = open(holding: Self.dataBytes(frame))
        runningProduces += 1
        submitting = true
        Self.parseAndSubmit(frame, server: server, peer: peer) { queued in
            loop.execute {
                let handler = this.value
                handler.submitting = false
                switch queued {
                case .success(let ticket?):
                    ticket.whenComplete { result in loop.execute { this.value.produced(slot, result) } }
                case .success(nil):
                    // acks=0: the empty reply writes nothing.
                    handler.produced(slot, .buffer(ByteBuffer()))
                case .failure(let error):
                    handler.produced(slot, .buffer(Self.error(error)))
                }
                handler.process()
            }
        }
    }

    /// Queues a PRODUCE to the writer. nil for acks=0, which is never answered: its refusal is
    /// only logged.
    private static func submit(
        topic: String, acks: Acks, records: [ProducerRecord], producer: ProducerIdentity?, server: LineServer, peer: String
    ) throws -> ProduceTicket? {
        do {
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
        _ frame: Frame, server: LineServer, peer: String, submitted: @escaping @Sendable (Result<ProduceTicket?, Error>) -> Void
    ) {
        Task {
            submitted(Result {
                guard case .produce(let topic, let acks, let records, let producer) = try Request.parse(frame, limits: server.configuration.limits) else {
                    preconditionFailure("a PRODUCE line parses as a produce request")
                }
                return try submit(topic: topic, acks: acks, records: records, producer: producer, server: server, peer: peer)
            })
        }
    }

    /// A new slot for a started request; returns its sequence number.
    private func open(holding bytes: Int) -> UInt64 {
        slots.append(Slot(reply: nil, held: 0))
        let slot = firstSlot + UInt64(slots.count - 1)
        hold(bytes, in: slot)
        return slot
    }

    /// Answers at once, in order after the requests before it.
    private func answer(_ buffer: ByteBuffer) {
        let slot = open(holding: buffer.readableBytes)
        slots[offset: Int(slot - firstSlot)].reply = .buffer(buffer)
    }

    private func hold(_ bytes: Int, in slot: UInt64) {
        slots[offset: Int(slot - firstSlot)].held += bytes
        held += bytes
        server.heldBytes.add(bytes)
    }

    private func produced(_ slot: UInt64, _ result: Result<[RecordPosition], Error>) {
        var buffer = context?.channel.allocator.buffer(capacity: 48) ?? ByteBuffer()
        switch result {
        case .success(let positions): Reply.positions(positions, into: &buffer)
        case .failure(let error): buffer = Self.error(error)
        }
        produced(slot, .buffer(buffer))
    }

    private func produced(_ slot: UInt64, _ body: ReplyBody) {
        runningProduces -= 1
        complete(slot, body)
    }

    private func fetched(_ slot: UInt64, _ reply: ByteBuffer) {
        polls.removeValue(forKey: slot)?.deadline.cancel()
        finished(slot, .buffer(reply))
    }

    /// Ends every waiting long poll now (each answers with no records).
    private func expirePolls() {
        for poll in polls.values {
            poll.deadline.cancel()
            poll.operation.expire()
        }
    }

    private func finished(_ slot: UInt64, _ body: ReplyBody) {
        runningOthers -= 1
        tasks[slot] = nil
        complete(slot, body)
    }

    private func complete(_ slot: UInt64, _ body: ReplyBody) {
        guard !closed, slot >= firstSlot, slot - firstSlot < UInt64(slots.count) else { return Self.discard(body) }
        if case .buffer(let buffer) = body { hold(buffer.readableBytes, in: slot) }
        slots[offset: Int(slot - firstSlot)].reply = body
        process()
        flushIfNeeded()
    }

    // MARK: Replies

    /// Writes the replies at the head of the line that are ready.
    private func writeReady() {
        while !streaming, !closed, let slot = slots.first, let reply = slot.reply {
            slots.removeFirst()
            firstSlot += 1
            needsFlush = true
            switch reply {
            case .buffer(let buffer) where slot.held >= Self.trackedReplyBytes:
                let this = NIOLoopBound(self, eventLoop: context.eventLoop)
                let written = context.eventLoop.makePromise(of: Void.self)
                written.futureResult.whenComplete { _ in this.value.release(slot.held) }
                context.write(wrapOutboundOut(buffer), promise: written)
            case .buffer(let buffer):
                context.write(wrapOutboundOut(buffer), promise: nil)
                release(slot.held)
            case .file(let head, let path, let size):
                streaming = true
                context.write(wrapOutboundOut(head), promise: nil)
                stream(path: path, size: size, held: slot.held)
            }
        }
    }

    /// Streams a BACKUP file behind its header, each chunk written before the next is read,
    /// then deletes it and lets the later replies go.
    private func stream(path: String, size: Int, held: Int) {
        flushIfNeeded()
        let channel = context.channel
        let loop = context.eventLoop
        let this = NIOLoopBound(self, eventLoop: loop)
        let logger = server.logger
        Task {
            defer { try? FileManager.default.removeItem(atPath: path) }
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
                try? await channel.close()
            }
            loop.execute {
                this.value.streaming = false
                this.value.release(held)
                this.value.process()
                this.value.flushIfNeeded()
            }
        }
    }

    /// `bytes` held for a reply are written (or were dropped with the connection).
    private func release(_ bytes: Int) {
        guard !closed, bytes > 0 else { return }
        held -= bytes
        server.heldBytes.add(-bytes)
        // Room again: start what waits, read on. Not from inside this call, which may run in the
        // middle of a flush.
        guard (!queued.isEmpty || readPending), !processScheduled, let context else { return }
        processScheduled = true
        let this = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.execute {
            this.value.processScheduled = false
            guard !this.value.closed else { return }
            this.value.process()
            this.value.flushIfNeeded()
        }
    }

    private func flushIfNeeded() {
        guard needsFlush, !closed else { return }
        needsFlush = false
        context.flush()
    }

    /// Closes once the connection is ending and every started request is answered and written.
    private func closeIfDone() {
        guard ending, slots.isEmpty, !streaming, !closing, !closed else { return }
        closing = true
        needsFlush = false
        let channel = context.channel
        // An empty write completes after every write before it.
        context.writeAndFlush(wrapOutboundOut(ByteBuffer())).whenComplete { _ in channel.close(promise: nil) }
    }

    private static func discard(_ reply: ReplyBody?) {
        if case .file(_, let path, _) = reply { try? FileManager.default.removeItem(atPath: path) }
    }

    static func error(_ error: Error) -> ByteBuffer {
        var buffer = ByteBuffer()
        let brookError = (error as? BrookError) ?? BrookError(.unknownServerError, "\(error)")
        Reply.error(brookError, into: &buffer)
        return buffer
    }
}
