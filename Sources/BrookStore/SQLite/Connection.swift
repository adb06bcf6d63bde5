import CSQLite

/// One SQLite connection. Not thread-safe: a connection belongs to one thread at a time (Brook
/// opens them in SQLite's multi-thread mode, without a per-connection mutex).
public final class Connection {
    public enum Mode: Sendable {
        case readWrite
        case readOnly
    }

    let handle: OpaquePointer
    public let path: String
    private var cache: [String: CachedStatement] = [:]
    private var useCounter: UInt64 = 0
    /// How many prepared statements stay cached; the least recently used beyond it are finalized.
    /// Bounded because a broker with many topics has statements per topic table.
    let statementCacheLimit: Int

    private struct CachedStatement {
        let statement: Statement
        var lastUse: UInt64
    }

    /// - Parameter vfs: the SQLite VFS to open the file with; nil for the default.
    public init(path: String, mode: Mode, statementCacheLimit: Int = 256, vfs: String? = nil) throws(SQLiteError) {
        var handle: OpaquePointer?
        var flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        switch mode {
        case .readWrite: flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
        case .readOnly: flags |= SQLITE_OPEN_READONLY
        }
        let code = sqlite3_open_v2(path, &handle, flags, vfs)
        guard code == SQLITE_OK, let handle else {
            let error = SQLiteError(connection: handle, code: code)
            sqlite3_close_v2(handle)
            throw error
        }
        self.handle = handle
        self.path = path
        self.statementCacheLimit = statementCacheLimit
        sqlite3_extended_result_codes(handle, 1)
    }

    private var isClosed = false

    deinit { close() }

    /// Closes the connection now rather than at deinit, for an owner that must know it is closed
    /// (the writer, before it gives up its file lock). Nothing may use the connection after it.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        cache.removeAll()
        sqlite3_close_v2(handle)
    }

    /// Runs one or more SQL statements that return no rows.
    public func execute(_ sql: String) throws(SQLiteError) {
        var message: UnsafeMutablePointer<CChar>?
        let code = sqlite3_exec(handle, sql, nil, nil, &message)
        if code != SQLITE_OK {
            let text = message.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(code))
            sqlite3_free(message)
            throw SQLiteError(code: code, extendedCode: sqlite3_extended_errcode(handle), message: text, sql: sql)
        }
    }

    /// Prepares a statement the caller owns.
    public func prepare(_ sql: String) throws(SQLiteError) -> Statement {
        try Statement(connection: self, sql: sql)
    }

    /// A prepared statement from the connection's cache, reset and ready to bind.
    public func cached(_ sql: String) throws(SQLiteError) -> Statement {
        useCounter &+= 1
        if let entry = cache[sql] {
            cache[sql]!.lastUse = useCounter
            return entry.statement
        }
        let statement = try Statement(connection: self, sql: sql)
        if cache.count >= statementCacheLimit, let oldest = cache.min(by: { $0.value.lastUse < $1.value.lastUse }) {
            cache.removeValue(forKey: oldest.key)
        }
        cache[sql] = CachedStatement(statement: statement, lastUse: useCounter)
        return statement
    }

    /// Drops cached statements that mention `fragment` (e.g. a dropped table's name).
    public func evictStatements(containing fragment: String) {
        cache = cache.filter { !$0.key.contains(fragment) }
    }

    /// Runs the first row's first column of a query as an integer, or `nil` when there is no row.
    public func scalarInt(_ sql: String) throws(SQLiteError) -> Int64? {
        let statement = try cached(sql)
        defer { statement.reset() }
        return try statement.step() ? (statement.isNull(0) ? nil : statement.int64(0)) : nil
    }

    public func scalarString(_ sql: String) throws(SQLiteError) -> String? {
        let statement = try prepare(sql)
        return try statement.step() ? statement.string(0) : nil
    }

    /// Runs `body` in a transaction: committed when it returns, rolled back when it throws.
    public func transaction<T>(immediate: Bool = true, _ body: () throws -> T) throws -> T {
        try execute(immediate ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            rollback()
            throw error
        }
    }

    /// Rolls back the open transaction, if any. Errors are ignored: after a failed COMMIT SQLite
    /// may already have rolled back.
    public func rollback() {
        if sqlite3_get_autocommit(handle) == 0 {
            _ = sqlite3_exec(handle, "ROLLBACK", nil, nil, nil)
        }
    }

    public var isInTransaction: Bool { sqlite3_get_autocommit(handle) == 0 }

    /// Rows the last INSERT, UPDATE or DELETE changed.
    public var changes: Int { Int(sqlite3_changes(handle)) }
}

/// Quotes an identifier for SQL: wraps it in double quotes and doubles any inside.
public func quoteIdentifier(_ name: String) -> String {
    quote(name, with: "\"")
}

/// Quotes a string literal for SQL: wraps it in single quotes and doubles any inside.
public func quoteLiteral(_ text: String) -> String {
    quote(text, with: "'")
}

private func quote(_ text: String, with mark: Character) -> String {
    var out = String(mark)
    for character in text {
        if character == mark { out.append(mark) }
        out.append(character)
    }
    out.append(mark)
    return out
}
