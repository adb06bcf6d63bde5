import Synchronization

/// What `/readyz` waits for: named conditions that start pending (each with the reason it gives
/// while pending) and turn ready once. `brook serve` expects the database and every listener.
public final class Readiness: Sendable {
    private let pending = Mutex<[(name: String, reason: String)]>([])

    public init() {}

    /// Adds a condition that is not met until ``ready(_:)`` names it.
    /// - Parameters:
    ///   - name: what is awaited ("database", "line listener").
    ///   - reason: what `/readyz` answers while it is pending.
    public func expect(_ name: String, reason: String) {
        pending.withLock { conditions in
            if !conditions.contains(where: { $0.name == name }) { conditions.append((name, reason)) }
        }
    }

    /// Marks a condition met; it stays met.
    public func ready(_ name: String) {
        pending.withLock { conditions in conditions.removeAll { $0.name == name } }
    }

    /// Adds a condition met once `until` returns (a listener's bound address, say). A failure
    /// leaves it pending: the server is then not ready.
    public func expect(_ name: String, reason: String, until: @escaping @Sendable () async throws -> Void) {
        expect(name, reason: reason)
        Task {
            do {
                try await until()
                ready(name)
            } catch {}
        }
    }

    /// The reasons of the conditions still pending, in the order they were expected.
    public var reasons: [String] { pending.withLock { $0.map(\.reason) } }
}
