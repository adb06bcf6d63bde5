import BrookModel
import Foundation

/// Threads that each own one resource (a SQLite connection) and run submitted jobs with it.
/// SQLite calls block, so they run here, never on an event loop or the cooperative pool.
final class ThreadPool<Resource>: @unchecked Sendable {
    private let condition = NSCondition()
    // Guarded by `condition`.
    private var jobs: [@Sendable (Resource) -> Void] = []
    private var head = 0
    private var stopping = false
    private var running = 0

    /// Opens `count` resources on the caller's thread (so opening errors surface here) and starts
    /// one thread per resource.
    init(name: String, count: Int, make: () throws -> Resource) throws {
        let resources = try (0..<max(1, count)).map { _ in try make() }
        running = resources.count
        for (index, resource) in resources.enumerated() {
            let transfer = UnsafeTransfer(resource)
            let thread = Thread { [self] in self.loop(transfer.value) }
            thread.name = "\(name)-\(index)"
            thread.start()
        }
    }

    /// Runs `body` on a pool thread with its resource.
    func run<T: Sendable>(_ body: @escaping @Sendable (Resource) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let accepted = submit { resource in
                continuation.resume(with: Result { try body(resource) })
            }
            if !accepted {
                continuation.resume(throwing: BrookError(.brokerNotAvailable, "the broker is closed"))
            }
        }
    }

    /// Queues a job; `false` when the pool is shutting down.
    func submit(_ job: @escaping @Sendable (Resource) -> Void) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if stopping { return false }
        jobs.append(job)
        condition.signal()
        return true
    }

    /// Finishes queued jobs, stops the threads and waits for them to release their resources.
    func shutdown() {
        condition.lock()
        stopping = true
        condition.broadcast()
        while running > 0 { condition.wait() }
        condition.unlock()
    }

    private func loop(_ resource: Resource) {
        while true {
            condition.lock()
            while head == jobs.count && !stopping { condition.wait() }
            if head == jobs.count {
                running -= 1
                condition.broadcast()
                condition.unlock()
                return
            }
            let job = jobs[head]
            head += 1
            if head == jobs.count {
                jobs.removeAll(keepingCapacity: true)
                head = 0
            }
            condition.unlock()
            job(resource)
        }
    }
}

/// Hands a value that is not `Sendable` to exactly one other thread, which then owns it.
struct UnsafeTransfer<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
