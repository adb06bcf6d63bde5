import BrookModel

/// Users and their SCRAM verifiers, in the file beside the logs so that a backup carries them.
/// Each change is an admin transaction of its own on the writer's connection.
extension LogWriter {
    /// Every user, by name.
    public func users() throws(BrookError) -> [BrookUser] {
        do {
            var byName: [String: BrookUser] = [:]
            let rows = try db.prepare("SELECT name, super, created_ms, updated_ms FROM __brook_users")
            while try rows.step() {
                let name = rows.string(0) ?? ""
                byName[name] = BrookUser(name: name, isSuper: rows.int64(1) != 0, credentials: [], createdMs: rows.int64(2), updatedMs: rows.int64(3))
            }
            let credentials = try db.prepare(
                "SELECT user, mechanism, salt, iterations, stored_key, server_key FROM __brook_scram_credentials")
            while try credentials.step() {
                guard let name = credentials.string(0), byName[name] != nil,
                    let mechanism = ScramMechanism(rawValue: credentials.string(1) ?? "")
                else { continue }
                byName[name]!.credentials.append(ScramCredential(
                    mechanism: mechanism,
                    salt: Self.bytes(credentials, 2),
                    iterations: Int(credentials.int64(3)),
                    storedKey: Self.bytes(credentials, 4),
                    serverKey: Self.bytes(credentials, 5)))
            }
            return byName.values
                .map { BrookUser(name: $0.name, isSuper: $0.isSuper, credentials: $0.credentials, createdMs: $0.createdMs, updatedMs: $0.updatedMs) }
                .sorted { $0.name < $1.name }
        } catch {
            throw BrookError(error, while: "reading the users of '\(path)'")
        }
    }

    /// Adds a user with its verifiers. Throws `DUPLICATE_RESOURCE` if the name is taken.
    public func addUser(_ user: BrookUser) throws(BrookError) {
        try UserName.validate(user.name)
        _ = try adminTransaction("adding user '\(user.name)'", {
            if try exists(user.name) {
                throw BrookError(
                    .duplicateResource,
                    "user '\(user.name)' exists already: change its password with brook users passwd \(user.name), or delete it first")
            }
            let insert = try db.prepare("INSERT INTO __brook_users (name, super, created_ms, updated_ms) VALUES (?, ?, ?, ?)")
            try insert.bind(user.name, at: 1)
            try insert.bind(user.isSuper ? 1 : 0, at: 2)
            try insert.bind(user.createdMs, at: 3)
            try insert.bind(user.updatedMs, at: 4)
            try insert.run()
            try writeCredentials(user.name, user.credentials)
        }, publish: { _ in })
    }

    /// Replaces a user's verifiers (a new password). Throws `RESOURCE_NOT_FOUND` for an unknown user.
    public func replaceCredentials(user name: String, with credentials: [ScramCredential], now: Int64 = WallClock.nowMillis()) throws(BrookError) {
        _ = try adminTransaction("changing the password of user '\(name)'", {
            guard try exists(name) else { throw Self.unknownUser(name) }
            let delete = try db.prepare("DELETE FROM __brook_scram_credentials WHERE user = ?")
            try delete.bind(name, at: 1)
            try delete.run()
            try writeCredentials(name, credentials)
            let touch = try db.prepare("UPDATE __brook_users SET updated_ms = ? WHERE name = ?")
            try touch.bind(now, at: 1)
            try touch.bind(name, at: 2)
            try touch.run()
        }, publish: { _ in })
    }

    /// Deletes a user and its verifiers. Throws `RESOURCE_NOT_FOUND` for an unknown user.
    public func deleteUser(_ name: String) throws(BrookError) {
        _ = try adminTransaction("deleting user '\(name)'", {
            guard try exists(name) else { throw Self.unknownUser(name) }
            for sql in ["DELETE FROM __brook_scram_credentials WHERE user = ?", "DELETE FROM __brook_users WHERE name = ?"] {
                let delete = try db.prepare(sql)
                try delete.bind(name, at: 1)
                try delete.run()
            }
        }, publish: { _ in })
    }

    static func unknownUser(_ name: String) -> BrookError {
        BrookError(.resourceNotFound, "user '\(name)' does not exist: brook users list shows the users, brook users add \(name) creates it")
    }

    private func exists(_ name: String) throws -> Bool {
        let query = try db.prepare("SELECT 1 FROM __brook_users WHERE name = ?")
        try query.bind(name, at: 1)
        return try query.step()
    }

    private func writeCredentials(_ name: String, _ credentials: [ScramCredential]) throws {
        let insert = try db.prepare(
            "INSERT INTO __brook_scram_credentials (user, mechanism, salt, iterations, stored_key, server_key) VALUES (?, ?, ?, ?, ?, ?)")
        for credential in credentials {
            insert.reset()
            try insert.bind(name, at: 1)
            try insert.bind(credential.mechanism.rawValue, at: 2)
            try credential.salt.withUnsafeBytes { try insert.bindBlob($0, at: 3) }
            try insert.bind(credential.iterations, at: 4)
            try credential.storedKey.withUnsafeBytes { try insert.bindBlob($0, at: 5) }
            try credential.serverKey.withUnsafeBytes { try insert.bindBlob($0, at: 6) }
            try insert.run()
        }
    }

    private static func bytes(_ statement: Statement, _ column: Int32) -> [UInt8] {
        statement.bytes(column).map { Array($0) } ?? []
    }
}
