import Dispatch
import Synchronization

/// The broker's time: what it is now and work to run at a deadline. Long-poll fetches end at
/// their deadline through it, so the broker (not each front-end) owns the timer, and tests drive
/// time by hand instead of sleeping.
public protocol DeadlineScheduler: Sendable {
    /// The current instant on the scheduler's clock.
    var now: ContinuousClock.Instant { get }
    /// Calls `work` once at `deadline` (at once if it has passed), unless cancelled first.
    func schedule(at deadline: ContinuousClock.Instant, _ work: @escaping @Sendable () -> Void) -> any ScheduledDeadline
}

/// Work a ``DeadlineScheduler`` will run.
public protocol ScheduledDeadline: Sendable {
    /// Withdraws the work if it has not run; it then never runs.
    func cancel()
}

/// Runs deadlines on a Dispatch timer, on one serial queue of its own.
public struct DispatchDeadlineScheduler: DeadlineScheduler {
    private let queue: DispatchQueue

    public init(label: String = "brook.deadlines") {
        queue = DispatchQueue(label: label)
    }

    public var now: ContinuousClock.Instant { .now }

    public func schedule(at deadline: ContinuousClock.Instant, _ work: @escaping @Sendable () -> Void) -> any ScheduledDeadline {
        let delay = ContinuousClock.now.duration(to: deadline)
        let nanoseconds = max(0, delay.components.seconds * 1_000_000_000 + delay.components.attoseconds / 1_000_000_000)
        let timer = DispatchSource.makeTimerSource(queue: queue)
        let scheduled = DispatchDeadline(timer)
        timer.setEventHandler {
            scheduled.cancel()
            work()
        }
        timer.schedule(deadline: .now() + .nanoseconds(Int(nanoseconds)), leeway: .microseconds(500))
        timer.resume()
        return scheduled
    }
}

/// A Dispatch timer source, cancelled once.
private final class DispatchDeadline: ScheduledDeadline, @unchecked Sendable {
    /// Dispatch sources are thread-safe; the flag makes a second cancel a no-op.
    private let timer: any DispatchSourceTimer
    private let cancelled = Atomic<Bool>(false)

    init(_ timer: any DispatchSourceTimer) {
        self.timer = timer
    }

    func cancel() {
        guard !cancelled.exchange(true, ordering: .acquiringAndReleasing) else { return }
        timer.cancel()
    }
}
