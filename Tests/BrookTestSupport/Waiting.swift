import Synchronization

/// Waits until `condition` holds, up to `seconds`; returns whether it did. A bound, not a
/// measure: a condition that never comes fails the test instead of hanging it.
public func eventually(_ seconds: Double = 20, _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}

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
