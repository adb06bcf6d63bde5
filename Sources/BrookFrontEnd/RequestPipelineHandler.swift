import NIOCore

/// How much one connection may have unanswered before it stops being read.
public struct RequestPipelineLimits: Sendable, Hashable {
    /// Requests started and not yet answered and written.
    public var maxInFlight: Int
    /// Bytes held in unanswered requests' data and unwritten replies (one request always proceeds).
    public var maxInFlightBytes: Int

    public init(maxInFlight: Int, maxInFlightBytes: Int) {
        self.maxInFlight = maxInFlight
        self.maxInFlightBytes = maxInFlightBytes
    }
}

// The per-request types live outside the generic handler, so that their buffers are concrete
// types, specialised when this module is compiled, instead of generic metadata looked up at run
// time on every request.

/// The connection's legal states; each move is a mutating method that refuses an illegal one.
private enum PipelineConnectionState {
    /// Reading and starting requests.
    case active
    /// The peer closed its write side: start and answer what was read, then close.
    case inputClosed
    /// The protocol ended the connection (a farewell request, framing lost): start nothing
    /// more, close after the replies already started.
    case ending
    /// Graceful shutdown: as `ending`, and started requests were asked to end.
    case quiescing
    /// Close issued; nothing more is written.
    case closing
    case closed

    /// New requests are read and queued.
    var readsRequests: Bool { self == .active }
    /// Requests already read may start.
    var startsQueued: Bool { self == .active || self == .inputClosed }
    /// Closes once every started request is answered and written.
    var closesWhenAnswered: Bool { self == .inputClosed || self == .ending || self == .quiescing }
    var isOpen: Bool { self != .closing && self != .closed }

    mutating func peerClosedInput() {
        switch self {
        case .active: self = .inputClosed
        case .ending, .quiescing, .closing: break
        case .inputClosed, .closed: preconditionFailure("input closed in state \(self)")
        }
    }

    mutating func endRequested() {
        switch self {
        case .active, .inputClosed: self = .ending
        case .ending, .quiescing, .closing: break
        case .closed: preconditionFailure("end requested in state \(self)")
        }
    }

    /// Returns whether started requests are to be asked to end.
    mutating func quiesce() -> Bool {
        switch self {
        case .active, .inputClosed, .ending:
            self = .quiescing
            return true
        case .closing, .closed:
            return false  // already on the way out
        case .quiescing:
            preconditionFailure("quiesce in state \(self)")
        }
    }

    mutating func beginClosing() {
        switch self {
        case .active, .inputClosed, .ending, .quiescing: self = .closing
        case .closing, .closed: preconditionFailure("close in state \(self)")
        }
    }

    mutating func closed() {
        switch self {
        case .active, .inputClosed, .ending, .quiescing, .closing: self = .closed
        case .closed: preconditionFailure("closed twice")
        }
    }
}

/// A request read but not started, as a closure over the adapter's request: the queue is then a
/// concrete type, not one built from the adapter's generic request type on every access.
private struct QueuedRequest {
    var admission: RequestAdmission
    var start: (RequestResponder, ChannelHandlerContext) -> Void
}

/// A started request, in request order, until its reply is written.
private struct PipelineSlot {
    var reply: PipelineReply?
    /// Bytes held for it: its data while unanswered, then its reply until written.
    var held: Int
    /// How it runs, until answered.
    var running: RequestAdmission.Concurrency?
    var end: ((RequestEnding) -> Void)?
    var deadline: Scheduled<Void>?
    /// Where it is counted when answered, and when it was read.
    var meter: RequestMeter?
    var readAt: NIODeadline?
}

