import BrookModel
import BrookStore
import BrookTestSupport
import CSQLite
import Foundation
import Testing

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
        // Numbered 1, 2, 3, … with no gap: a file at version N has had every migration up to N.
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

    /// A file from before migration 3, whose logs refused DELETE unless `__brook_retention_gate`
    /// held a row and took any INSERT, gets triggers that refuse every outside INSERT, REPLACE,
    /// UPDATE and DELETE on its logs (now its topic's table, since migration 6), and loses the gate.
    @Test func migrationThreeGuardsTheLogsOfAnOlderFile() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("old.db")
        LegacyFile.write(path, topics: [
            LegacyFile.Topic(name: "t", partitions: [0, 1].map { _ in [Record(offset: 0, timestamp: 1, key: nil, value: bytes("v0"))] }),
        ])
        let plain = PlainSQLite(path)
        let tables = plain.rows("SELECT name FROM sqlite_schema WHERE name LIKE '\\_\\_brook\\_log\\_%' ESCAPE '\\' AND type = 'table'").map { $0[0] }
        try #require(tables.count == 2)
        // The file as version 2 left it: a gated delete trigger, the gate, no insert trigger.
        for table in tables {
            #expect(plain.exec("""
                DROP TRIGGER "\(table)_writer_only_insert";
                DROP TRIGGER "\(table)_append_only_delete";
                CREATE TRIGGER "\(table)_append_only_delete" BEFORE DELETE ON "\(table)"
                WHEN NOT EXISTS (SELECT 1 FROM __brook_retention_gate)
                BEGIN
                    SELECT RAISE(ABORT, 'Brook partition logs are append-only: only retention deletes records');
                END;
                """) == nil)
        }
        #expect(plain.exec("CREATE TABLE __brook_retention_gate (open INTEGER NOT NULL); PRAGMA user_version = 2") == nil)
        // What version 2 let through: a row in the gate opened the delete path.
        #expect(plain.exec("BEGIN; INSERT INTO __brook_retention_gate VALUES (1); DELETE FROM \"\(tables[0])\"; ROLLBACK") == nil)

        let writer = try LogWriter(path: path)
        #expect(writer.openReport.appliedMigrations == Schema.migrations.filter { $0.version >= 3 }.map(\.fileName))
        // Migration 5 gives the older file's topics the two configs' defaults.
        #expect(writer.topics["t"]?.config.messageTimestampType == .createTime)
        #expect(writer.topics["t"]?.config.compressionType == .producer)
        let table = "__brook_records_\(try #require(writer.topics["t"]).id)"
        writer.close()
        #expect(plain.rows("SELECT count(*) FROM sqlite_schema WHERE name = '__brook_retention_gate'") == [["0"]])
        #expect(plain.rows("PRAGMA integrity_check") == [["ok"]])
        let plainShell = PlainSQLite(path)
        let attempts = [
            "INSERT INTO \"\(table)\" VALUES (1, 0, NULL, NULL, 'x')",
            "REPLACE INTO \"\(table)\" VALUES (0, 0, NULL, NULL, 'x')",
            "INSERT INTO \"\(table)\" VALUES (0, 0, NULL, NULL, 'x') ON CONFLICT (position) DO UPDATE SET value = 'x'",
            "UPDATE \"\(table)\" SET value = 'x'",
            "DELETE FROM \"\(table)\"",
        ]
        for sql in attempts {
            let refused = plainShell.exec(sql)
            #expect(refused?.contains("written only by Brook") == true, "\(sql): \(refused ?? "accepted")")
        }
        #expect(plainShell.rows("SELECT partition, offset, value FROM t ORDER BY partition") == [["0", "0", "v0"], ["1", "0", "v0"]])
    }

    /// A file of schema version 3 or 4, one table per partition with headers in their binary
    /// form, opens with every record in its topic's table, headers as JSON, the same counters,
    /// a time index, guards on the new tables and none of the old tables left.
    @Test func migrationSixMovesPartitionTablesIntoTopicTables() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("old.db")
        let headers = [Header("src", "web"), Header("bin", [0xFF, 0x00, 0x7F]), Header("quote", "a\"b\\c\n\u{1F600}"), Header("empty", [])]
        let orders0 = (0..<3).map { Record(offset: Int64($0), timestamp: 1_000 + Int64($0), key: bytes("k\($0)"), headers: $0 == 1 ? headers : [], value: bytes("v\($0)")) }
        let orders1 = (0..<2_500).map { Record(offset: Int64($0), timestamp: Int64($0) * 10, key: nil, value: [0xFE, UInt8($0 % 256)]) }
        LegacyFile.write(path, topics: [
            LegacyFile.Topic(name: "orders", partitions: [orders0, orders1]),
            LegacyFile.Topic(name: "empty", partitions: [[]]),
        ])

        let writer = try LogWriter(path: path)
        #expect(writer.openReport.appliedMigrations.last == "0006_topic_tables.sql")
        let plain = PlainSQLite(path)
        #expect(plain.rows("SELECT count(*) FROM sqlite_schema WHERE name LIKE '\\_\\_brook\\_log\\_%' ESCAPE '\\'") == [["0"]])
        #expect(plain.rows("PRAGMA integrity_check") == [["ok"]])
        let orders = try #require(writer.topics["orders"])
        #expect(orders.partitions.map(\.state) == [
            PartitionState(logStartOffset: 0, nextOffset: 3, bytes: Int64(orders0.reduce(0) { $0 + $1.size })),
            PartitionState(logStartOffset: 0, nextOffset: 2_500, bytes: Int64(orders1.reduce(0) { $0 + $1.size })),
        ])

        // Brook reads back exactly the bytes it wrote before.
        let reader = try LogReader(path: path)
        #expect(try reader.readRecords(partitionID: orders.partitions[0].id, from: 0, maxRecords: 10, maxBytes: 1 << 20).records == orders0)
        #expect(try reader.readRecords(partitionID: orders.partitions[1].id, from: 0, maxRecords: 3_000, maxBytes: 1 << 20).records == orders1)
        // The view shows headers as JSON; bytes that are not text are base64.
        #expect(plain.rows("SELECT headers FROM orders WHERE partition = 0 AND offset = 1") == [[#"[["src","web"],["bin",{"base64":"/wB/"}],["quote","a\"b\\c\n😀"],["empty",""]]"#]])
        #expect(plain.rows("SELECT count(*) FROM orders WHERE headers IS NOT NULL") == [["1"]])
        // Every 1,000th record of partition 1 is in the time index, and look-ups use it.
        #expect(plain.rows("SELECT max_timestamp, offset FROM __brook_time_index WHERE partition_id = \(orders.partitions[1].id) ORDER BY offset") == [["9990", "999"], ["19990", "1999"]])
        #expect(try reader.offset(forTimestamp: 12_345, partitionID: orders.partitions[1].id)?.offset == 1_235)
        // Appends go on at the next offsets, and the new table refuses outside writes.
        #expect(try append(writer, "orders", 1, values(1)) == 2_500)
        #expect(try append(writer, "empty", 0, values(1)) == 0)
        let refused = plain.exec("INSERT INTO __brook_records_\(orders.id) VALUES (5, 0, NULL, NULL, 'forged')")
        #expect(refused?.contains("written only by Brook") == true, "\(refused ?? "INSERT succeeded")")
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

    @Test func aReadOnlyFileOrDirectoryIsRefused() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("brook.db")
        do { _ = try LogWriter(path: path) }
        #expect(chmod(path, 0o444) == 0)
        do {
            _ = try LogWriter(path: path)
            Issue.record("a read-only file was opened for writing")
        } catch {
            #expect(error.code == .storageError)
            #expect(error.message == "'\(path)' is read-only (mode 444); Brook needs to write it")
        }
        #expect(chmod(path, 0o644) == 0)
        #expect(throws: Never.self) { _ = try LogWriter(path: path) }

        let locked = dir.file("locked")
        try FileManager.default.createDirectory(atPath: locked, withIntermediateDirectories: false)
        #expect(chmod(locked, 0o555) == 0)
        defer { chmod(locked, 0o755) }
        do {
            _ = try LogWriter(path: locked + "/new.db")
            Issue.record("a database was created in a read-only directory")
        } catch {
            #expect(error.code == .storageError)
            #expect(error.message.hasPrefix("the directory '\(locked)' is read-only (mode 555)"))
        }
        #expect(!FileManager.default.fileExists(atPath: locked + "/new.db"), "nothing was created")
    }

    @Test func aFileSystemWithoutSharedMemoryIsRefused() throws {
        // SQLite's unix-none VFS offers no shared memory, as some network and FUSE file systems do not.
        let dir = TemporaryDirectory()
        do {
            _ = try LogWriter(path: dir.file("brook.db"), vfs: "unix-none")
            Issue.record("WAL without shared memory was accepted")
        } catch {
            #expect(error.code == .storageError)
            #expect(error.message.contains("cannot use WAL mode") && error.message.contains("shared memory"), "\(error.message)")
        }
    }

    @Test func emptyExistingFileIsInitialised() throws {
        let dir = TemporaryDirectory()
        #expect(FileManager.default.createFile(atPath: dir.file("empty.db"), contents: Data()))
        let writer = try LogWriter(path: dir.file("empty.db"))
        #expect(writer.openReport.appliedMigrations.count == Schema.migrations.count)
    }
}
