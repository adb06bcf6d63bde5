import BrookBroker
import BrookModel
import BrookTestSupport
import Foundation
import Testing

struct TopicAndOffsetTests {
    @Test func adminThroughTheBroker() async throws {
        let dir = TemporaryDirectory()
        let broker = try openBroker(dir)
        try await broker.createTopic("a", partitions: 2, config: TopicConfig(retentionMs: 60_000))
        try await broker.createTopic("b")
        #expect(try broker.listTopics().map(\.name) == ["a", "b"])
        await expectBrookError(.topicAlreadyExists) { try await broker.createTopic("a") }
        await expectBrookError(.invalidTopic) { try await broker.createTopic("no/slash") }
        try await broker.produce(topic: "a", records: [ProducerRecord(key: nil, value: "x", partition: 1)])
        try await broker.addPartitions("a", count: 4)
        let described = try broker.describeTopic("a")
        #expect(described.partitions.map(\.state.recordCount) == [0, 1, 0, 0])
        #expect(described.config.retentionMs == 60_000)
        // A new partition takes records at once.
        #expect(try await broker.produce(topic: "a", records: [ProducerRecord(key: nil, value: "y", partition: 3)]) == [RecordPosition(partition: 3, offset: 0)])
        try await broker.alterTopic("a", config: TopicConfig(retentionBytes: 1_000))
        #expect(try broker.describeTopic("a").config.retentionBytes == 1_000)
        try await broker.deleteTopic("b")
        await expectBrookError(.unknownTopic) { try broker.describeTopic("b") }
        await expectBrookError(.unknownTopic) { try await broker.deleteTopic("b") }
        await broker.close()
    }

    @Test func listOffsetsEarliestLatestAndByTime() async throws {
        let dir = TemporaryDirectory()
        let broker = try openBroker(dir)
        try await broker.createTopic("t")
        try await broker.produce(topic: "t", records: [10, 20, 30].map { ProducerRecord(key: nil, value: "x", timestamp: $0) })
        #expect(try await broker.listOffset(topic: "t", partition: 0, .earliest)?.offset == 0)
        #expect(try await broker.listOffset(topic: "t", partition: 0, .latest)?.offset == 3)
        #expect(try await broker.listOffset(topic: "t", partition: 0, .timestamp(15)) == ListedOffset(offset: 1, timestamp: 20))
        #expect(try await broker.listOffset(topic: "t", partition: 0, .timestamp(31)) == nil)
        await broker.close()
    }

    @Test func committedOffsetsPersistAndAreChecked() async throws {
        let dir = TemporaryDirectory()
        do {
            let broker = try openBroker(dir)
            try await broker.createTopic("t", partitions: 2)
            try await broker.commitOffsets(group: "billing", [OffsetCommit(topic: "t", partition: 0, offset: 4, metadata: "m"), OffsetCommit(topic: "t", partition: 1, offset: 2)])
            try await broker.commitOffsets(group: "billing", [OffsetCommit(topic: "t", partition: 0, offset: 6)], durable: true)
            await expectBrookError(.unknownTopic) { try await broker.commitOffsets(group: "billing", [OffsetCommit(topic: "x", partition: 0, offset: 1)]) }
            await expectBrookError(.unknownPartition) { try await broker.commitOffsets(group: "billing", [OffsetCommit(topic: "t", partition: 2, offset: 1)]) }
            await expectBrookError(.invalidRequest) { try await broker.commitOffsets(group: "billing", [OffsetCommit(topic: "t", partition: 0, offset: -3)]) }
            await expectBrookError(.invalidRequest) { try await broker.commitOffsets(group: "", [OffsetCommit(topic: "t", partition: 0, offset: 1)]) }
            await broker.close()
        }
        let broker = try openBroker(dir)
        let offsets = try await broker.committedOffsets(group: "billing")
        #expect(offsets.map { "\($0.topic)-\($0.partition)@\($0.offset):\($0.metadata)" } == ["t-0@6:", "t-1@2:"])
        await broker.close()
    }

    @Test func recordsAndOffsetsSurviveReopen() async throws {
        let dir = TemporaryDirectory()
        do {
            let broker = try openBroker(dir)
            try await broker.createTopic("t", partitions: 2)
            try await broker.produce(topic: "t", records: (0..<5).map { ProducerRecord(key: nil, value: "v\($0)", partition: 1) }, acks: .all)
            await broker.close()
        }
        let broker = try openBroker(dir)
        #expect(broker.openReport.appliedMigrations.isEmpty)
        #expect(broker.openReport.recoveredCounters.isEmpty, "closing saved the counters")
        #expect(try await broker.fetch(topic: "t", partition: 1, offset: 0).records.count == 5)
        #expect(try await broker.produce(topic: "t", records: [ProducerRecord(key: nil, value: "next", partition: 1)]) == [RecordPosition(partition: 1, offset: 5)])
        await broker.close()
    }

