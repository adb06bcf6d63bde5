import BrookBroker
import BrookModel
import BrookClient
import BrookTestSupport
import Foundation
import Testing

/// What outside processes, links and hand edits on the live database file cannot do to
/// acknowledged records (docs/storage.md, docs/guarantees.md). Real `brook serve` processes, real
/// links and the real `sqlite3` shell.
struct StorageHardeningTests {
    /// A second `brook serve` through a hard link or a symbolic link to the file of a running one
    /// is refused: the lock is on the file (its inode), not on the path.
    @Test func aSecondServerThroughAHardOrSymbolicLinkIsRefused() async throws {
        let dir = TemporaryDirectory("brook-links")
        let server = try await CLI.Server(db: dir.file("brook.db"), in: dir)
        try FileManager.default.createDirectory(atPath: dir.file("elsewhere"), withIntermediateDirectories: false)
        let hard = dir.file("elsewhere/hard.db")
        let symbolic = dir.file("elsewhere/symbolic.db")
        try FileManager.default.linkItem(atPath: dir.file("brook.db"), toPath: hard)
        try FileManager.default.createSymbolicLink(atPath: symbolic, withDestinationPath: dir.file("brook.db"))
        for link in [hard, symbolic] {
            let second = try await CLI.run(["serve", "--db", link, "--port", "0", "--no-kafka", "--no-http"], in: dir)
            #expect(second.status != 0)
            #expect(
                second.stderr.contains("brook: STORAGE_ERROR '\(link)' is in use by another Brook process (pid \(server.process.processIdentifier))"),
                "\(second.stderr)")
        }
        #expect(try await server.stop() == 0)
        // Once the first has stopped, the file opens through either link.
        let again = try await CLI.Server(db: hard, in: dir)
        #expect(try await again.stop() == 0)
    }
}

extension StorageHardeningTests {
    /// The stock `sqlite3` shell, which these tests need on PATH (Debian: `apt-get install sqlite3`).
    static func sqlite3Shell() throws -> String {
        let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
        let found = directories.map { "\($0)/sqlite3" }.first { FileManager.default.isExecutableFile(atPath: $0) }
        return try #require(found, "the sqlite3 shell is not on PATH; install it (Debian: apt-get install sqlite3)")
    }

    /// Runs one SQL text in the `sqlite3` shell on `db`.
    static func shell(_ db: String, _ sql: String, in dir: TemporaryDirectory) async throws -> CLI.Outcome {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: try sqlite3Shell())
        // Waits for the write lock as a patient user would, rather than failing at once on a busy file.
        process.arguments = ["-bail", "-cmd", ".timeout 10000", db, sql]
        let out = dir.file("sqlite3-out-\(UUID().uuidString)")
        let err = dir.file("sqlite3-err-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: out, contents: nil)
        FileManager.default.createFile(atPath: err, contents: nil)
        process.standardOutputPath = out
        process.standardErrorPath = err
        try await CLI.exit(of: process)
        return CLI.Outcome(
            status: process.terminationStatus, stdout: try String(contentsOfFile: out, encoding: .utf8),
            stderr: try String(contentsOfFile: err, encoding: .utf8))
    }

