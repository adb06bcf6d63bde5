import Foundation

/// The broker's time: what it is now, and work to run at a deadline. Long-poll fetches, POLL
/// deadlines, the group coordinator's timers (initial rebalance delay, rebalance timeout, session
/// expiry) and auto-commit intervals all read it, so the broker (not each front-end or task) owns
/// its timers, and tests drive all of them with one clock they advance by hand instead of sleeping.
public protocol BrokerClock: Sendable {
    /// The current instant on this clock.
    var now: ContinuousClock.Instant { get }
    /// Calls `work` once at `deadline` (at once if it has passed), unless cancelled first.
    func schedule(at deadline: ContinuousClock.Instant, _ work: @escaping @Sendable () -> Void) -> any ScheduledDeadline
}

/// Work a ``BrokerClock`` will run.
public protocol ScheduledDeadline: Sendable {
    /// Withdraws the work if it has not run; it then never runs.
    func cancel()
}

/// Real time, from `ContinuousClock`. Runs deadlines on one thread of its own, which sleeps until
/// the earliest. Scheduling a later deadline than the earliest (the usual case: long polls of one
/// max wait, one after another) and cancelling wake no thread, so a long poll costs its fetch one
/// small allocation.
public final class SystemClock: BrokerClock, @unchecked Sendable {
    /// The process's clock, the brokers' default; its thread starts with the first deadline.
    public static let shared = SystemClock()

    final class Entry: ScheduledDeadline, @unchecked Sendable {
        let at: ContinuousClock.Instant
        /// nil once run or cancelled; guarded by the clock's lock.
        var work: (@Sendable () -> Void)?
        unowned let clock: SystemClock

        init(at: ContinuousClock.Instant, work: @escaping @Sendable () -> Void, clock: SystemClock) {
            self.at = at
            self.work = work
            self.clock = clock
        }

        func cancel() { clock.cancel(self) }
    }

    // Guarded by `condition`.
    private let condition = NSCondition()
    /// A binary min-heap by deadline; cancelled entries stay until popped or compacted.
    private var heap: [Entry] = []
    private var cancelledInHeap = 0
    private var started = false

    public init() {}

    public var now: ContinuousClock.Instant { .now }

    public func schedule(at deadline: ContinuousClock.Instant, _ work: @escaping @Sendable () -> Void) -> any ScheduledDeadline {
        let entry = Entry(at: deadline, work: work, clock: self)
        condition.lock()
        defer { condition.unlock() }
        if !started {
            started = true
            let thread = Thread { [self] in run() }
            thread.name = "brook-deadlines"
            thread.start()
        }
        heap.append(entry)
        siftUp(heap.count - 1)
        // Only a new earliest deadline changes how long the thread sleeps.
        if heap[0] === entry { condition.signal() }
        return entry
    }

    private func cancel(_ entry: Entry) {
        condition.lock()
        defer { condition.unlock() }
        guard entry.work != nil else { return }
        entry.work = nil
        cancelledInHeap += 1
        // Drop cancelled entries once they are most of the heap, so it stays as large as the
        // deadlines pending, not as all the deadlines of the last max wait.
        if cancelledInHeap > 64 && cancelledInHeap * 2 > heap.count {
            heap.removeAll { $0.work == nil }
            cancelledInHeap = 0
            for index in stride(from: heap.count / 2 - 1, through: 0, by: -1) { siftDown(index) }
        }
    }

    private func run() {
        condition.lock()
        while true {
            guard let first = heap.first else {
                condition.wait()
                continue
            }
            guard let work = first.work else {
                popFirst()
                cancelledInHeap -= 1
                continue
            }
            let wait = ContinuousClock.now.duration(to: first.at)
            if wait > .zero {
                let seconds = Double(wait.components.seconds) + Double(wait.components.attoseconds) / 1e18
                _ = condition.wait(until: Date(timeIntervalSinceNow: seconds))
                continue
            }
            first.work = nil
            popFirst()
            condition.unlock()
            work()
            condition.lock()
        }
    }

    private func popFirst() {
        heap.swapAt(0, heap.count - 1)
        heap.removeLast()
        if !heap.isEmpty { siftDown(0) }
    }

    private func siftUp(_ index: Int) {
        var child = index
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].at < heap[parent].at else { return }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private func siftDown(_ index: Int) {
        var parent = index
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < heap.count && heap[left].at < heap[smallest].at { smallest = left }
            if right < heap.count && heap[right].at < heap[smallest].at { smallest = right }
            guard smallest != parent else { return }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