    /// An idle writer saves the counters' rows once the save interval passes, so plain SQL
    /// sees them current.
    @Test func anIdleBrokerSavesItsCountersForSQL() async throws {
        let dir = TemporaryDirectory()
        let interval = Duration.seconds(2)
        let opened = ContinuousClock.now
        let broker = try openBroker(dir) { $0.counterSaveInterval = interval }
        try await broker.createTopic("t")
        try await broker.produce(topic: "t", records: (0..<3).map { ProducerRecord(key: nil, value: "v\($0)") })
        let plain = PlainSQLite(dir.file("b.db"))
        let row = { plain.rows("SELECT next_offset, bytes FROM __brook_partitions") }
        let first = row()
        // Only a read made within the interval of the open proves the commit left the row alone
        // (on a loaded machine the produce itself can take longer than the interval).
        if ContinuousClock.now - opened < interval {
            #expect(first == [["0", "0"]], "the produce's commit, within the interval, left the row alone")
        }
        let deadline = ContinuousClock.now + .seconds(10)
        while row() != [["3", "6"]] && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(row() == [["3", "6"]])
        await broker.close()
    }

    @Test func closedBrokerRefusesRequests() async throws {
        let dir = TemporaryDirectory()
        let broker = try openBroker(dir)
        try await broker.createTopic("t")
        await broker.close()
        await broker.close()
        await expectBrookError(.brokerNotAvailable) { try await broker.produce(topic: "t", records: [ProducerRecord(key: nil, value: "x")]) }
        await expectBrookError(.brokerNotAvailable) { try await broker.fetch(topic: "t", partition: 0, offset: 0) }
    }

    @Test func refusesForeignFiles() throws {
        let dir = TemporaryDirectory()
        try Data(repeating: 0x42, count: 4096).write(to: URL(fileURLWithPath: dir.file("junk.db")))
        do {
            _ = try openBroker(dir, "junk.db")
            Issue.record("a junk file was opened")
        } catch let error as BrookError {
            #expect(error.code == .notABrookDatabase)
            #expect(error.message.contains("junk.db"))
        }
    }
}

struct RetentionSchedulerTests {
    @Test func schedulerPrunesWhileProducersKeepGoing() async throws {
        let dir = TemporaryDirectory()
        let broker = try openBroker(dir) {
            $0.retentionCheckIntervalMs = 100
            $0.retentionChunkRecords = 50
        }
        // The old records are ten minutes past a one-minute retention; the fresh ones cannot
        // expire while the test runs, however slow the machine.
        try await broker.createTopic("t", config: TopicConfig(retentionMs: 60_000))
        let old = WallClock.nowMillis() - 600_000
        try await broker.produce(topic: "t", records: (0..<500).map { ProducerRecord(key: nil, value: "old\($0)", timestamp: old) })
        // Fresh records keep arriving while the scheduler prunes the old ones in chunks.
        for round in 0..<20 {
            try await broker.produce(topic: "t", records: [ProducerRecord(key: nil, value: "new\(round)")])
            try await Task.sleep(for: .milliseconds(20))
        }
        let deadline = ContinuousClock.now + .seconds(20)
        while try broker.describeTopic("t").partitions[0].state.logStartOffset < 500, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        let state = try broker.describeTopic("t").partitions[0].state
        #expect(state.logStartOffset == 500, "every old record pruned, no new one")
        #expect(state.nextOffset == 520)
        await expectBrookError(.offsetOutOfRange) { try await broker.fetch(topic: "t", partition: 0, offset: 10) }
        #expect(try await broker.fetch(topic: "t", partition: 0, offset: 500).records.first?.value == bytes("new0"))
        await broker.close()
    }

    @Test func emptiedPartitionKeepsItsOffsetsAcrossReopen() async throws {
        let dir = TemporaryDirectory()
        do {
            let broker = try openBroker(dir)
            try await broker.createTopic("t", config: TopicConfig(retentionMs: 1_000))
            try await broker.produce(topic: "t", records: (0..<30).map { _ in ProducerRecord(key: nil, value: "x", timestamp: 1) })
            let report = try await broker.runRetention()
            #expect(report.deletedRecords == 30 && report.partitionsPruned == 1)
            #expect(try broker.describeTopic("t").partitions[0].state == PartitionState(logStartOffset: 30, nextOffset: 30, bytes: 0))
            await broker.close()
        }
        let broker = try openBroker(dir)
        #expect(try await broker.listOffset(topic: "t", partition: 0, .earliest)?.offset == 30)
        #expect(try await broker.produce(topic: "t", records: [ProducerRecord(key: nil, value: "after")]) == [RecordPosition(partition: 0, offset: 30)])
        await broker.close()
    }

