import BrookModel

/// ACL rules, in the file beside the users so that a backup carries them. Each change is an
/// admin transaction of its own on the writer's connection.
extension LogWriter {
    /// Every rule, sorted.
    public func acls() throws(BrookError) -> [AclBinding] {
        do {
            var bindings: [AclBinding] = []
            let rows = try db.prepare(
                "SELECT principal, host, resource_type, pattern_type, resource_name, operation, permission FROM __brook_acls")
            while try rows.step() {
                // A row this build cannot read (edited by hand, or a newer Brook's) grants nothing.
                guard let principal = rows.string(0), let host = rows.string(1),
                    let type = AclResourceType(rawValue: rows.string(2) ?? ""),
                    let pattern = AclPatternType(rawValue: rows.string(3) ?? ""),
                    let name = rows.string(4),
                    let operation = AclOperation(rawValue: rows.string(5) ?? ""),
                    let permission = AclPermission(rawValue: rows.string(6) ?? "")
                else { continue }
                bindings.append(AclBinding(
                    principal: principal, host: host, resourceType: type, patternType: pattern, resourceName: name,
                    operation: operation, permission: permission))
            }
            return bindings.sorted()
        } catch {
            throw BrookError(error, while: "reading the ACLs of '\(path)'")
        }
    }

    /// Adds rules; one that exists already is left as it is, as Kafka's CreateAcls does.
    /// - Returns: every rule after the change.
    @discardableResult
    public func addAcls(_ bindings: [AclBinding], now: Int64 = WallClock.nowMillis()) throws(BrookError) -> [AclBinding] {
        for binding in bindings { try binding.validate() }
        _ = try adminTransaction("adding \(bindings.count) ACL\(bindings.count == 1 ? "" : "s")", {
            let insert = try db.prepare("""
                INSERT OR IGNORE INTO __brook_acls
                    (principal, host, resource_type, pattern_type, resource_name, operation, permission, created_ms)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """)
            for binding in bindings {
                insert.reset()
                try Self.bind(binding, to: insert)
                try insert.bind(now, at: 8)
                try insert.run()
            }
        }, publish: { _ in })
        return try acls()
    }

    /// Deletes the rules each filter matches, in one transaction.
    /// - Returns: per filter, the rules it deleted; and every rule left.
    public func deleteAcls(matching filters: [AclFilter]) throws(BrookError) -> (deleted: [[AclBinding]], remaining: [AclBinding]) {
        let before = try acls()
        var gone = Set<AclBinding>()
        let deleted = filters.map { filter in
            let matched = before.filter { filter.matches($0) }
            gone.formUnion(matched)
            return matched
        }
        _ = try adminTransaction("deleting ACLs", {
            let delete = try db.prepare("""
                DELETE FROM __brook_acls WHERE principal = ? AND host = ? AND resource_type = ? AND pattern_type = ?
                    AND resource_name = ? AND operation = ? AND permission = ?
                """)
            for binding in gone {
                delete.reset()
                try Self.bind(binding, to: delete)
                try delete.run()
            }
        }, publish: { _ in })
        return (deleted, before.filter { !gone.contains($0) })
    }

    /// Makes a user a super user or takes that away. Throws `RESOURCE_NOT_FOUND` for an unknown user.
    public func setSuper(user name: String, _ isSuper: Bool, now: Int64 = WallClock.nowMillis()) throws(BrookError) {
        _ = try adminTransaction("changing whether user '\(name)' is a super user", {
            let update = try db.prepare("UPDATE __brook_users SET super = ?, updated_ms = ? WHERE name = ?")
            try update.bind(isSuper ? 1 : 0, at: 1)
            try update.bind(now, at: 2)
            try update.bind(name, at: 3)
            try update.run()
            if db.changes == 0 { throw Self.unknownUser(name) }
        }, publish: { _ in })
    }

    /// Binds a rule's seven columns, in the table's order, to parameters 1–7.
    private static func bind(_ binding: AclBinding, to statement: Statement) throws(SQLiteError) {
        try statement.bind(binding.principal, at: 1)
        try statement.bind(binding.host, at: 2)
        try statement.bind(binding.resourceType.rawValue, at: 3)
        try statement.bind(binding.patternType.rawValue, at: 4)
        try statement.bind(binding.resourceName, at: 5)
        try statement.bind(binding.operation.rawValue, at: 6)
        try statement.bind(binding.permission.rawValue, at: 7)
    }
}