    /// INSERT, REPLACE, upsert, UPDATE and DELETE from the `sqlite3` shell on a live server's file
    /// are refused with a message that says what to do, while producers to every partition go on:
    /// before, one outside INSERT made every later group commit fail with a UNIQUE error.
    @Test func theSqlite3ShellCannotWriteALiveServersPartitionLogs() async throws {
        let dir = TemporaryDirectory("brook-outside")
        let db = dir.file("brook.db")
        let server = try await CLI.Server(db: db, in: dir)
        let client = try await BrookClient.connect(to: ServerAddress(host: "127.0.0.1", port: server.port))
        try await client.createTopic("t", partitions: 3)
        for partition in 0..<3 {
            _ = try await client.produce(topic: "t", records: [ProducerRecord(key: nil, value: "first", partition: partition)], acks: .all)
        }
        let tables = try await Self.shell(db, "SELECT id FROM __brook_topics WHERE name = 't'", in: dir)
        let ids = tables.stdout.split(separator: "\n").map(String.init)
        try #require(ids.count == 1, "\(tables)")
        // The topic's log table; partition 1's records are positions 1 << 49 + offset.
        let target = "__brook_records_\(ids[0])"
        let partition1 = "\(1 << 49)"

        // Producers to every partition, the tampered one included, while the shell tries.
        let producing = Task {
            try await withThrowingTaskGroup(of: Int.self) { group in
                for partition in 0..<3 {
                    group.addTask {
                        let producer = try await BrookClient.connect(to: ServerAddress(host: "127.0.0.1", port: server.port))
                        for index in 0..<200 {
                            _ = try await producer.produce(topic: "t", records: [ProducerRecord(key: nil, value: "p\(partition)-\(index)", partition: partition)], acks: .all)
                        }
                        await producer.close()
                        return 200
                    }
                }
                return try await group.reduce(0, +)
            }
        }
        let attempts = [
            "INSERT INTO \"\(target)\" (position, timestamp, key, headers, value) VALUES ((SELECT max(position) + 1 FROM \"\(target)\" WHERE position < 2 << 49), 0, NULL, NULL, 'forged')",
            "INSERT INTO \"\(target)\" (position, timestamp, key, headers, value) VALUES (\(partition1) + 1000000, 0, NULL, NULL, 'forged')",
            "REPLACE INTO \"\(target)\" (position, timestamp, key, headers, value) VALUES (\(partition1), 0, NULL, NULL, 'rewritten')",
            "INSERT INTO \"\(target)\" (position, timestamp, key, headers, value) VALUES (\(partition1), 0, NULL, NULL, 'x') ON CONFLICT (position) DO UPDATE SET value = 'upserted'",
        ]
        for sql in attempts {
            let outcome = try await Self.shell(db, sql, in: dir)
            #expect(outcome.status != 0, "\(sql) was accepted")
            #expect(outcome.stderr.contains("Brook partition logs are written only by Brook: produce records with brook produce or a client"), "\(outcome.stderr)")
        }
        let update = try await Self.shell(db, "UPDATE \"\(target)\" SET value = 'tampered' WHERE position = \(partition1)", in: dir)
        #expect(update.status != 0 && update.stderr.contains("Brook partition logs are append-only and written only by Brook"), "\(update)")
        let deletion = try await Self.shell(db, "DELETE FROM \"\(target)\" WHERE position = \(partition1)", in: dir)
        #expect(deletion.status != 0 && deletion.stderr.contains("retention deletes old records"), "\(deletion)")
        // The retention gate of older versions, whose row let a DELETE through, opens nothing.
        let gate = try await Self.shell(db, """
            BEGIN;
            CREATE TABLE IF NOT EXISTS __brook_retention_gate (open INTEGER NOT NULL);
            INSERT INTO __brook_retention_gate VALUES (1);
            DELETE FROM "\(target)" WHERE position = \(partition1);
            """, in: dir)
        #expect(gate.status != 0 && gate.stderr.contains("retention deletes old records"), "\(gate)")
        #expect(try await producing.value == 600, "every produce, to every partition, was acknowledged")

        for partition in 0..<3 {
            let fetched = try await client.fetch(topic: "t", partition: partition, offset: 0, maxRecords: 1000)
            #expect(fetched.records.map { String(decoding: $0.value ?? [], as: UTF8.self) } == ["first"] + (0..<200).map { "p\(partition)-\($0)" })
        }
        await client.close()
        #expect(try await server.stop() == 0)
    }
}

extension StorageHardeningTests {
    /// `rm -rf` of a live server's data directory: the next acks=all produce is refused with
    /// `STORAGE_ERROR`, not acknowledged into deleted files.
    @Test func aServerWhoseDataDirectoryIsDeletedRefusesProduces() async throws {
        let dir = TemporaryDirectory("brook-vanish")
        try FileManager.default.createDirectory(atPath: dir.file("data"), withIntermediateDirectories: false)
        let server = try await CLI.Server(db: dir.file("data/brook.db"), in: dir)
        let client = try await BrookClient.connect(to: ServerAddress(host: "127.0.0.1", port: server.port))
        try await client.createTopic("t")
        _ = try await client.produce(topic: "t", records: [ProducerRecord(key: nil, value: "kept")], acks: .all)
        let removal = ChildProcess()
        removal.executableURL = URL(fileURLWithPath: "/bin/rm")
        removal.arguments = ["-rf", dir.file("data")]
        try await CLI.exit(of: removal)
        #expect(removal.terminationStatus == 0)
        do {
            _ = try await client.produce(topic: "t", records: [ProducerRecord(key: nil, value: "lost")], acks: .all)
            Issue.record("a produce was acknowledged after the data directory was deleted")
        } catch let error as BrookError {
            #expect(error.code == .storageError)
            #expect(error.message.contains("is no longer the file this broker opened"), "\(error.message)")
        }
        try await client.ping()
        await client.close()
        _ = try await server.stop()
    }
}

