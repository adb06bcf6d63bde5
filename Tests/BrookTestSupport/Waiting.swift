import Synchronization

/// Runs `body` in a task of its own and returns whether it finished within `limit` (without
/// waiting for it past that), so that work that ignores its cancellation fails a test instead of
/// hanging the run.
public func finishes(within limit: Duration, _ body: @escaping @Sendable () async -> Void) async -> Bool {
    let done = FinishedFlag()
    Task {
        await body()
        done.value.withLock { $0 = true }
    }
    let deadline = ContinuousClock.now + limit
    while !done.value.withLock({ $0 }), ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
    return done.value.withLock { $0 }
}

private final class FinishedFlag: Sendable {
    let value = Mutex(false)
}
