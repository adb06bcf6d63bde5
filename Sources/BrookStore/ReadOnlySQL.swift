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
/// an authorizer allows only reads (no writes, ATTACH, DETACH or pragma changes, and no function
/// that reveals or takes a memory address), and defensive mode is on. Every query runs under a
/// time limit enforced by a progress handler, and no value may exceed its result-byte limit.
public final class ReadOnlySQL {
    let db: Connection
    private let deadline = QueryDeadline()
    private let policy = AuthorizerPolicy()

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
        sqlite3_set_authorizer(db.handle, { context, action, first, second, _, through in
            Unmanaged<AuthorizerPolicy>.fromOpaque(context!).takeUnretainedValue()
                .authorize(
                    action: action, first.map { String(cString: $0) }, second.map { String(cString: $0) },
                    through: through.map { String(cString: $0) })
                ? SQLITE_OK : SQLITE_DENY
        }, Unmanaged.passUnretained(policy).toOpaque())
        sqlite3_progress_handler(db.handle, 1000, { context in
            Unmanaged<QueryDeadline>.fromOpaque(context!).takeUnretainedValue().expired ? 1 : 0
        }, Unmanaged.passUnretained(deadline).toOpaque())
    }

    /// Functions a query may not call: `fts3_tokenizer` returns a tokenizer's address in the
    /// server's memory (and with two arguments installs one from an address), `fts5` is the
    /// pointer-passing way to reach FTS5's C API, and `load_extension` loads code.
    static let secretTable = "__brook_scram_credentials"

    static let deniedFunctions: Set<String> = ["fts3_tokenizer", "fts5", "load_extension"]

    /// The authorizer's policy: reads, SELECT and functions not denied only; a pragma only from
    /// the readable list, and with an argument only when that argument names a table.
    static func authorize(action: Int32, _ first: String?, _ second: String?) -> Bool {
        switch action {
        case SQLITE_READ:
            // The SCRAM verifiers are not passwords, but they are what an attacker who wants to
            // guess passwords offline needs: SQL never reads them (a backup still carries them).
            return first?.lowercased() != secretTable
        case SQLITE_SELECT, SQLITE_RECURSIVE:
            return true
        case SQLITE_FUNCTION:
            // The function's name is the second argument.
            return !(second.map { deniedFunctions.contains($0.lowercased()) } ?? false)
        case SQLITE_PRAGMA:
            guard let name = first?.lowercased(), readablePragmas.contains(name) else { return false }
            return second == nil || pragmasTakingTableNames.contains(name)
        default:
            return false
        }
    }

    /// Runs one SELECT and returns up to `maxRows` rows.
    /// - Throws: as ``query(_:maxRows:maxResultBytes:timeoutMs:confinedTo:into:)``.
    public func query(
        _ sql: String, maxRows: Int = 10_000, maxResultBytes: Int = SQLLimits().maxResultBytes, timeoutMs: Int64 = 5_000,
        confinedTo confinement: SQLConfinement? = nil
    ) throws(BrookError) -> QueryResult {
        try query(sql, maxRows: maxRows, maxResultBytes: maxResultBytes, timeoutMs: timeoutMs, confinedTo: confinement, into: QueryResult.self)
    }

    /// Runs one SELECT, handing up to `maxRows` rows to a sink as they are stepped.
    /// - Throws: `INVALID_SQL` when it does not parse or holds more than one statement,
    ///   `NOT_AUTHORIZED` when it would write, attach, change a setting or call a function that
    ///   reveals memory addresses, `MESSAGE_TOO_LARGE` for a statement over the connection's
    ///   length limit, `RESULT_TOO_LARGE` past `maxResultBytes` of values, `REQUEST_TIMED_OUT`
    ///   past `timeoutMs`; `NOT_AUTHORIZED` naming the table when a confined query reads another.
    public func query<Sink: SQLRowSink>(
        _ sql: String, maxRows: Int = 10_000, maxResultBytes: Int = SQLLimits().maxResultBytes, timeoutMs: Int64 = 5_000,
        confinedTo confinement: SQLConfinement? = nil, into: Sink.Type
    ) throws(BrookError) -> Sink {
        // SQLite asks the authorizer while it prepares, and again if it re-prepares while stepping.
        policy.confinement = confinement
        policy.refused = nil
        defer { policy.confinement = nil }
        // No single value may be larger than the whole result may be: SQLite refuses to build it
        // (zeroblob(1e9)) instead of allocating it first.
        sqlite3_limit(db.handle, SQLITE_LIMIT_LENGTH, Int32(clamping: max(1, maxResultBytes)))
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
            if let confinement, let refused = policy.refused {
                throw Self.outsideConfinement(confinement, refused)
            }
            if prepared == SQLITE_AUTH || message.contains("not authorized") {
                throw BrookError(
                    .notAuthorized,
                    "SQL refused: only reads are allowed (no writes, ATTACH, pragma changes or functions that reveal memory addresses): \(message)")
            }
            if prepared == SQLITE_TOOBIG {
                throw BrookError(.messageTooLarge, "SQL statement of \(sql.utf8.count) bytes is too long: \(message)")
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
        let columns = (0..<columnCount).map { String(cString: sqlite3_column_name(statementHandle, $0)) }
        var sink = Sink(columns: columns)
        var resultBytes = columns.reduce(0) { $0 + $1.utf8.count }
        var rows = 0
        var truncated = false
        while true {
            let code = sqlite3_step(statementHandle)
            if code == SQLITE_DONE { break }
            guard code == SQLITE_ROW else {
                if code == SQLITE_INTERRUPT {
                    throw BrookError(.requestTimedOut, "SQL query exceeded its time limit of \(timeoutMs) ms and was stopped")
                }
                let message = String(cString: sqlite3_errmsg(db.handle))
                if code == SQLITE_AUTH {
                    if let confinement, let refused = policy.refused { throw Self.outsideConfinement(confinement, refused) }
                    throw BrookError(.notAuthorized, "SQL refused: \(message)")
                }
                if code == SQLITE_TOOBIG { throw Self.resultTooLarge(maxResultBytes, rows: rows) }
                // Damage and storage failures are the file's, not the query's: the same codes as a fetch.
                let failure = SQLiteError(connection: db.handle, code: code, sql: sql)
                if failure.isConfinedToStatement { throw BrookError(.invalidSQL, "SQL failed: \(message)") }
                throw BrookError(failure, while: "running SQL")
            }
            if rows >= maxRows {
                truncated = true
                break
            }
            let row = (0..<columnCount).map { column(statementHandle, $0) }
            resultBytes += row.reduce(0) { $0 + $1.resultBytes }
            if resultBytes > maxResultBytes { throw Self.resultTooLarge(maxResultBytes, rows: rows) }
            sink.append(row)
            rows += 1
        }
        sink.finish(truncated: truncated)
        return sink
    }

    private static func outsideConfinement(_ confinement: SQLConfinement, _ refused: String) -> BrookError {
        BrookError(
            .notAuthorized,
            "SQL refused: this query may read only topic '\(confinement.topic)', and it reads \(refused)")
    }

    private static func resultTooLarge(_ limit: Int, rows: Int) -> BrookError {
        BrookError(
            .resultTooLarge,
            "SQL result exceeds max_sql_result_bytes=\(limit) after \(rows) rows; select fewer rows or columns (LIMIT, WHERE, substr, length)")
    }

    /// A column of the current row, borrowed until the next step.
    private func column(_ statement: OpaquePointer, _ index: Int32) -> SQLValueView {
        switch sqlite3_column_type(statement, index) {
        case SQLITE_INTEGER: return .integer(sqlite3_column_int64(statement, index))
        case SQLITE_FLOAT: return .real(sqlite3_column_double(statement, index))
        case SQLITE_TEXT:
            let text = sqlite3_column_text(statement, index)
            let count = Int(sqlite3_column_bytes(statement, index))
            return .text(UnsafeRawBufferPointer(start: text, count: count))
        case SQLITE_BLOB:
            let blob = sqlite3_column_blob(statement, index)
            let count = Int(sqlite3_column_bytes(statement, index))
            return .blob(UnsafeRawBufferPointer(start: count == 0 ? nil : blob, count: count))
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

/// What one query may read beyond the connection's own rules: one topic's view and the table
/// under it. No other table, view or pragma, the schema included.
///
/// SQLite's authorizer names every table a statement reads, whatever the statement calls it: a
/// common table expression named after the view is no table, and what it reads is named as
/// itself. So the check is on table names, never on the view or trigger SQLite says a read
/// comes through.
public struct SQLConfinement: Sendable, Hashable {
    /// The topic, whose view is named after it.
    public let topic: String
    /// The tables the query may read.
    let readable: Set<String>

    public init(topic: String, topicID: Int64) {
        self.topic = topic
        readable = [topic, LogNames.table(topicID: topicID)]
    }
}

/// The authorizer's state on one connection: the query's confinement, if any, and what it
/// refused. Used on the connection's thread only.
final class AuthorizerPolicy {
    var confinement: SQLConfinement?
    /// The first read outside the confinement, described, for the error.
    var refused: String?

    /// - Parameter through: the innermost view (or common table expression) the access comes
    ///   through, nil for the statement's own: named in the error in place of a topic's table.
    func authorize(action: Int32, _ first: String?, _ second: String?, through: String?) -> Bool {
        guard ReadOnlySQL.authorize(action: action, first, second) else { return false }
        guard let confinement else { return true }
        switch action {
        case SQLITE_READ:
            guard let table = first, confinement.readable.contains(table) else {
                // Another topic's table is read through its view, which is the name users know.
                let shown = first.map { $0.hasPrefix("__brook_records_") ? through ?? $0 : $0 } ?? "?"
                if refused == nil { refused = "'\(shown)'" }
                return false
            }
            return true
        case SQLITE_PRAGMA:
            if refused == nil { refused = "PRAGMA \(first ?? "")" }
            return false
        default:
            return true
        }
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