extension StorageHardeningTests {
    /// What the `sqlite3` shell drops on a stopped server's file is put back, or set aside, at the
    /// next start: a dropped view is recreated, a log table recreated by hand gets its
    /// append-only triggers back, and a dropped log table leaves out its one topic, with an error
    /// naming it, instead of keeping the broker from starting.
    @Test func theNextStartRepairsWhatTheSqlite3ShellDropped() async throws {
        let dir = TemporaryDirectory("brook-drops")
        let db = dir.file("brook.db")
        let server = try await CLI.Server(db: db, in: dir)
        var client = try await BrookClient.connect(to: ServerAddress(host: "127.0.0.1", port: server.port))
        for topic in ["viewless", "recreated", "dropped"] {
            try await client.createTopic(topic, partitions: 2)
            _ = try await client.produce(topic: topic, records: [ProducerRecord(key: nil, value: "kept", partition: 0)], acks: .all)
        }
        await client.close()
        #expect(try await server.stop() == 0)

        func table(_ topic: String) async throws -> String {
            let id = try await Self.shell(db, "SELECT id FROM __brook_topics WHERE name = '\(topic)'", in: dir)
            return "__brook_records_\(id.stdout.trimmingCharacters(in: .whitespacesAndNewlines))"
        }
        let recreated = try await table("recreated")
        let dropped = try await table("dropped")
        let drops = try await Self.shell(db, """
            DROP VIEW viewless;
            DROP TABLE "\(recreated)";
            CREATE TABLE "\(recreated)" (position INTEGER PRIMARY KEY, timestamp INTEGER NOT NULL, key BLOB, headers TEXT, value BLOB);
            DROP TABLE "\(dropped)";
            """, in: dir)
        try #require(drops.status == 0, "\(drops)")

        let restarted = try await CLI.Server(db: db, in: dir)
        let log = try String(contentsOfFile: restarted.log, encoding: .utf8)
        #expect(log.contains("recreated the view of topic 'viewless'"), "\(log)")
        #expect(log.contains("restored the append-only triggers of \(recreated) (topic 'recreated')"), "\(log)")
        #expect(log.contains("topic 'dropped' is unavailable: its log table \(dropped) is missing"), "\(log)")
        client = try await BrookClient.connect(to: ServerAddress(host: "127.0.0.1", port: restarted.port))
        #expect(try await client.listTopics().map(\.name) == ["recreated", "viewless"])
        let view = try await client.query("SELECT count(*) FROM viewless")
        #expect(view.rows == [[.integer(1)]])
        let forged = try await Self.shell(db, "INSERT INTO \"\(recreated)\" (position, timestamp, key, headers, value) VALUES (0, 0, NULL, NULL, 'forged')", in: dir)
        #expect(forged.status != 0 && forged.stderr.contains("Brook partition logs are written only by Brook"), "\(forged)")
        #expect(try await client.produce(topic: "recreated", records: [ProducerRecord(key: nil, value: "new", partition: 0)], acks: .all).first?.offset == 1)
        await expectBrookError(.corruptDatabase, containing: "topic 'dropped' is unavailable") {
            try await client.produce(topic: "dropped", records: [ProducerRecord(key: nil, value: "x", partition: 0)], acks: .all)
        }
        await expectBrookError(.corruptDatabase, containing: "topic 'dropped' is unavailable") { try await client.createTopic("dropped") }
        // Deleting it clears it, and the name is free again.
        try await client.deleteTopic("dropped")
        try await client.createTopic("dropped")
        #expect(try await client.describeTopic("dropped").partitions.count == 1)
        await client.close()
        #expect(try await restarted.stop() == 0)
    }
}