/// One connection of a request/reply protocol, driven on its channel's event loop, whatever the
/// protocol: its ``RequestPipelineAdapter`` says how requests are admitted, started and encoded.
///
/// - Replies are written in request order, one flush per burst, however the requests complete:
///   a burst is what one read brought, or the answers given off the loop since the last were
///   delivered.
/// - Requests start in order: an `exclusive` one once every earlier request is answered, an
///   `overlapping` one while only overlapping ones run.
/// - What a connection holds is bounded: past `maxInFlight` unanswered requests or
///   `maxInFlightBytes` held, or while the socket does not take what is written, the connection
///   is not read (the kernel's buffers then push back on the peer) instead of queueing without bound.
/// - A peer that half-closes (shutdown of its write side; the channel must allow remote
///   half-closure) still gets every reply to what it sent, then the connection closes; its
///   started requests are told (`inputClosed`), so that long polls need not hold it open.
/// - On `ChannelShouldQuiesceEvent` (graceful shutdown) it reads no more, asks started requests
///   to end (long polls answer now), and closes after the last reply.
/// - With no traffic either way for `idleTimeout` (nothing read, nothing flushed, no streamed
///   reply under way) it says the adapter's farewell and closes; so it does on
///   `IdleStateHandler.IdleStateEvent`. The handler keeps this timer itself: NIO's
///   `IdleStateHandler` made a promise and a callback for every write, on every request.
/// - On close, started requests are told to end and their late answers are dropped.
public final class RequestPipelineHandler<Adapter: RequestPipelineAdapter>: ChannelDuplexHandler, RequestSlots {
    public typealias InboundIn = Adapter.Request
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    /// Replies at least this large count as held until the socket has taken them; smaller ones
    /// are released once queued for writing, where the channel's writability bounds them.
    static var trackedReplyBytes: Int { 16 * 1_024 }

    private let adapter: Adapter
    private let limits: RequestPipelineLimits
    private let heldBytes: SharedCount
    private var context: ChannelHandlerContext!
    private var responders: NIOLoopBound<any RequestSlots>!
    private let answers = OffLoopAnswers()
    /// Answers given off the loop are being delivered: their flush waits for the last of them.
    private var deliveringAnswers = false

    private var state = PipelineConnectionState.active
    /// Read but not started: waiting for an earlier request to finish, or for room.
    // Small to start with (most connections have a request or two in flight; a pipelining one
    // grows them once): thousands of idle connections each hold both.
    private var queued = CircularBuffer<QueuedRequest>(initialCapacity: 4)
    private var slots = CircularBuffer<PipelineSlot>(initialCapacity: 4)
    /// The sequence number of `slots.first`; a slot's number never changes.
    private var firstSlot: UInt64 = 0
    private var runningExclusive = 0
    private var runningOverlapping = 0
    /// A started request whose place in order is not fixed yet; every later one waits for it.
    private var awaitingOrder: UInt64?
    private var held = 0
    /// A streamed reply is being written; the replies after it wait.
    private var streaming = false
    /// The channel asked to read while there was no room.
    private var readPending = false
    private var needsFlush = false
    /// `process()` is running (an answer given inside `start` must not recurse into it), and
    /// must run its step again.
    private var processing = false
    private var processAgain = false
    private var processScheduled = false
    /// No traffic either way for this long closes the connection; nil never does.
    private let idleTimeout: TimeAmount?
    /// When bytes were last read or replies last flushed, by the event loop's clock.
    private var lastTraffic = NIODeadline.uptimeNanoseconds(0)
    private var idleCheck: Scheduled<Void>?

    /// - Parameters:
    ///   - heldBytes: where the connection adds what it holds, shared by a server's connections.
    ///   - idleTimeout: no traffic either way for this long closes the connection, after the
    ///     adapter's farewell; nil keeps idle connections open.
    public init(
        adapter: Adapter, limits: RequestPipelineLimits, heldBytes: SharedCount = SharedCount(), idleTimeout: TimeAmount? = nil
    ) {
        self.adapter = adapter
        self.limits = limits
        self.heldBytes = heldBytes
        self.idleTimeout = idleTimeout
    }

