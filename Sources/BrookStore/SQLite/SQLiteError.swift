import BrookModel
import CSQLite

/// A failed SQLite call: the result code, the extended code, SQLite's message and the SQL.
public struct SQLiteError: Error, Sendable, CustomStringConvertible {
    public let code: Int32
    public let extendedCode: Int32
    public let message: String
    public let sql: String?

    init(code: Int32, extendedCode: Int32? = nil, message: String, sql: String? = nil) {
        self.code = code & 0xFF
        self.extendedCode = extendedCode ?? code
        self.message = message
        self.sql = sql
    }

    init(connection: OpaquePointer?, code: Int32, sql: String? = nil) {
        let message = connection.flatMap { sqlite3_errmsg($0) }.map { String(cString: $0) }
            ?? String(cString: sqlite3_errstr(code))
        self.init(
            code: code, extendedCode: connection.map { sqlite3_extended_errcode($0) } ?? code,
            message: message, sql: sql)
    }

    public var description: String {
        var text = "SQLite error \(extendedCode): \(message)"
        if let sql { text += " (in: \(sql.prefix(200)))" }
        return text
    }

    public var isCorruption: Bool { code == SQLITE_CORRUPT || code == SQLITE_NOTADB }
    public var isDiskFull: Bool { code == SQLITE_FULL }
    public var isBusy: Bool { code == SQLITE_BUSY || code == SQLITE_LOCKED }
    /// A failure of one statement that leaves its transaction sound, so that it belongs to the
    /// request that ran the statement: a constraint (a duplicate offset), a
    /// missing table, a value too big. Disk, I/O, memory, lock and damage failures are not.
    public var isConfinedToStatement: Bool {
        [SQLITE_CONSTRAINT, SQLITE_ERROR, SQLITE_TOOBIG, SQLITE_MISMATCH, SQLITE_RANGE].contains(code)
    }
}

extension BrookError {
    /// Maps a SQLite failure to the user-facing error, naming what was being done.
    public init(_ error: SQLiteError, while action: String) {
        switch error.code {
        case SQLITE_FULL:
            self.init(.storageError, "disk full while \(action): \(error.message)")
        case SQLITE_CORRUPT, SQLITE_NOTADB:
            self.init(.corruptDatabase, "database is damaged (\(error.message)) while \(action)")
        case SQLITE_BUSY, SQLITE_LOCKED:
            self.init(.storageError, "database is locked by another connection or process while \(action): \(error.message)")
        case SQLITE_READONLY, SQLITE_CANTOPEN, SQLITE_PERM:
            self.init(.storageError, "database file cannot be written or opened while \(action): \(error.message)")
        default:
            self.init(.storageError, "storage failure while \(action): \(error.message) (SQLite code \(error.extendedCode))")
        }
    }
}
