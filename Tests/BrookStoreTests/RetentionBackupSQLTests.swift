import BrookModel
import BrookStore
import BrookTestSupport
import Foundation
import Testing

struct RetentionTests {
    @Test func pruneByTimeAdvancesLogStartAndOffsetsContinueAfterReopen() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("t.db")
        do {
            let writer = try LogWriter(path: path)
            try writer.createTopic("t", partitions: 1, config: TopicConfig(retentionMs: 1_000))
            try append(writer, "t", 0, values(4, timestamp: 10_000))  // old
            try append(writer, "t", 0, values(2, timestamp: 20_000))  // young at now = 20_500
            let partial = try writer.prune(topic: "t", partition: 0, now: 20_500, maxRecords: 100)
            #expect(partial.deletedRecords == 4)
            #expect(partial.change?.state.logStartOffset == 4)
            #expect(writer.topics["t"]?.partitions[0].state == PartitionState(logStartOffset: 4, nextOffset: 6, bytes: 4))

            let reader = try LogReader(path: path)
            let id = try #require(writer.topics["t"]).partitions[0].id
            expectBrookError(.offsetOutOfRange) { try reader.readRecords(partitionID: id, from: 3, maxRecords: 1, maxBytes: 100) }
            #expect(try reader.readRecords(partitionID: id, from: 4, maxRecords: 9, maxBytes: 100).records.map(\.offset) == [4, 5])

            // Everything expires: the partition is empty but its offsets are not reset.
            let rest = try writer.prune(topic: "t", partition: 0, now: 100_000, maxRecords: 100)
            #expect(rest.deletedRecords == 2)
            #expect(writer.topics["t"]?.partitions[0].state == PartitionState(logStartOffset: 6, nextOffset: 6, bytes: 0))
        }
        let writer = try LogWriter(path: path)
        #expect(writer.topics["t"]?.partitions[0].state.logStartOffset == 6)
        #expect(try append(writer, "t", 0, values(1)) == 6, "offsets are never reused")
    }

    @Test func pruneByBytesHoldsThePartitionUnderItsLimit() throws {
        let dir = TemporaryDirectory()
        let writer = try LogWriter(path: dir.file("t.db"))
        try writer.createTopic("t", partitions: 1, config: TopicConfig(retentionMs: -1, retentionBytes: 100))
        // 30 records of 10 bytes: 300 bytes, 200 over.
        try append(writer, "t", 0, (0..<30).map { _ in ProducerRecord(key: nil, value: "0123456789") })
        let result = try writer.prune(topic: "t", partition: 0, now: 0, maxRecords: 1000)
        #expect(result.deletedRecords == 20)
        #expect(result.deletedBytes == 200)
        #expect(writer.topics["t"]?.partitions[0].state == PartitionState(logStartOffset: 20, nextOffset: 30, bytes: 100))
    }

    @Test func pruneWorksInBoundedChunks() throws {
        let dir = TemporaryDirectory()
        let writer = try LogWriter(path: dir.file("t.db"))
        try writer.createTopic("t", partitions: 1, config: TopicConfig(retentionMs: 1))
        try append(writer, "t", 0, values(25, timestamp: 1))
        var chunks: [Int] = []
        while true {
            let result = try writer.prune(topic: "t", partition: 0, now: 1_000, maxRecords: 10)
            chunks.append(result.deletedRecords)
            if !result.mayHaveMore { break }
        }
        #expect(chunks == [10, 10, 5])
        #expect(writer.topics["t"]?.partitions[0].state.recordCount == 0)
    }

    @Test func unlimitedRetentionDeletesNothing() throws {
        let dir = TemporaryDirectory()
        let writer = try LogWriter(path: dir.file("t.db"))
        try writer.createTopic("t", partitions: 1, config: TopicConfig(retentionMs: -1, retentionBytes: -1))
        try append(writer, "t", 0, values(5, timestamp: 1))
        #expect(try writer.prune(topic: "t", partition: 0, now: .max / 2, maxRecords: 100).deletedRecords == 0)
    }
}