    /// Retention publishes new counters for the partition, which wakes its long polls with no
    /// new data; they wait again and must still end at their deadline, with no records. The
    /// deadline is on a clock the test moves, so a loaded machine cannot pass it early.
    @Test func aLongPollWokenWithoutDataStillEndsAtItsDeadline() async throws {
        let dir = TemporaryDirectory()
        let clock = ManualClock()
        let broker = try openBroker(dir) { $0.clock = clock }
        try await broker.createTopic("t", config: TopicConfig(retentionMs: 1_000))
        try await broker.produce(topic: "t", records: (0..<30).map { _ in ProducerRecord(key: nil, value: "x", timestamp: 1) })
        async let waited = broker.fetch(topic: "t", partition: 0, offset: 30, maxWait: .milliseconds(800))
        try #require(try await eventually { broker.waitingFetches == 1 }, "the fetch waits")
        #expect(try await broker.runRetention().deletedRecords == 30)
        #expect(try await eventually { broker.waitingFetches == 1 }, "woken by retention's counters, it waits again")
        clock.advance(by: .milliseconds(799))
        #expect(broker.waitingFetches == 1, "still before its deadline")
        clock.advance(by: .milliseconds(1))
        let fetched = try await waited
        #expect(fetched.records.isEmpty && fetched.logStartOffset == 30 && fetched.highWatermark == 30)
        #expect(broker.waitingFetches == 0)
        await broker.close()
    }

    @Test func retentionBytesHoldsEachPartitionNearItsLimit() async throws {
        let dir = TemporaryDirectory()
        let broker = try openBroker(dir)
        try await broker.createTopic("t", partitions: 2, config: TopicConfig(retentionMs: -1, retentionBytes: 1_000))
        for partition in 0..<2 {
            try await broker.produce(topic: "t", records: (0..<100).map { _ in ProducerRecord(key: nil, value: Array(repeating: 7, count: 100), partition: partition) })
        }
        try await broker.runRetention()
        for partition in try broker.describeTopic("t").partitions {
            #expect(partition.state.bytes == 1_000)
            #expect(partition.state.logStartOffset == 90)
        }
        await broker.close()
    }
}

struct BackupAndSQLTests {
    @Test func backupWhileProducingOpensWithEveryRecordUpToTheBackup() async throws {
        let dir = TemporaryDirectory()
        let broker = try openBroker(dir)
        try await broker.createTopic("t", partitions: 2)
        try await broker.produce(topic: "t", records: (0..<200).map { ProducerRecord(key: "k\($0)", value: "v\($0)") })
        try await broker.commitOffsets(group: "g", [OffsetCommit(topic: "t", partition: 0, offset: 7)])
        let producer = Task {
            var sent = 0
            while !Task.isCancelled {
                try await broker.produce(topic: "t", records: (0..<50).map { _ in ProducerRecord(key: nil, value: "during") })
                sent += 50
            }
            return sent
        }
        try await Task.sleep(for: .milliseconds(50))
        let report = try await broker.backup(to: dir.file("backup.db"))
        producer.cancel()
        _ = try? await producer.value
        #expect(report.integrity == "ok")
        await broker.close()

        let restored = try openBroker(dir, "backup.db")
        let topic = try restored.describeTopic("t")
        #expect(topic.partitions.map(\.state.recordCount).reduce(0, +) >= 200)
        for partition in topic.partitions {
            let records = try await restored.fetch(topic: "t", partition: partition.index, offset: 0, maxRecords: 100_000, maxBytes: 1 << 30).records
            #expect(Int64(records.count) == partition.state.recordCount, "counters agree with the copied log")
            #expect(records.map(\.offset) == Array(0..<Int64(records.count)), "no gaps")
        }
        #expect(try await restored.committedOffsets(group: "g").map(\.offset) == [7])
        await restored.close()
    }

