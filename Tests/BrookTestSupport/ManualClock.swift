import BrookBroker
import Synchronization

/// The broker's time, moved only when a test advances it: deadlines (long polls, the group
/// coordinator's timers) fire inside ``advance(by:)``, exactly when the test says, and no test
/// sleeps.
public final class ManualClock: BrokerClock {
    private struct Entry {
        let at: ContinuousClock.Instant
        let work: @Sendable () -> Void
    }

    private struct Storage {
        var now = ContinuousClock.now
        var entries: [Int: Entry] = [:]
        var nextID = 0
    }

    private final class Scheduled: ScheduledDeadline {
        let id: Int
        let clock: ManualClock
        init(id: Int, clock: ManualClock) {
            self.id = id
            self.clock = clock
        }
        func cancel() { _ = clock.storage.withLock { $0.entries.removeValue(forKey: id) } }
    }

    private let storage = Mutex(Storage())

    public init() {}

    public var now: ContinuousClock.Instant { storage.withLock { $0.now } }

    /// Deadlines scheduled and not yet run or cancelled.
    public var pending: Int { storage.withLock { $0.entries.count } }

    public func schedule(at deadline: ContinuousClock.Instant, _ work: @escaping @Sendable () -> Void) -> any ScheduledDeadline {
        let id = storage.withLock { storage -> Int in
            storage.nextID += 1
            storage.entries[storage.nextID] = Entry(at: deadline, work: work)
            return storage.nextID
        }
        let scheduled = Scheduled(id: id, clock: self)
        if deadline <= now { fire() }
        return scheduled
    }

    /// Moves time on and runs, in order, the work whose deadline has come.
    public func advance(by duration: Duration) {
        storage.withLock { $0.now = $0.now.advanced(by: duration) }
        fire()
    }

    private func fire() {
        while let work = storage.withLock({ storage -> (@Sendable () -> Void)? in
            guard let (id, entry) = storage.entries.filter({ $0.value.at <= storage.now }).min(by: { $0.value.at < $1.value.at }) else {
                return nil
            }
            storage.entries[id] = nil
            return entry.work
        }) {
            work()
        }
    }
}