struct BackupTests {
    @Test func backupOpensAsBrookWithTheSameRecords() throws {
        let dir = TemporaryDirectory()
        let writer = try LogWriter(path: dir.file("live.db"))
        try writer.createTopic("t", partitions: 2, config: TopicConfig())
        try append(writer, "t", 1, [ProducerRecord(key: [9, 0, 9], value: bytes("payload"), headers: [Header("h", [1, 2])], timestamp: 77)])
        try append(writer, "t", 1, values(10))
        try writer.begin(durable: false)
        try writer.commitOffset(group: "g", topic: "t", partition: 1, offset: 3, metadata: "m", now: 5)
        _ = try writer.commit()

        let reader = try LogReader(path: dir.file("live.db"))
        let report = try reader.backup(to: dir.file("copy.db"))
        #expect(report.integrity == "ok")
        #expect(report.schemaVersion == Schema.currentVersion)
        #expect(report.bytes > 0)

        let copy = try LogWriter(path: dir.file("copy.db"))
        let topic = try #require(copy.topics["t"])
        #expect(topic.partitions[1].state.nextOffset == 11)
        let copyReader = try LogReader(path: dir.file("copy.db"))
        let original = try reader.readRecords(partitionID: topic.partitions[1].id, from: 0, maxRecords: 100, maxBytes: 1 << 20).records
        let copied = try copyReader.readRecords(partitionID: topic.partitions[1].id, from: 0, maxRecords: 100, maxBytes: 1 << 20).records
        #expect(copied == original)
        #expect(copied.count == 11)
        #expect(try copyReader.committedOffsets(group: "g").map(\.offset) == [3])

        // The copy carries the logs' guards: Brook appends to it, a plain connection cannot, and
        // a plain connection's integrity check passes.
        #expect(try append(copy, "t", 1, values(1)) == 11)
        let plain = PlainSQLite(dir.file("copy.db"))
        #expect(plain.rows("PRAGMA integrity_check") == [["ok"]])
        let table = "__brook_records_\(topic.id)"
        let refused = plain.exec("INSERT INTO \(table) VALUES ((1 << 49) + 12, 0, NULL, NULL, 'forged')")
        #expect(refused?.contains("written only by Brook") == true, "\(refused ?? "INSERT succeeded")")
    }

    @Test func backupRefusesAnExistingDestination() throws {
        let dir = TemporaryDirectory()
        _ = try LogWriter(path: dir.file("live.db"))
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: dir.file("taken.db")))
        let reader = try LogReader(path: dir.file("live.db"))
        expectBrookError(.invalidRequest) { try reader.backup(to: dir.file("taken.db")) }
        #expect(try String(contentsOfFile: dir.file("taken.db"), encoding: .utf8) == "keep me")
    }
}

struct ReadOnlySQLTests {
    /// The writer stays open beside the SQL connection, as in the broker.
    static func fixture() throws -> (TemporaryDirectory, ReadOnlySQL, LogWriter) {
        let dir = TemporaryDirectory()
        let writer = try LogWriter(path: dir.file("t.db"))
        try writer.createTopic("orders", partitions: 2, config: TopicConfig())
        try append(writer, "orders", 0, [ProducerRecord(key: "u1", value: "a"), ProducerRecord(key: "u2", value: "b")])
        try append(writer, "orders", 1, [ProducerRecord(key: [0, 1], value: nil)])
        return (dir, try ReadOnlySQL(path: dir.file("t.db")), writer)
    }

