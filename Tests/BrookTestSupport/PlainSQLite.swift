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

    /// Registers the SQL function that Brook's writer alone registers, which the partition logs'
    /// INSERT triggers call: this connection can then write the logs as Brook's writer does, as a
    /// program that knew the function's name could. For tests that tamper with the file.
    public func impersonateBrooksWriter() {
        let code = sqlite3_create_function_v2(
            handle, "brook_partition_logs_are_read_only_outside_brook", 0, SQLITE_UTF8, nil,
            { context, _, _ in sqlite3_result_null(context) }, nil, nil, nil)
        precondition(code == SQLITE_OK)
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