    @Test func readOnlySQLThroughTheBroker() async throws {
        let dir = TemporaryDirectory()
        let broker = try openBroker(dir)
        try await broker.createTopic("orders", partitions: 3)
        try await broker.produce(topic: "orders", records: (0..<30).map { ProducerRecord(key: "u\($0 % 3)", value: "{\"n\": \($0)}") })
        let result = try await broker.query("SELECT key, count(*), sum(json_extract(value, '$.n')) FROM orders GROUP BY key ORDER BY key")
        #expect(result.rows == [
            [.text("u0"), .integer(10), .integer(135)], [.text("u1"), .integer(10), .integer(145)],
            [.text("u2"), .integer(10), .integer(155)],
        ])
        await expectBrookError(.notAuthorized) { try await broker.query("DELETE FROM __brook_committed_offsets") }
        #expect(try await broker.query("SELECT * FROM orders", maxRows: 5).rows.count == 5)
        await broker.close()
    }
}

struct FileLockTests {
    @Test func aSecondBrokerOnTheSameFileIsRefusedUntilTheFirstCloses() async throws {
        let dir = TemporaryDirectory()
        let first = try openBroker(dir)
        do {
            _ = try openBroker(dir)
            Issue.record("a second broker opened a file in use")
        } catch let error as BrookError {
            #expect(error.code == .storageError)
            #expect(error.message.contains("in use by another Brook process (pid \(getpid()))"), "\(error.message)")
        }
        await first.close()
        let second = try openBroker(dir)
        await second.close()
        withExtendedLifetime(first) {}
    }

    /// The lock belongs to the file, not to the path: a hard or symbolic link reaches the same
    /// file, and SQLite would give a second writer through a hard link a WAL of its own.
    @Test func aSecondBrokerThroughAHardOrSymbolicLinkIsRefused() async throws {
        let dir = TemporaryDirectory()
        let first = try openBroker(dir)
        try await first.createTopic("t")
        try FileManager.default.linkItem(atPath: dir.file("b.db"), toPath: dir.file("hard.db"))
        try FileManager.default.createSymbolicLink(atPath: dir.file("symbolic.db"), withDestinationPath: dir.file("b.db"))
        for name in ["hard.db", "symbolic.db"] {
            do {
                _ = try openBroker(dir, name)
                Issue.record("a second broker opened the file in use through \(name)")
            } catch let error as BrookError {
                #expect(error.code == .storageError)
                #expect(error.message.contains("'\(dir.file(name))' is in use by another Brook process (pid \(getpid()))"), "\(error.message)")
            }
        }
        // The first broker's file is untouched and serves on.
        #expect(try await first.produce(topic: "t", records: [ProducerRecord(key: nil, value: "v")]).first?.offset == 0)
        await first.close()
        let second = try openBroker(dir, "hard.db")
        #expect(try second.describeTopic("t").partitions[0].state.nextOffset == 1)
        await second.close()
    }

    /// A database deleted (with its directory), renamed or replaced under a running broker: it
    /// refuses writes with an error naming the path and saying what to do, and reports not ready.
    /// Before, it kept acknowledging acks=all produces into a file that no restart would open.
    @Test(arguments: ["deleted with its directory", "renamed", "replaced"])
    func aDatabaseThatIsNoLongerAtItsPathRefusesWrites(change: String) async throws {
        let dir = TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir.file("data"), withIntermediateDirectories: false)
        let path = dir.file("data/b.db")
        var options = BrokerOptions()
        options.retentionCheckIntervalMs = 0
        let broker = try Broker(path: path, options: options)
        try await broker.createTopic("t")
        #expect(try await broker.produce(topic: "t", records: [ProducerRecord(key: nil, value: "kept")], acks: .all).first?.offset == 0)
        #expect(broker.health.isReady)

        switch change {
        case "deleted with its directory":
            try FileManager.default.removeItem(atPath: dir.file("data"))
        case "renamed":
            try FileManager.default.moveItem(atPath: path, toPath: dir.file("data/moved.db"))
        default:
            try FileManager.default.moveItem(atPath: path, toPath: dir.file("data/old.db"))
            FileManager.default.createFile(atPath: path, contents: nil)
        }
        await expectBrookError(.storageError) {
            _ = try await broker.produce(topic: "t", records: [ProducerRecord(key: nil, value: "lost")], acks: .all)
        }
        do {
            _ = try await broker.produce(topic: "t", records: [ProducerRecord(key: nil, value: "lost")], acks: .leader)
            Issue.record("a produce was acknowledged after the file was \(change)")
        } catch let error as BrookError {
            #expect(error.message.contains("the database '\(path)' is no longer the file this broker opened"), "\(error.message)")
            #expect(error.message.contains("restart the server on the right file"), "\(error.message)")
        }
        await expectBrookError(.storageError) { _ = try await broker.createTopic("u") }
        #expect(!broker.health.isReady)
        #expect(broker.health.reason?.contains("no longer the file this broker opened") == true)
        await broker.close()
        #expect(broker.health.reason == "the broker is closed")
    }
}

