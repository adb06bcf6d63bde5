import BrookModel
import BrookStore
import BrookTestSupport
import CSQLite
import Foundation
import Testing

/// A plain SQLite connection, as the stock `sqlite3` shell would open the file: none of Brook's
/// code, only the C API.
final class PlainSQLite {
    let handle: OpaquePointer

    init(_ path: String) {
        var handle: OpaquePointer?
        precondition(sqlite3_open(path, &handle) == SQLITE_OK)
        self.handle = handle!
    }

    deinit { sqlite3_close_v2(handle) }

    /// Runs SQL; returns SQLite's error message, or nil on success.
    @discardableResult
    func exec(_ sql: String) -> String? {
        var message: UnsafeMutablePointer<CChar>?
        guard sqlite3_exec(handle, sql, nil, nil, &message) != SQLITE_OK else { return nil }
        defer { sqlite3_free(message) }
        return message.map { String(cString: $0) } ?? "error"
    }

    /// Rows of a query, each column rendered as text ("NULL" for null).
    func rows(_ sql: String) -> [[String]] {
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

struct SchemaTests {
    @Test func embeddedMigrationsAreTheFilesOnDisk() throws {
        let folder = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("migrations")
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".sql") }.sorted()
        #expect(!names.isEmpty)
        #expect(Schema.migrations.map(\.fileName) == names)
        for migration in Schema.migrations {
            let text = try String(contentsOf: folder.appendingPathComponent(migration.fileName), encoding: .utf8)
            #expect(migration.sql == text, "\(migration.fileName) differs from its embedded copy")
        }
        #expect(Schema.migrations.map(\.version) == Array(1...Schema.migrations.count))
    }

    @Test func newFileIsMarkedAsBrooksAtTheCurrentVersion() throws {
        let dir = TemporaryDirectory()
        let writer = try LogWriter(path: dir.file("new.db"))
        #expect(writer.openReport.foundVersion == 0)
        #expect(writer.openReport.appliedMigrations == Schema.migrations.map(\.fileName))
        let plain = PlainSQLite(dir.file("new.db"))
        #expect(plain.rows("PRAGMA application_id") == [["\(Schema.applicationID)"]])
        #expect(plain.rows("PRAGMA user_version") == [["\(Schema.currentVersion)"]])
        #expect(plain.rows("PRAGMA journal_mode") == [["wal"]])
    }

    @Test func reopeningAppliesNothing() throws {
        let dir = TemporaryDirectory()
        _ = try LogWriter(path: dir.file("a.db"))
        let again = try LogWriter(path: dir.file("a.db"))
        #expect(again.openReport.foundVersion == Schema.currentVersion)
        #expect(again.openReport.appliedMigrations.isEmpty)
    }

    @Test func fileFromANewerBrookIsRefused() throws {
        let dir = TemporaryDirectory()
        _ = try LogWriter(path: dir.file("newer.db"))
        PlainSQLite(dir.file("newer.db")).exec("PRAGMA user_version = 99")
        do {
            _ = try LogWriter(path: dir.file("newer.db"))
            Issue.record("a newer file was opened")
        } catch {
            #expect(error.code == .unsupportedVersion)
            #expect(error.message.contains("99"))
            #expect(error.message.contains("\(Schema.currentVersion)"))
        }
    }

    @Test func garbageFileIsRefusedAndLeftUntouched() throws {
        let dir = TemporaryDirectory()
        let garbage = (0..<8192).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        try Data(garbage).write(to: URL(fileURLWithPath: dir.file("garbage.db")))
        expectBrookError(.notABrookDatabase) { try LogWriter(path: dir.file("garbage.db")) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir.file("garbage.db"))) == Data(garbage))
    }

    @Test func foreignSQLiteFileIsRefusedAndLeftUntouched() throws {
        let dir = TemporaryDirectory()
        let plain = PlainSQLite(dir.file("other.db"))
        plain.exec("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO customers VALUES (1, 'ann');")
        expectBrookError(.notABrookDatabase) { try LogWriter(path: dir.file("other.db")) }
        #expect(plain.rows("SELECT name FROM customers") == [["ann"]])
        #expect(plain.rows("SELECT count(*) FROM sqlite_schema WHERE name LIKE '__brook%'") == [["0"]])
    }

    @Test func damagedBrookFileIsRefusedCleanly() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("damaged.db")
        do {
            let writer = try LogWriter(path: path)
            try writer.createTopic("orders", partitions: 2, config: TopicConfig())
            try writer.checkpoint(.truncate)
        }
        // Overwrite the schema page's b-tree (after the 100-byte file header) with noise.
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seek(toOffset: 100)
        try handle.write(contentsOf: Data((0..<3000).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 5) }))
        try handle.close()
        do {
            _ = try LogWriter(path: path)
            Issue.record("a damaged file was opened")
        } catch {
            #expect(error.code == .corruptDatabase || error.code == .notABrookDatabase, "\(error)")
        }
    }

    @Test func emptyExistingFileIsInitialised() throws {
        let dir = TemporaryDirectory()
        #expect(FileManager.default.createFile(atPath: dir.file("empty.db"), contents: Data()))
        let writer = try LogWriter(path: dir.file("empty.db"))
        #expect(writer.openReport.appliedMigrations.count == Schema.migrations.count)
    }
}
