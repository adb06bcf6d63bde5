/// Time as timers see it: a monotonic reading and a sleep until a reading. The group coordinator
/// runs its timers (initial rebalance delay, rebalance timeout, session expiry) on one, so tests
/// drive them with a clock they advance by hand instead of sleeping.
public protocol MonotonicClock: Sendable {
    /// Time since an origin fixed for this clock.
    var now: Duration { get }
    /// Returns once `now` reaches `deadline`.
    /// - Throws: `CancellationError` when the task is cancelled first.
    func sleep(until deadline: Duration) async throws
}

/// Real time, from `ContinuousClock`.
public struct SystemMonotonicClock: MonotonicClock {
    private let origin = ContinuousClock.now

    public init() {}

    public var now: Duration { ContinuousClock.now - origin }

    public func sleep(until deadline: Duration) async throws {
        try await Task.sleep(until: origin + deadline, clock: .continuous)
    }
}
