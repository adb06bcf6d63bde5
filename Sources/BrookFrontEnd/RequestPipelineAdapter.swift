import NIOCore
import Synchronization

/// What one wire protocol tells a ``RequestPipelineHandler``: how its requests are admitted and
/// started, and how its replies and farewells are encoded. One adapter serves one connection, on
/// that connection's event loop.
public protocol RequestPipelineAdapter: AnyObject, SendableMetatype {
    /// A decoded inbound message (a request, or a framing event the protocol answers).
    associatedtype Request

    /// The bytes to hold for `request` while it is unanswered, and whether it may run beside
    /// others. Asked once, when the request is read.
    func admission(of request: Request) -> RequestAdmission

    /// Starts `request`. Its reply goes through `responder`, from any thread, at most once; until
    /// then the requests after it wait as its admission says.
    func start(_ request: Request, responder: RequestResponder, context: ChannelHandlerContext)

    /// An error as this protocol's reply, for ``RequestResponder/fail(_:)``.
    func reply(to error: any Error, allocator: ByteBufferAllocator) -> ByteBuffer

    /// Written once the connection is active, before any reply; nil writes nothing.
    func greeting(allocator: ByteBufferAllocator) -> ByteBuffer?

    /// Written before closing an idle connection; nil closes without a word (protocols with no
    /// unsolicited messages).
    func idleFarewell(allocator: ByteBufferAllocator) -> ByteBuffer?

    /// The connection is closed: what it began outside the pipeline may end (group membership).
    func connectionClosed()

    /// The connection failed (reset, write error); it is closed next.
    func connectionFailed(_ error: any Error)
}

extension RequestPipelineAdapter {
    public func greeting(allocator: ByteBufferAllocator) -> ByteBuffer? { nil }
    public func idleFarewell(allocator: ByteBufferAllocator) -> ByteBuffer? { nil }
    public func connectionClosed() {}
    public func connectionFailed(_ error: any Error) {}
}

/// How a request enters the pipeline.
public struct RequestAdmission: Sendable, Hashable {
    /// Whether a request waits for every earlier one to finish (`exclusive`), or may start while
    /// earlier `overlapping` ones still run. Either way its reply is written in request order.
    public enum Concurrency: Sendable, Hashable {
        case exclusive
        case overlapping
    }

    /// Bytes held for it until answered (its data): they count against `maxInFlightBytes`.
    public var heldBytes: Int
    public var concurrency: Concurrency
    /// false: its place in order is fixed only once its responder says ``RequestResponder/ordered()``
    /// (or answers), and every later request waits until then. For work that must reach a queue
    /// in request order but is prepared off the event loop.
    public var orderedOnStart: Bool
    /// Where the request is counted and timed, from being read to being answered; nil when the
    /// listener keeps no metrics.
    public var meter: RequestMeter?
    /// When it was read, if it is metered.
    var readAt: NIODeadline?

    public init(heldBytes: Int = 0, concurrency: Concurrency = .exclusive, orderedOnStart: Bool = true, meter: RequestMeter? = nil) {
        self.heldBytes = heldBytes
        self.concurrency = concurrency
        self.orderedOnStart = orderedOnStart
        self.meter = meter
    }
}

/// A request's answer.
public enum PipelineReply: Sendable {
    /// Bytes written as they are.
    case buffer(ByteBuffer)
    /// A head, then a body written by the stream itself; later replies wait until it is done.
    case stream(ReplyStream)
    /// No reply at all (a produce with acks=0): the next reply may go.
    case none
}

/// A reply too large to hold: its head, then a body the stream writes to the channel itself.
public struct ReplyStream: Sendable {
    public var head: ByteBuffer
    /// Writes the body (each chunk flushed before the next is read). A throw closes the
    /// connection, since the peer would misread what followed a cut reply.
    public var write: @Sendable (any Channel) async throws -> Void
    /// Frees what the stream holds when it is never written (the connection closed first);
    /// also called after `write`, whatever its outcome.
    public var release: @Sendable () -> Void

    public init(
        head: ByteBuffer, write: @escaping @Sendable (any Channel) async throws -> Void,
        release: @escaping @Sendable () -> Void = {}
    ) {
        self.head = head
        self.write = write
        self.release = release
    }
}

/// Why a started request is asked to end early.
public enum RequestEnding: Sendable, Hashable {
    /// Graceful shutdown: answer now with what there is (a long poll returns empty).
    case quiesce
    /// The peer shut down its sending side (or vanished): its replies are still written, but
    /// nothing it sends will follow, so a long poll may answer now instead of holding the
    /// connection open.
    case inputClosed
    /// The connection closed: the reply will be dropped.
    case connectionClosed
    /// The deadline set through ``RequestResponder/setDeadline(in:)`` passed.
    case deadline
}