extension StorageHardeningTests {
    /// While the database file cannot grow (a full disk; here the process's file-size limit,
    /// `ulimit -f`, with SIGXFSZ ignored so that a write past it fails as on a full disk), every
    /// background checkpoint fails. The log says so once a minute with a count, not once per commit.
    @Test func checkpointFailuresOnAFullDiskAreNotLoggedOncePerCommit() async throws {
        let dir = TemporaryDirectory("brook-full")
        let db = dir.file("brook.db")
        let value = [UInt8](repeating: 1, count: 65_536)
        // First 20 MiB of records, written and checkpointed into the file by a clean stop.
        let first = try await CLI.Server(db: db, in: dir)
        var client = try await BrookClient.connect(to: ServerAddress(host: "127.0.0.1", port: first.port))
        try await client.createTopic("t")
        for _ in 0..<32 {
            _ = try await client.produce(topic: "t", records: (0..<10).map { _ in ProducerRecord(key: nil, value: value) })
        }
        await client.close()
        #expect(try await first.stop() == 0)
        // Then files may grow to 1 MiB past the database's size: the WAL passes the checkpoint
        // threshold (16 MiB), and every checkpoint fails once it has grown the file by 1 MiB.
        let size = try #require(try FileManager.default.attributesOfItem(atPath: db)[.size] as? Int)
        try #require(size >= 20 * 1_048_576, "\(size)")
        let server = try await CLI.Server(db: db, in: dir, shellSetup: "trap '' XFSZ; ulimit -f \(size / 512 + 2_048)")
        client = try await BrookClient.connect(to: ServerAddress(host: "127.0.0.1", port: server.port))
        var commits = 0
        var refusal: BrookError?
        while refusal == nil && commits < 5_000 {
            do {
                _ = try await client.produce(topic: "t", records: [ProducerRecord(key: nil, value: value)])
                commits += 1
            } catch let error as BrookError {
                refusal = error
            }
        }
        let refused = try #require(refusal, "the file never filled after \(commits) commits")
        #expect(refused.code == .storageError, "\(refused)")
        await client.close()
        let log = try String(contentsOfFile: server.log, encoding: .utf8)
        let failures = log.split(separator: "\n").filter { $0.contains("WAL checkpoint failed") }
        try #require(!failures.isEmpty, "no checkpoint failed: \(log.suffix(2_000))")
        // One line from each of the two places that checkpoint (the checkpointer thread and the writer).
        #expect(failures.count <= 2, "\(failures.count) lines over \(commits) commits: \(failures.prefix(3))")
        _ = try await server.stop(signal: SIGKILL)
    }
}

extension StorageHardeningTests {
    /// Headers are JSON in a topic's view, so `json_each` and `json_extract` work in the stock
    /// `sqlite3` shell: `[["src","web"],["trace","a1"]]`, with bytes that are not text as
    /// `{"base64":"…"}`. Fetches read back exactly the bytes produced. Before, the view showed an
    /// opaque blob.
    @Test func headersAreJSONInTheSqlite3Shell() async throws {
        let dir = TemporaryDirectory("brook-headers")
        let db = dir.file("brook.db")
        let server = try await CLI.Server(db: db, in: dir)
        let client = try await BrookClient.connect(to: ServerAddress(host: "127.0.0.1", port: server.port))
        try await client.createTopic("t")
        let records = [
            ProducerRecord(key: nil, value: "a", headers: [Header("src", "web"), Header("trace", "a1")]),
            ProducerRecord(key: nil, value: "b", headers: [Header("bin", [0xFF, 0x00, 0x10]), Header("quote", "say \"hi\"\n\u{E9}")]),
            ProducerRecord(key: nil, value: "c"),
        ]
        _ = try await client.produce(topic: "t", records: records, acks: .all)

        let stored = try await Self.shell(db, "SELECT offset, headers FROM t ORDER BY offset", in: dir)
        #expect(stored.stdout == #"""
            0|[["src","web"],["trace","a1"]]
            1|[["bin",{"base64":"/wAQ"}],["quote","say \"hi\"\n\#u{E9}"]]
            2|

            """#, "\(stored)")
        let each = try await Self.shell(db, "SELECT t.offset, e.value ->> 0, e.value ->> 1 FROM t, json_each(t.headers) AS e ORDER BY t.offset, e.key", in: dir)
        #expect(each.stdout == "0|src|web\n0|trace|a1\n1|bin|{\"base64\":\"/wAQ\"}\n1|quote|say \"hi\"\n\u{E9}\n", "\(each)")
        let extract = try await Self.shell(db, "SELECT json_extract(headers, '$[1][1]'), json_extract(headers, '$[0][1].base64') FROM t WHERE offset = 1", in: dir)
        #expect(extract.stdout == "say \"hi\"\n\u{E9}|/wAQ\n", "\(extract)")
        let found = try await Self.shell(db, "SELECT offset FROM t WHERE EXISTS (SELECT 1 FROM json_each(t.headers) e WHERE e.value ->> 0 = 'trace' AND e.value ->> 1 = 'a1')", in: dir)
        #expect(found.stdout == "0\n", "\(found)")

        let fetched = try await client.fetch(topic: "t", partition: 0, offset: 0)
        #expect(fetched.records.map(\.headers) == records.map(\.headers))
        await client.close()
        #expect(try await server.stop() == 0)
    }
}