    @Test func selectsReturnTypedRows() throws {
        let (dir, sql, writer) = try Self.fixture()
        defer { withExtendedLifetime((dir, writer)) {} }
        let result = try sql.query("SELECT partition, offset, key, value, 1.5 AS ratio FROM orders ORDER BY partition, offset")
        #expect(result.columns == ["partition", "offset", "key", "value", "ratio"])
        #expect(result.rows == [
            [.integer(0), .integer(0), .text("u1"), .text("a"), .real(1.5)],
            [.integer(0), .integer(1), .text("u2"), .text("b"), .real(1.5)],
            [.integer(1), .integer(0), .blob([0, 1]), .null, .real(1.5)],
        ])
        #expect(!result.truncated)
        let limited = try sql.query("SELECT * FROM orders", maxRows: 2)
        #expect(limited.rows.count == 2 && limited.truncated)
        #expect(try sql.query("PRAGMA table_info(orders)").rows.count == 6)
        #expect(try sql.query("PRAGMA user_version").rows == [[.integer(Int64(Schema.currentVersion))]])
    }

    @Test(arguments: [
        "INSERT INTO __brook_topics (name, retention_ms, retention_bytes, max_message_bytes, created_ms) VALUES ('x', 1, 1, 1, 1)",
        "UPDATE __brook_partitions SET next_offset = 0",
        "DELETE FROM __brook_committed_offsets",
        "DROP TABLE __brook_topics",
        "CREATE TABLE evil (x)",
        "ATTACH DATABASE '/tmp/brook-attack.db' AS other",
        "PRAGMA user_version = 7",
        "PRAGMA query_only = 0",
        "PRAGMA journal_mode = DELETE",
        "PRAGMA writable_schema = 1",
        "VACUUM",
        "REINDEX",
        "ANALYZE",
        "BEGIN",
        "SELECT load_extension('/tmp/x.so')",
    ])
    func refusesAnythingButReads(_ statement: String) throws {
        let (dir, sql, writer) = try Self.fixture()
        defer { withExtendedLifetime(writer) {} }
        do {
            _ = try sql.query(statement)
            Issue.record("'\(statement)' was allowed")
        } catch {
            #expect(error.code == .notAuthorized || error.code == .invalidSQL, "\(error)")
        }
        let plain = PlainSQLite(dir.file("t.db"))
        #expect(plain.rows("SELECT count(*) FROM orders") == [["3"]])
        #expect(plain.rows("PRAGMA user_version") == [["\(Schema.currentVersion)"]])
        #expect(plain.rows("SELECT count(*) FROM __brook_topics") == [["1"]])
        #expect(!FileManager.default.fileExists(atPath: "/tmp/brook-attack.db"))
    }

    @Test func refusesMoreThanOneStatementAndBadSQL() throws {
        let (dir, sql, writer) = try Self.fixture()
        defer { withExtendedLifetime((dir, writer)) {} }
        expectBrookError(.invalidSQL) { try sql.query("SELECT 1; DELETE FROM __brook_topics") }
        expectBrookError(.invalidSQL) { try sql.query("SELEC 1") }
        expectBrookError(.invalidSQL) { try sql.query("SELECT * FROM no_such_table") }
        #expect(try sql.query("SELECT 1; -- trailing comment\n").rows == [[.integer(1)]])
    }

    @Test func runawayQueryStopsAtItsTimeLimit() throws {
        let (dir, sql, writer) = try Self.fixture()
        defer { withExtendedLifetime((dir, writer)) {} }
        do {
            _ = try sql.query("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n", timeoutMs: 200)
            Issue.record("an endless query returned")
        } catch {
            #expect(error.code == .requestTimedOut)
            #expect(error.message.contains("200 ms"))
        }
        #expect(try sql.query("SELECT 42").rows == [[.integer(42)]], "the connection is usable after a timeout")
    }

    /// A result is bounded in bytes, not only in rows: many large rows, and one value larger than
    /// the whole limit (which SQLite then refuses to build), both fail with RESULT_TOO_LARGE.
    @Test func resultsAreBoundedInBytes() throws {
        let (dir, sql, writer) = try Self.fixture()
        defer { withExtendedLifetime((dir, writer)) {} }
        let hundredRows = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n LIMIT 100) "
        expectBrookError(.resultTooLarge, containing: "max_sql_result_bytes=3000000 after 2 rows") {
            _ = try sql.query(hundredRows + "SELECT zeroblob(1000000) FROM n", maxResultBytes: 3_000_000)
        }
        expectBrookError(.resultTooLarge, containing: "max_sql_result_bytes=3000000 after 0 rows") {
            _ = try sql.query("SELECT zeroblob(5000000)", maxResultBytes: 3_000_000)
        }
        #expect(try sql.query(hundredRows + "SELECT length(zeroblob(1000000)) FROM n", maxResultBytes: 3_000_000).rows.count == 100)
        #expect(try sql.query(hundredRows + "SELECT zeroblob(1000) FROM n", maxResultBytes: 3_000_000).rows.count == 100)
    }

    /// `fts3_tokenizer` hands out the address of a tokenizer in the server's memory (and takes
    /// one to install); the SQL connection refuses it.
    @Test func functionsThatRevealMemoryAddressesAreRefused() throws {
        let (dir, sql, writer) = try Self.fixture()
        defer { withExtendedLifetime((dir, writer)) {} }
        let functions = try sql.query("PRAGMA function_list").rows.map { $0.first }
        try #require(functions.contains(.text("fts3_tokenizer")), "this SQLite build has fts3_tokenizer, so the refusal is what stops it")
        for statement in [
            "SELECT hex(fts3_tokenizer('simple'))", "SELECT FTS3_TOKENIZER('porter')",
            "SELECT fts3_tokenizer('simple', x'0000000000000000')", "SELECT load_extension('/tmp/x')",
        ] {
            expectBrookError(.notAuthorized) { _ = try sql.query(statement) }
        }
        #expect(try sql.query("SELECT hex('a')").rows == [[.text("61")]])
    }
}
