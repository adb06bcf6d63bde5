import BrookModel
import Synchronization

/// Who may do what: the ACL rules and super users in force, read from the file when the broker
/// opens and replaced whenever they change through it. The front-ends ask before each operation;
/// the broker's own API (for a program that embeds it) checks nothing.
public final class AccessControl: Sendable {
    /// Whether rules are enforced: only when connections have identities (`brook serve --auth`, or
    /// client certificates). Otherwise every connection may do everything, as before users existed.
    public let isEnforced: Bool
    /// Super users named on the command line (`--super-user`), beside those the file marks.
    public let configuredSuperUsers: Set<String>
    private let users: UserDirectory
    private let rules: Mutex<AclRules>

    init(isEnforced: Bool, superUsers: Set<String>, users: UserDirectory, rules: [AclBinding]) {
        self.isEnforced = isEnforced
        configuredSuperUsers = superUsers
        self.users = users
        self.rules = Mutex(AclRules(rules))
    }

    /// The rules in force, sorted.
    public var bindings: [AclBinding] { rules.withLock { $0.bindings } }

    func replace(_ bindings: [AclBinding]) {
        let new = AclRules(bindings)
        rules.withLock { $0 = new }
    }

    public func isSuper(_ user: String?) -> Bool {
        guard let user else { return false }
        return configuredSuperUsers.contains(user) || users.isSuper(user)
    }

    /// Whether `user` (nil: not authenticated, Kafka's `ANONYMOUS`) connecting from `host` may
    /// perform `operation` on `resource`.
    public func allows(_ user: String?, host: String, _ operation: AclOperation, _ resource: AclResource) -> Bool {
        guard isEnforced else { return true }
        if isSuper(user) { return true }
        let current = rules.withLock { $0 }
        return current.allows(AccessControl.principal(user), host: host, operation, resource)
    }

    /// Whether `user` may perform `operation` on at least one resource of `type`.
    public func allowsSome(_ user: String?, host: String, _ operation: AclOperation, on type: AclResourceType) -> Bool {
        guard isEnforced else { return true }
        if isSuper(user) { return true }
        let current = rules.withLock { $0 }
        return current.allowsSome(AccessControl.principal(user), host: host, operation, on: type)
    }

    /// Kafka's principal for a user: `User:NAME`, or `User:ANONYMOUS` before authentication.
    public static func principal(_ user: String?) -> String { "User:" + (user ?? "ANONYMOUS") }
}

/// One connection's identity, for the checks each request makes.
public struct Access: Sendable {
    public let control: AccessControl
    /// The authenticated user; nil before authentication (or on a server without it).
    public var user: String?
    /// The client's IP address, which a rule may name.
    public var host: String

    public init(control: AccessControl, user: String? = nil, host: String) {
        self.control = control
        self.user = user
        self.host = host
    }

    public func allows(_ operation: AclOperation, _ resource: AclResource) -> Bool {
        control.allows(user, host: host, operation, resource)
    }

    public var isSuper: Bool { !control.isEnforced || control.isSuper(user) }

    /// Throws `NOT_AUTHORIZED` naming the user, the operation and the resource unless allowed.
    public func check(_ operation: AclOperation, _ resource: AclResource) throws(BrookError) {
        guard allows(operation, resource) else { throw refusal(operation, resource) }
    }

    /// Throws `NOT_AUTHORIZED` unless the user is a super user.
    public func checkSuper(_ action: String) throws(BrookError) {
        guard isSuper else {
            throw BrookError(.notAuthorized, "user '\(user ?? "ANONYMOUS")' may not \(action): only a super user may (brook users add NAME --super, or brook serve --super-user NAME)")
        }
    }

    public func refusal(_ operation: AclOperation, _ resource: AclResource) -> BrookError {
        let who = user ?? "ANONYMOUS"
        let rule: String
        switch resource.type {
        case .cluster: rule = "--cluster"
        case .topic: rule = "--topic \(resource.name)"
        case .group: rule = "--group \(resource.name)"
        }
        return BrookError(
            .notAuthorized,
            "user '\(who)' may not \(operation.rawValue) \(resource): no ACL allows it, or one denies it (a super user can allow it: brook acls add --allow User:\(who) --operation \(operation.rawValue.lowercased()) \(rule))")
    }
}

extension Access {
    /// The host part of a peer address as the front-ends print it (`127.0.0.1:5000`, `::1:5000`, `[::1]:5000`).
    public static func host(ofPeer peer: String) -> String {
        if peer.hasPrefix("["), let end = peer.firstIndex(of: "]") {
            return String(peer[peer.index(after: peer.startIndex)..<end])
        }
        if let colon = peer.lastIndex(of: ":") {
            return String(peer[..<colon])
        }
        return peer
    }
}
