import CSQLite
import Testing

/// A plain SQLite connection, as the stock `sqlite3` shell would open the file: none of Brook's
/// code, only the C API.
public final class PlainSQLite {
    public let handle: OpaquePointer

    public init(_ path: String) {
        var handle: OpaquePointer?
        precondition(sqlite3_open(path, &handle) == SQLITE_OK)
        self.handle = handle!
    }

    deinit { sqlite3_close_v2(handle) }

    /// Turns this connection's triggers off, as Brook's writer does, so it can write the
    /// partition logs as Brook's writer does (or as any program that knew to could). For tests
    /// that tamper with the file.
    public func impersonateBrooksWriter() {
        var enabled: Int32 = -1
        let code = brook_sqlite3_db_config_int_result(handle, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, &enabled)
        precondition(code == SQLITE_OK && enabled == 0)
    }

    /// Runs SQL; returns SQLite's error message, or nil on success.
    @discardableResult
    public func exec(_ sql: String) -> String? {
        var message: UnsafeMutablePointer<CChar>?
        guard sqlite3_exec(handle, sql, nil, nil, &message) != SQLITE_OK else { return nil }
        defer { sqlite3_free(message) }
        return message.map { String(cString: $0) } ?? "error"
    }

    /// Rows of a query, each column rendered as text ("NULL" for null).
    public func rows(_ sql: String) -> [[String]] {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(handle, sql, -1, &statement, nil) == SQLITE_OK else {
            Issue.record("prepare failed: \(String(cString: sqlite3_errmsg(handle)))")
            return []
        }
        defer { sqlite3_finalize(statement) }
        var rows: [[String]] = []
        while sqlite3_step(statement) == SQLITE_ROW {
            rows.append((0..<sqlite3_column_count(statement)).map { column in
                sqlite3_column_type(statement, column) == SQLITE_NULL
                    ? "NULL" : String(cString: sqlite3_column_text(statement, column))
            })
        }
        return rows
    }
}

