import BrookModel
import BrookStore

/// Users and ACLs changed through a running broker: written by the writer, then in force for
/// every connection's next check. The front-ends check first that the caller may.
extension Broker {
    /// Adds ACL rules (existing ones are kept as they are).
    public func createAcls(_ bindings: [AclBinding]) async throws {
        for binding in bindings { try binding.validate() }
        try await changeAcls { log in try log.addAcls(bindings) }
    }

    /// Deletes the rules each filter matches; returns them per filter.
    public func deleteAcls(matching filters: [AclFilter]) async throws -> [[AclBinding]] {
        try await changeAcls { log in
            let (deleted, remaining) = try log.deleteAcls(matching: filters)
            return (remaining, deleted)
        }
    }

    /// The rules a filter matches.
    public func acls(matching filter: AclFilter = .all) -> [AclBinding] {
        access.bindings.filter { filter.matches($0) }
    }

    private func changeAcls(_ change: @escaping @Sendable (LogWriter) throws -> [AclBinding]) async throws {
        try await changeAcls { log in (try change(log), ()) }
    }

    private func changeAcls<T: Sendable>(_ change: @escaping @Sendable (LogWriter) throws -> ([AclBinding], T)) async throws -> T {
        let access = self.access
        return try await performAdmin { log in
            let (all, result) = try change(log)
            access.replace(all)
            return result
        }
    }

    /// Adds a user with its verifiers.
    public func addUser(_ user: BrookUser) async throws {
        try await changeUsers { log in try log.addUser(user) }
    }

    /// Replaces a user's verifiers (a new password).
    public func replaceCredentials(user: String, with credentials: [ScramCredential]) async throws {
        try await changeUsers { log in try log.replaceCredentials(user: user, with: credentials) }
    }

    /// Makes a user a super user, or takes that away.
    public func setSuper(user: String, _ isSuper: Bool) async throws {
        try await changeUsers { log in try log.setSuper(user: user, isSuper) }
    }

    /// Deletes a user. Its open connections stay authenticated until they close, as in Kafka.
    public func deleteUser(_ name: String) async throws {
        try await changeUsers { log in try log.deleteUser(name) }
    }

    private func changeUsers(_ change: @escaping @Sendable (LogWriter) throws -> Void) async throws {
        let users = self.users
        try await performAdmin { log in
            try change(log)
            users.replace(with: try log.users())
        }
    }
}