/// The pipeline's side of a request, for its protocol's adapter. It may be copied and sent to any
/// thread; answering goes back to the connection's event loop. Answering a request twice, or
/// after its connection closed, is ignored.
public struct RequestResponder: Sendable {
    let pipeline: NIOLoopBound<any RequestSlots>
    let answers: OffLoopAnswers
    let slot: UInt64

    public var eventLoop: any EventLoop { pipeline.eventLoop }

    /// Answers the request with `reply`.
    /// - Parameter thenClose: no later request starts; the connection closes once this reply
    ///   and those before it are written (a QUIT, or framing lost).
    public func succeed(_ reply: PipelineReply, thenClose: Bool = false) {
        onLoop { $0.complete(slot, with: .reply(reply), thenClose: thenClose) }
    }

    /// Answers the request with its adapter's encoding of `error`.
    public func fail(_ error: any Error, thenClose: Bool = false) {
        onLoop { $0.complete(slot, with: .error(error), thenClose: thenClose) }
    }

    /// Runs `body` on the connection's event loop later, as `EventLoop.execute` does (never
    /// within this call, even on the loop), with the other answers given off the loop since
    /// their last delivery, so that what it answers is flushed with theirs, once. For work that
    /// answers on the loop after finishing elsewhere (encoding a reply after the writer's commit,
    /// which should not hold up the writer).
    public func execute(_ body: @escaping @Sendable () -> Void) {
        answers.post({ _ in body() }, to: pipeline)
    }

    /// Its place in order is fixed (see ``RequestAdmission/orderedOnStart``): later requests may start.
    public func ordered() {
        onLoop { $0.ordered(slot) }
    }

    /// Calls `end` if the request is still running at a deadline, at quiesce or at close (it may
    /// then be called more than once). Only on the event loop.
    public func onEnd(_ end: @escaping (RequestEnding) -> Void) {
        pipeline.value.setEnd(slot, end)
    }

    /// Ends the request through its `onEnd` hook after `delay` unless answered by then. Only on
    /// the event loop.
    public func setDeadline(in delay: TimeAmount) {
        pipeline.value.setDeadline(slot, in: delay)
    }

    private func onLoop(_ body: @escaping @Sendable (any RequestSlots) -> Void) {
        if pipeline.eventLoop.inEventLoop {
            body(pipeline.value)
        } else {
            answers.post(body, to: pipeline)
        }
    }
}

/// One connection's answers given off its event loop (by the writer after a commit, by a reader):
/// the first schedules one task on the loop, those arriving before it runs join it, and the task
/// hands them all to the pipeline, which flushes once after the last. A commit that answers five
/// of a connection's requests then costs one hop and one socket write, not five of each.
final class OffLoopAnswers: Sendable {
    /// Answers waiting for the task; nil while no task is scheduled.
    private let waiting = Mutex<[@Sendable (any RequestSlots) -> Void]?>(nil)

    func post(_ answer: @escaping @Sendable (any RequestSlots) -> Void, to pipeline: NIOLoopBound<any RequestSlots>) {
        let schedules = waiting.withLock { waiting -> Bool in
            guard waiting != nil else {
                waiting = [answer]
                return true
            }
            waiting!.append(answer)
            return false
        }
        guard schedules else { return }
        pipeline.eventLoop.execute { self.deliver(to: pipeline.value) }
    }

    private func deliver(to slots: any RequestSlots) {
        let answers = waiting.withLock { waiting in
            defer { waiting = nil }
            return waiting ?? []
        }
        slots.answering {
            for answer in answers { answer(slots) }
        }
    }
}

/// An answer as the responder hands it to the pipeline.
enum SlotAnswer {
    case reply(PipelineReply)
    case error(any Error)
}

/// The pipeline seen from a responder, and from its own timers and write completions (through
/// this concrete existential rather than a loop-bound reference of the handler's generic type,
/// whose metadata would be looked up on every use); on the event loop only.
protocol RequestSlots: AnyObject {
    /// Runs answers given off the loop, then flushes once.
    func answering(_ body: () -> Void)
    func complete(_ slot: UInt64, with answer: SlotAnswer, thenClose: Bool)
    func ordered(_ slot: UInt64)
    func setEnd(_ slot: UInt64, _ end: @escaping (RequestEnding) -> Void)
    func setDeadline(_ slot: UInt64, in delay: TimeAmount)
    func deadlinePassed(_ slot: UInt64)
    /// `bytes` held for a reply are written.
    func release(_ bytes: Int)
    /// A streamed reply's body is written; the replies after it may go.
    func streamWritten(held: Int)
    /// Room came back while the pipeline was busy: start and read what waits.
    func processAfterRelease()
    /// The idle timer's deadline passed: close the connection if nothing moved since.
    func idleCheckDue()
}