struct DamagedLogTests {
    /// A partition whose records are unreadable below its high watermark: here its table's root
    /// page rewritten as an empty leaf, which SQLite reads as an empty table without an error.
    /// A fetch there is CORRUPT_DATABASE naming the partition and the offset; before, it was an
    /// empty answer at once, even with a max wait, so a consumer stalled or spun.
    @Test func aLogThatLostRecordsBelowItsHighWatermarkIsCorruptNotEmpty() async throws {
        let dir = TemporaryDirectory()
        do {
            let broker = try openBroker(dir)
            try await broker.createTopic("t", partitions: 2)
            try await broker.createTopic("u")
            for partition in 0..<2 {
                _ = try await broker.produce(topic: "t", records: (0..<10).map { ProducerRecord(key: nil, value: "v\($0)", partition: partition) })
            }
            _ = try await broker.produce(topic: "u", records: (0..<10).map { ProducerRecord(key: nil, value: "v\($0)") })
            await broker.close()  // checkpoints everything into the file
        }
        let path = dir.file("b.db")
        let plain = PlainSQLite(path)
        let root = try #require(plain.rows("SELECT rootpage FROM sqlite_schema WHERE name = '__brook_records_1'").first.flatMap { Int($0[0]) })
        let pageSize = try #require(plain.rows("PRAGMA page_size").first.flatMap { Int($0[0]) })
        #expect(plain.rows("SELECT count(*) FROM __brook_records_1") == [["20"]])
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seek(toOffset: UInt64((root - 1) * pageSize))
        // A table leaf with no cells: type 13, no free block, 0 cells, content from the page's end.
        try handle.write(contentsOf: Data([13, 0, 0, 0, 0, UInt8((pageSize >> 8) & 0xFF), UInt8(pageSize & 0xFF), 0]))
        try handle.close()
        #expect(PlainSQLite(path).rows("SELECT count(*) FROM __brook_records_1") == [["0"]], "SQLite reads the damaged table as empty")

        let broker = try openBroker(dir)
        for (offset, wait) in [(Int64(0), Duration.zero), (4, .seconds(30))] {
            do {
                let fetched = try await broker.fetch(topic: "t", partition: 1, offset: offset, maxWait: wait)
                Issue.record("a fetch at \(offset) below the high watermark answered \(fetched.records.count) records")
            } catch let error as BrookError {
                #expect(error.code == .corruptDatabase)
                #expect(error.message.contains("partition t-1 (table __brook_records_1) has no record at offset \(offset), below its high watermark 10"), "\(error.message)")
            }
        }
        // The undamaged topic reads on.
        #expect(try await broker.fetch(topic: "u", partition: 0, offset: 0).records.count == 10)
        await broker.close()
    }

    /// A damaged page met by read-only SQL is CORRUPT_DATABASE, as it is for a fetch
    /// (docs/storage.md), not INVALID_SQL.
    @Test func sqlMeetingADamagedPageIsCorruptDatabase() async throws {
        let dir = TemporaryDirectory()
        do {
            let broker = try openBroker(dir)
            try await broker.createTopic("t")
            for _ in 0..<10 {
                _ = try await broker.produce(topic: "t", records: (0..<100).map { _ in ProducerRecord(key: nil, value: Array(repeating: 66, count: 500)) })
            }
            await broker.close()
        }
        let path = dir.file("b.db")
        let plain = PlainSQLite(path)
        let leaf = try #require(plain.rows("SELECT pageno FROM dbstat WHERE name = '__brook_records_1' AND pagetype = 'leaf' ORDER BY path LIMIT 1").first.flatMap { Int($0[0]) })
        let pageSize = try #require(plain.rows("PRAGMA page_size").first.flatMap { Int($0[0]) })
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seek(toOffset: UInt64((leaf - 1) * pageSize))
        try handle.write(contentsOf: Data(repeating: 0xEE, count: pageSize))
        try handle.close()

        let broker = try openBroker(dir)
        await expectBrookError(.corruptDatabase) { _ = try await broker.query("SELECT count(*), sum(length(value)) FROM t") }
        await expectBrookError(.corruptDatabase) { _ = try await broker.fetch(topic: "t", partition: 0, offset: 0) }
        await broker.close()
    }
}