    // MARK: Channel events

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.responders = NIOLoopBound(self, eventLoop: context.eventLoop)
        if context.channel.isActive { startIdleCheck() }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        stopIdleCheck()
        self.context = nil
    }

    public func channelActive(context: ChannelHandlerContext) {
        if let greeting = adapter.greeting(allocator: context.channel.allocator) {
            context.writeAndFlush(wrapOutboundOut(greeting), promise: nil)
        }
        startIdleCheck()
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        stopIdleCheck()
        state.closed()
        queued.removeAll()
        let dropped = slots
        slots.removeAll()
        firstSlot += UInt64(dropped.count)
        runningExclusive = 0
        runningOverlapping = 0
        awaitingOrder = nil
        heldBytes.add(-held)
        held = 0
        for slot in dropped {
            slot.deadline?.cancel()
            Self.discard(slot.reply)
        }
        // Requests still running are told; what they answer later is dropped.
        for slot in dropped where slot.running != nil { slot.end?(.connectionClosed) }
        adapter.connectionClosed()
        context.fireChannelInactive()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard state.readsRequests else { return }
        let request = unwrapInboundIn(data)
        var admission = adapter.admission(of: request)
        if admission.meter != nil { admission.readAt = .now() }
        let adapter = self.adapter
        // The common case, nothing waiting before it and room to run: started at once, without
        // passing through the queue.
        if !processing, queued.isEmpty, state.startsQueued, hasRoom, mayStart(admission) {
            start(admission) { adapter.start(request, responder: $0, context: $1) }
        } else {
            queued.append(QueuedRequest(admission: admission) { adapter.start(request, responder: $0, context: $1) })
        }
        process()
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        if idleTimeout != nil { lastTraffic = context.eventLoop.now }
        flushIfNeeded()
        context.fireChannelReadComplete()
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        process()
        flushIfNeeded()
        context.fireChannelWritabilityChanged()
    }

    public func read(context: ChannelHandlerContext) {
        if mayRead {
            context.read()
        } else {
            readPending = true
        }
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case is ChannelShouldQuiesceEvent:
            guard state.quiesce() else { return }
            queued.removeAll()
            endRunning(.quiesce)
            process()
            flushIfNeeded()
        case ChannelEvent.inputClosed:
            guard state != .closed else { return }
            state.peerClosedInput()
            endRunning(.inputClosed)
            process()
            flushIfNeeded()
            context.fireUserInboundEventTriggered(event)
        case is IdleStateHandler.IdleStateEvent:
            closeIdle()
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        adapter.connectionFailed(error)
        if state.isOpen { state.beginClosing() }
        context.close(promise: nil)
    }

    // MARK: Idle connections

    private func startIdleCheck() {
        guard let idleTimeout, idleCheck == nil else { return }
        lastTraffic = context.eventLoop.now
        scheduleIdleCheck(at: lastTraffic + idleTimeout)
    }

    private func scheduleIdleCheck(at deadline: NIODeadline) {
        let this = responders!
        idleCheck = context.eventLoop.scheduleTask(deadline: deadline) { this.value.idleCheckDue() }
    }

    private func stopIdleCheck() {
        idleCheck?.cancel()
        idleCheck = nil
    }

    func idleCheckDue() {
        idleCheck = nil
        guard let idleTimeout, state.isOpen, context != nil else { return }
        let now = context.eventLoop.now
        if streaming {
            // A streamed reply writes straight to the channel: traffic while it lasts.
            lastTraffic = now
        }
        if now - lastTraffic < idleTimeout {
            scheduleIdleCheck(at: lastTraffic + idleTimeout)
        } else {
            closeIdle()
        }
    }

    /// Says the adapter's farewell and closes.
    private func closeIdle() {
        guard state.isOpen else { return }
        stopIdleCheck()
        state.beginClosing()
        needsFlush = false
        guard let farewell = adapter.idleFarewell(allocator: context.channel.allocator) else {
            return context.close(promise: nil)
        }
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(farewell)).whenComplete { _ in channel.close(promise: nil) }
    }

    // MARK: Requests

    private var hasRoom: Bool { slots.count < limits.maxInFlight && held < limits.maxInFlightBytes }

    private var mayRead: Bool { state.readsRequests && queued.isEmpty && hasRoom && context.channel.isWritable }

    private func mayStart(_ admission: RequestAdmission) -> Bool {
        guard awaitingOrder == nil else { return false }
        switch admission.concurrency {
        case .exclusive: return runningExclusive == 0 && runningOverlapping == 0
        case .overlapping: return runningExclusive == 0
        }
    }

    /// Starts what may start, writes what is ready, reads on when there is room, and closes once
    /// an ending connection is done. Answers given while it runs make it run its step again.
    private func process() {
        guard !processing else {
            processAgain = true
            return
        }
        processing = true
        defer { processing = false }
        repeat {
            processAgain = false
            step()
        } while processAgain
    }

    private func step() {
        guard state.isOpen else { return }
        while state.startsQueued, let next = queued.first, hasRoom, mayStart(next.admission) {
            queued.removeFirst()
            start(next.admission, next.start)
        }
        if !state.startsQueued { queued.removeAll() }
        writeReady()
        guard state.isOpen else { return }
        if state.closesWhenAnswered {
            if slots.isEmpty && queued.isEmpty && !streaming { beginClosing() }
        } else if readPending && mayRead {
            readPending = false
            context.read()
        }
    }

    private func start(_ admission: RequestAdmission, _ begin: (RequestResponder, ChannelHandlerContext) -> Void) {
        slots.append(PipelineSlot(reply: nil, held: 0, running: admission.concurrency, meter: admission.meter, readAt: admission.readAt))
        let slot = firstSlot + UInt64(slots.count - 1)
        hold(admission.heldBytes, at: slots.count - 1)
        switch admission.concurrency {
        case .exclusive: runningExclusive += 1
        case .overlapping: runningOverlapping += 1
        }
        if !admission.orderedOnStart { awaitingOrder = slot }
        begin(RequestResponder(pipeline: responders, answers: answers, slot: slot), context)
        // Started after the peer's half-close (it was read before): told at once, as those
        // running then were.
        if state == .inputClosed, let index = runningIndex(slot), let end = slots[offset: index].end { end(.inputClosed) }
    }

    /// The index in `slots` of a request still running.
    private func runningIndex(_ slot: UInt64) -> Int? {
        guard state != .closed, slot >= firstSlot, slot - firstSlot < UInt64(slots.count) else { return nil }
        let index = Int(slot - firstSlot)
        return slots[offset: index].running == nil ? nil : index
    }

    private func hold(_ bytes: Int, at index: Int) {
        slots[offset: index].held += bytes
        held += bytes
        heldBytes.add(bytes)
    }

    private func endRunning(_ ending: RequestEnding) {
        // Hooks may answer at once, which changes `slots`: collect them first.
        let hooks = slots.compactMap { $0.running == nil ? nil : $0.end }
        for end in hooks { end(ending) }
    }

    // MARK: RequestSlots

    func answering(_ body: () -> Void) {
        deliveringAnswers = true
        body()
        deliveringAnswers = false
        flushIfNeeded()
    }

    func complete(_ slot: UInt64, with answer: SlotAnswer, thenClose: Bool) {
        let reply: PipelineReply
        let failed: Bool
        switch answer {
        case .reply(let given):
            reply = given
            failed = false
        case .error(let error):
            guard runningIndex(slot) != nil else { return }
            reply = .buffer(adapter.reply(to: error, allocator: context.channel.allocator))
            failed = true
        }
        guard let index = runningIndex(slot) else { return Self.discard(reply) }
        if let meter = slots[offset: index].meter, let read = slots[offset: index].readAt {
            meter.record(since: read, failed: failed)
        }
        switch slots[offset: index].running {
        case .exclusive: runningExclusive -= 1
        case .overlapping: runningOverlapping -= 1
        case nil: break
        }
        slots[offset: index].running = nil
        slots[offset: index].end = nil
        slots[offset: index].deadline?.cancel()
        slots[offset: index].deadline = nil
        if awaitingOrder == slot { awaitingOrder = nil }
        if case .buffer(let buffer) = reply { hold(buffer.readableBytes, at: index) }
        slots[offset: index].reply = reply
        if thenClose { state.endRequested() }
        if processing {
            processAgain = true
        } else {
            process()
            if !deliveringAnswers { flushIfNeeded() }
        }
    }

    func ordered(_ slot: UInt64) {
        guard awaitingOrder == slot, state != .closed else { return }
        awaitingOrder = nil
        process()
        if !deliveringAnswers { flushIfNeeded() }
    }

    func setEnd(_ slot: UInt64, _ end: @escaping (RequestEnding) -> Void) {
        guard let index = runningIndex(slot) else { return }
        slots[offset: index].end = end
    }

    func setDeadline(_ slot: UInt64, in delay: TimeAmount) {
        guard let index = runningIndex(slot) else { return }
        let this = responders!
        slots[offset: index].deadline?.cancel()
        slots[offset: index].deadline = context.eventLoop.scheduleTask(in: delay) { this.value.deadlinePassed(slot) }
    }

    func deadlinePassed(_ slot: UInt64) {
        guard let index = runningIndex(slot) else { return }
        slots[offset: index].deadline = nil
        slots[offset: index].end?(.deadline)
    }

    // MARK: Replies

    /// Writes the replies at the head of the line that are ready.
    private func writeReady() {
        while !streaming, state.isOpen, let slot = slots.first, let reply = slot.reply {
            slots.removeFirst()
            firstSlot += 1
            switch reply {
            case .none:
                release(slot.held)
            case .buffer(let buffer) where slot.held >= Self.trackedReplyBytes:
                let this = responders!
                let bytes = slot.held
                let written = context.eventLoop.makePromise(of: Void.self)
                written.futureResult.whenComplete { _ in this.value.release(bytes) }
                context.write(wrapOutboundOut(buffer), promise: written)
                needsFlush = true
            case .buffer(let buffer):
                context.write(wrapOutboundOut(buffer), promise: nil)
                needsFlush = true
                release(slot.held)
            case .stream(let stream):
                streaming = true
                context.write(wrapOutboundOut(stream.head), promise: nil)
                needsFlush = true
                flushIfNeeded()
                write(stream, held: slot.held)
            }
        }
    }

    /// Lets a stream write its body, then the later replies go.
    private func write(_ stream: ReplyStream, held: Int) {
        let channel = context.channel
        let this = responders!
        Task {
            do {
                try await stream.write(channel)
            } catch {
                try? await channel.close()
            }
            stream.release()
            this.eventLoop.execute { this.value.streamWritten(held: held) }
        }
    }

    func streamWritten(held: Int) {
        streaming = false
        release(held)
        process()
        flushIfNeeded()
    }

    /// `bytes` held for a reply are written (or were dropped with the connection).
    func release(_ bytes: Int) {
        guard state != .closed, bytes > 0 else { return }
        held -= bytes
        heldBytes.add(-bytes)
        guard !queued.isEmpty || readPending else { return }
        if processing {
            processAgain = true
            return
        }
        // Room again: start what waits, read on. Not from inside this call, which may run in the
        // middle of a flush.
        guard !processScheduled, let context else { return }
        processScheduled = true
        let this = responders!
        context.eventLoop.execute { this.value.processAfterRelease() }
    }

    func processAfterRelease() {
        processScheduled = false
        guard state != .closed else { return }
        process()
        flushIfNeeded()
    }

    private func flushIfNeeded() {
        guard needsFlush, state.isOpen else { return }
        needsFlush = false
        if idleTimeout != nil { lastTraffic = context.eventLoop.now }
        context.flush()
    }

    /// Closes once every reply before is written (an empty write completes after them).
    private func beginClosing() {
        state.beginClosing()
        needsFlush = false
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(ByteBuffer())).whenComplete { _ in channel.close(promise: nil) }
    }

    private static func discard(_ reply: PipelineReply?) {
        if case .stream(let stream) = reply { stream.release() }
    }
}
