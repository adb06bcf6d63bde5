import Synchronization

/// A count shared by a server's connections, for observation (bytes held, requests read).
public final class SharedCount: Sendable {
    private let atomic = Atomic<Int>(0)

    public init() {}

    public var value: Int { atomic.load(ordering: .relaxed) }

    public func add(_ amount: Int) { atomic.add(amount, ordering: .relaxed) }
}
