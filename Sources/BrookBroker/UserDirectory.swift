import BrookModel
import Synchronization

/// The users who may authenticate, read from the file when the broker opens: the front-ends look
/// up SCRAM verifiers here without touching SQLite on a connection's event loop.
public final class UserDirectory: Sendable {
    private let users: Mutex<[String: BrookUser]>

    public init(_ users: [BrookUser]) {
        self.users = Mutex(Dictionary(users.map { ($0.name, $0) }, uniquingKeysWith: { _, last in last }))
    }

    /// No user exists: a server that requires authentication cannot be used.
    public var isEmpty: Bool { users.withLock { $0.isEmpty } }

    public var count: Int { users.withLock { $0.count } }

    public func credential(user: String, mechanism: ScramMechanism) -> ScramCredential? {
        users.withLock { $0[user]?.credential(for: mechanism) }
    }

    /// Every user, by name.
    public var all: [BrookUser] { users.withLock { $0.values.sorted { $0.name < $1.name } } }

    func replace(with all: [BrookUser]) {
        let byName = Dictionary(all.map { ($0.name, $0) }, uniquingKeysWith: { _, last in last })
        users.withLock { $0 = byName }
    }

    public func isSuper(_ user: String) -> Bool {
        users.withLock { $0[user]?.isSuper ?? false }
    }
}
