import BrookModel
import CSQLite
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A connection that can only read, for users' ad-hoc SQL over their messages.
///
/// Four locks, each enough alone for writes: the file is opened read-only, `query_only` is on,
/// an authorizer allows only reads (no writes, ATTACH, DETACH or pragma changes), and defensive
/// mode is on. Every query runs under a time limit enforced by a progress handler.
public final class ReadOnlySQL {
    let db: Connection
    private let deadline = QueryDeadline()

    /// Pragmas a query may read; all others are refused, and these only without an argument
    /// (except the table-introspection ones, whose argument is a table name).
    static let readablePragmas: Set<String> = [
        "table_info", "table_xinfo", "index_list", "index_info", "index_xinfo", "foreign_key_list",
        "page_count", "page_size", "freelist_count", "user_version", "application_id", "schema_version",
        "data_version", "encoding", "journal_mode", "compile_options", "function_list", "table_list",
    ]
    static let pragmasTakingTableNames: Set<String> = [
        "table_info", "table_xinfo", "index_list", "index_info", "index_xinfo", "foreign_key_list", "table_list",
    ]

    public init(path: String) throws(BrookError) {
        do {
            db = try Connection(path: path, mode: .readOnly, statementCacheLimit: 0)
            _ = brook_sqlite3_db_config_int(db.handle, SQLITE_DBCONFIG_DEFENSIVE, 1)
            _ = brook_sqlite3_db_config_int(db.handle, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0)
            try db.execute("PRAGMA query_only = 1; PRAGMA busy_timeout = 10000; PRAGMA mmap_size = 268435456;")
        } catch {
            throw BrookError(error, while: "opening the SQL connection on '\(path)'")
        }
        sqlite3_set_authorizer(db.handle, { _, action, first, second, _, _ in
            ReadOnlySQL.authorize(action: action, first.map { String(cString: $0) }, second.map { String(cString: $0) })
                ? SQLITE_OK : SQLITE_DENY
        }, nil)
        sqlite3_progress_handler(db.handle, 1000, { context in
            Unmanaged<QueryDeadline>.fromOpaque(context!).takeUnretainedValue().expired ? 1 : 0
        }, Unmanaged.passUnretained(deadline).toOpaque())
    }

    /// The authorizer's policy: reads, functions and SELECT only; a pragma only from the
    /// readable list, and with an argument only when that argument names a table.
    static func authorize(action: Int32, _ first: String?, _ second: String?) -> Bool {
        switch action {
        case SQLITE_SELECT, SQLITE_READ, SQLITE_FUNCTION, SQLITE_RECURSIVE:
            return true
        case SQLITE_PRAGMA:
            guard let name = first?.lowercased(), readablePragmas.contains(name) else { return false }
            return second == nil || pragmasTakingTableNames.contains(name)
        default:
            return false
        }
    }

    /// Runs one SELECT and returns up to `maxRows` rows.
    /// - Throws: `INVALID_SQL` when it does not parse or holds more than one statement,
    ///   `NOT_AUTHORIZED` when it would write, attach or change a setting, `REQUEST_TIMED_OUT`
    ///   past `timeoutMs`.
    public func query(_ sql: String, maxRows: Int = 10_000, timeoutMs: Int64 = 5_000) throws(BrookError) -> QueryResult {
        var statementHandle: OpaquePointer?
        var tail: UnsafePointer<CChar>?
        var trailing = ""
        let prepared = sql.withCString { text -> Int32 in
            let code = sqlite3_prepare_v2(db.handle, text, -1, &statementHandle, &tail)
            if let tail { trailing = String(cString: tail) }
            return code
        }
        guard prepared == SQLITE_OK, let statementHandle else {
            let message = String(cString: sqlite3_errmsg(db.handle))
            if prepared == SQLITE_AUTH || message.contains("not authorized") {
                throw BrookError(.notAuthorized, "SQL refused: only reads are allowed (no writes, ATTACH or pragma changes): \(message)")
            }
            throw BrookError(.invalidSQL, "SQL does not compile: \(message)")
        }
        defer { sqlite3_finalize(statementHandle) }
        if !Self.isBlankSQL(trailing) {
            throw BrookError(.invalidSQL, "SQL holds more than one statement; send one SELECT at a time")
        }
        if sqlite3_stmt_readonly(statementHandle) == 0 {
            throw BrookError(.notAuthorized, "SQL refused: the statement would write; only reads are allowed")
        }

        deadline.start(milliseconds: timeoutMs)
        defer { deadline.clear() }
        let columnCount = sqlite3_column_count(statementHandle)
        var result = QueryResult(
            columns: (0..<columnCount).map { String(cString: sqlite3_column_name(statementHandle, $0)) },
            rows: [], truncated: false)
        while true {
            let code = sqlite3_step(statementHandle)
            if code == SQLITE_DONE { break }
            guard code == SQLITE_ROW else {
                if code == SQLITE_INTERRUPT {
                    throw BrookError(.requestTimedOut, "SQL query exceeded its time limit of \(timeoutMs) ms and was stopped")
                }
                let message = String(cString: sqlite3_errmsg(db.handle))
                if code == SQLITE_AUTH { throw BrookError(.notAuthorized, "SQL refused: \(message)") }
                // Damage and storage failures are the file's, not the query's: the same codes as a fetch.
                let failure = SQLiteError(connection: db.handle, code: code, sql: sql)
                if failure.isConfinedToStatement { throw BrookError(.invalidSQL, "SQL failed: \(message)") }
                throw BrookError(failure, while: "running SQL")
            }
            if result.rows.count >= maxRows {
                result.truncated = true
                break
            }
            result.rows.append((0..<columnCount).map { column(statementHandle, $0) })
        }
        return result
    }

    private func column(_ statement: OpaquePointer, _ index: Int32) -> SQLValue {
        switch sqlite3_column_type(statement, index) {
        case SQLITE_INTEGER: return .integer(sqlite3_column_int64(statement, index))
        case SQLITE_FLOAT: return .real(sqlite3_column_double(statement, index))
        case SQLITE_TEXT:
            let count = Int(sqlite3_column_bytes(statement, index))
            let text = sqlite3_column_text(statement, index)
            return .text(String(decoding: UnsafeRawBufferPointer(start: text, count: count), as: UTF8.self))
        case SQLITE_BLOB:
            let count = Int(sqlite3_column_bytes(statement, index))
            guard let blob = sqlite3_column_blob(statement, index) else { return .blob([]) }
            return .blob(Array(UnsafeRawBufferPointer(start: blob, count: count)))
        default: return .null
        }
    }

    /// Whether what follows the first statement is only whitespace, semicolons and comments.
    static func isBlankSQL(_ text: String) -> Bool {
        var rest = Substring(text)
        while let first = rest.first {
            if first == ";" || first.isWhitespace {
                rest = rest.dropFirst()
            } else if rest.hasPrefix("--") {
                rest = rest.drop(while: { $0 != "\n" })
            } else if rest.hasPrefix("/*") {
                rest = rest.dropFirst(2)
                while !rest.isEmpty && !rest.hasPrefix("*/") { rest = rest.dropFirst() }
                rest = rest.dropFirst(2)
            } else {
                return false
            }
        }
        return true
    }
}

/// The deadline a progress handler checks; set per query on the connection's thread.
final class QueryDeadline {
    private var deadline: UInt64 = .max

    func start(milliseconds: Int64) {
        deadline = Self.nowNanos() &+ UInt64(max(0, milliseconds)) * 1_000_000
    }

    func clear() { deadline = .max }

    var expired: Bool { deadline != .max && Self.nowNanos() >= deadline }

    static func nowNanos() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }
}
