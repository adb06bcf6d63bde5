import CSQLite

/// A prepared statement. Not thread-safe: it belongs to its connection's thread.
public final class Statement {
    let handle: OpaquePointer
    public let sql: String
    unowned let connection: Connection

    init(connection: Connection, sql: String) throws(SQLiteError) {
        var statement: OpaquePointer?
        var tail: UnsafePointer<CChar>?
        let code = sql.withCString { sqlite3_prepare_v3(connection.handle, $0, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, &tail) }
        guard code == SQLITE_OK, let statement else {
            throw SQLiteError(connection: connection.handle, code: code, sql: sql)
        }
        self.handle = statement
        self.sql = sql
        self.connection = connection
    }

    deinit { sqlite3_finalize(handle) }

    /// Resets the statement for another run and clears its bindings.
    public func reset() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    // MARK: Binding (1-based indexes, as SQLite's)

    public func bind(_ value: Int64, at index: Int32) throws(SQLiteError) {
        try check(sqlite3_bind_int64(handle, index, value))
    }

    public func bind(_ value: Int, at index: Int32) throws(SQLiteError) {
        try bind(Int64(value), at: index)
    }

    public func bind(_ value: String, at index: Int32) throws(SQLiteError) {
        try check(sqlite3_bind_text(handle, index, value, -1, brook_sqlite3_transient()))
    }

    public func bindNull(at index: Int32) throws(SQLiteError) {
        try check(sqlite3_bind_null(handle, index))
    }

    /// Binds bytes without copying. The memory must stay valid until the statement is stepped
    /// and reset. Valid UTF-8 without NUL is bound as TEXT (so SQL compares it with string
    /// literals), anything else as BLOB.
    public func bindBytes(_ bytes: UnsafeRawBufferPointer, at index: Int32) throws(SQLiteError) {
        let pointer = bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!
        if UTF8Text.isPlainText(bytes) {
            try check(sqlite3_bind_text(handle, index, pointer.assumingMemoryBound(to: CChar.self), Int32(bytes.count), brook_sqlite3_static()))
        } else {
            try check(sqlite3_bind_blob(handle, index, pointer, Int32(bytes.count), brook_sqlite3_static()))
        }
    }

    /// Binds bytes as TEXT without copying; they must be valid UTF-8. The memory must stay valid
    /// until step and reset.
    public func bindText(_ bytes: UnsafeRawBufferPointer, at index: Int32) throws(SQLiteError) {
        let pointer = bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!
        try check(sqlite3_bind_text(handle, index, pointer.assumingMemoryBound(to: CChar.self), Int32(bytes.count), brook_sqlite3_static()))
    }

    /// Binds bytes as a BLOB without copying; the memory must stay valid until step and reset.
    public func bindBlob(_ bytes: UnsafeRawBufferPointer, at index: Int32) throws(SQLiteError) {
        let pointer = bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!
        try check(sqlite3_bind_blob(handle, index, pointer, Int32(bytes.count), brook_sqlite3_static()))
    }

    // MARK: Stepping

    /// Advances: `true` when a row is available, `false` when done.
    @discardableResult
    public func step() throws(SQLiteError) -> Bool {
        let code = sqlite3_step(handle)
        switch code {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            let error = SQLiteError(connection: connection.handle, code: code, sql: sql)
            sqlite3_reset(handle)
            throw error
        }
    }

    /// Runs a statement that returns no rows, then resets it.
    public func run() throws(SQLiteError) {
        defer { reset() }
        while try step() {}
    }

    // MARK: Columns (0-based indexes, as SQLite's)

    public var columnCount: Int32 { sqlite3_column_count(handle) }

    public func isNull(_ index: Int32) -> Bool { sqlite3_column_type(handle, index) == SQLITE_NULL }

    public func int64(_ index: Int32) -> Int64 { sqlite3_column_int64(handle, index) }

    public func string(_ index: Int32) -> String? {
        guard let text = sqlite3_column_text(handle, index) else { return nil }
        let count = Int(sqlite3_column_bytes(handle, index))
        return String(decoding: UnsafeRawBufferPointer(start: text, count: count), as: UTF8.self)
    }

    /// The column's bytes (TEXT or BLOB), valid until the next step or reset; `nil` for NULL.
    public func bytes(_ index: Int32) -> UnsafeRawBufferPointer? {
        if sqlite3_column_type(handle, index) == SQLITE_NULL { return nil }
        let pointer = sqlite3_column_blob(handle, index)
        let count = Int(sqlite3_column_bytes(handle, index))
        return UnsafeRawBufferPointer(start: count == 0 ? nil : pointer, count: count)
    }

    private func check(_ code: Int32) throws(SQLiteError) {
        if code != SQLITE_OK { throw SQLiteError(connection: connection.handle, code: code, sql: sql) }
    }
}
