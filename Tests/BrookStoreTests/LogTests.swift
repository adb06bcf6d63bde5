import BrookModel
import BrookStore
import BrookTestSupport
import Foundation
import Testing

/// Appends in one transaction, as the broker's writer does.
@discardableResult
func append(_ writer: LogWriter, _ topic: String, _ partition: Int, _ records: [ProducerRecord], now: Int64 = 1_000) throws -> Int64 {
    try writer.begin(durable: false)
    do {
        let base = try writer.append(topic: topic, partition: partition, records: records, now: now)
        _ = try writer.commit()
        return base
    } catch {
        writer.rollback()
        throw error
    }
}

func values(_ count: Int, prefix: String = "v", timestamp: Int64? = nil) -> [ProducerRecord] {
    (0..<count).map { ProducerRecord(key: nil, value: "\(prefix)\($0)", timestamp: timestamp) }
}

struct TopicAdminTests {
    @Test func createListDescribeAddDelete() throws {
        let dir = TemporaryDirectory()
        let writer = try LogWriter(path: dir.file("t.db"))
        let created = try writer.createTopic("orders", partitions: 3, config: TopicConfig(retentionMs: 60_000, retentionBytes: 1_000_000, maxMessageBytes: 2048))
        #expect(created.partitions.map(\.index) == [0, 1, 2])
        #expect(created.config.maxMessageBytes == 2048)
        try writer.createTopic("payments", partitions: 1, config: TopicConfig())
        #expect(writer.topics.keys.sorted() == ["orders", "payments"])

        try append(writer, "orders", 1, values(5))
        let described = try #require(writer.topics["orders"])
        #expect(described.partitions[1].state == PartitionState(logStartOffset: 0, nextOffset: 5, bytes: 10))
        #expect(described.partitions[1].state.recordCount == 5)
        #expect(described.partitions[0].state.recordCount == 0)

        let grown = try writer.addPartitions("orders", count: 5)
        #expect(grown.partitions.count == 5)
        expectBrookError(.invalidPartitions) { try writer.addPartitions("orders", count: 5) }
        expectBrookError(.invalidPartitions) { try writer.addPartitions("orders", count: 2) }
        #expect(writer.topics["orders"]?.partitions[1].state.nextOffset == 5, "growing keeps the records")

        let altered = try writer.alterConfig("orders", config: TopicConfig(retentionMs: -1))
        #expect(altered.config.retentionMs == -1)

        let orders = try #require(writer.topics["orders"])
        try writer.deleteTopic("orders")
        #expect(writer.topics.keys.sorted() == ["payments"])
        let plain = PlainSQLite(dir.file("t.db"))
        #expect(plain.rows("SELECT count(*) FROM sqlite_schema WHERE name = '__brook_records_\(orders.id)'") == [["0"]])
        let ids = orders.partitions.map { String($0.id) }.joined(separator: ", ")
        #expect(plain.rows("SELECT count(*) FROM __brook_partitions WHERE id IN (\(ids))") == [["0"]])
        #expect(plain.rows("SELECT count(*) FROM __brook_time_index WHERE partition_id IN (\(ids))") == [["0"]])
        #expect(plain.rows("SELECT count(*) FROM sqlite_schema WHERE name = 'orders'") == [["0"]])
        expectBrookError(.unknownTopic) { try writer.deleteTopic("orders") }
    }

    @Test func topicsSurviveReopen() throws {
        let dir = TemporaryDirectory()
        do {
            let writer = try LogWriter(path: dir.file("t.db"))
            try writer.createTopic("orders", partitions: 2, config: TopicConfig(retentionBytes: 4096))
            try append(writer, "orders", 0, values(3))
        }
        let reopened = try LogWriter(path: dir.file("t.db"))
        let topic = try #require(reopened.topics["orders"])
        #expect(topic.partitions.count == 2)
        #expect(topic.config.retentionBytes == 4096)
        #expect(topic.partitions[0].state.nextOffset == 3)
    }

    @Test func timestampTypeAndCompressionSurviveAlterAndReopen() throws {
        let dir = TemporaryDirectory()
        do {
            let writer = try LogWriter(path: dir.file("t.db"))
            let created = try writer.createTopic("stamped", partitions: 1, config: TopicConfig(messageTimestampType: .logAppendTime, compressionType: .zstd))
            #expect(created.config.messageTimestampType == .logAppendTime)
            try writer.createTopic("plain", partitions: 1, config: TopicConfig())
            try writer.alterConfig("plain", config: TopicConfig(compressionType: .lz4))
        }
        let reopened = try LogWriter(path: dir.file("t.db"))
        #expect(reopened.topics["stamped"]?.config == TopicConfig(messageTimestampType: .logAppendTime, compressionType: .zstd))
        #expect(reopened.topics["plain"]?.config == TopicConfig(compressionType: .lz4))
        let plain = PlainSQLite(dir.file("t.db"))
        #expect(plain.rows("SELECT name, message_timestamp_type, compression_type FROM __brook_topics ORDER BY name")
            == [["plain", "CreateTime", "lz4"], ["stamped", "LogAppendTime", "zstd"]])
    }

    /// LogAppendTime: the append time replaces the producer's timestamp, in the log and in the
    /// batch handed to waiting fetches; CreateTime keeps it.
    @Test func logAppendTimeStampsTheAppendTime() throws {
        let dir = TemporaryDirectory()
        let writer = try LogWriter(path: dir.file("t.db"))
        try writer.createTopic("stamped", partitions: 1, config: TopicConfig(messageTimestampType: .logAppendTime))
        try writer.createTopic("created", partitions: 1, config: TopicConfig())
        try writer.begin(durable: false)
        try writer.append(topic: "stamped", partition: 0, records: values(2, timestamp: 1_000), now: 5_000)
        try writer.append(topic: "created", partition: 0, records: values(2, timestamp: 1_000), now: 5_000)
        let changes = try writer.commit()
        let stampedBatch = try #require(changes.first { $0.topic == "stamped" }?.appended.first)
        #expect(stampedBatch.records.map(\.timestamp) == [5_000, 5_000])
        let plain = PlainSQLite(dir.file("t.db"))
        #expect(plain.rows("SELECT timestamp FROM stamped ORDER BY offset") == [["5000"], ["5000"]])
        #expect(plain.rows("SELECT timestamp FROM created ORDER BY offset") == [["1000"], ["1000"]])
    }

    @Test func refusesDuplicatesInvalidNamesAndCounts() throws {
        let dir = TemporaryDirectory()
        let writer = try LogWriter(path: dir.file("t.db"))
        try writer.createTopic("Orders", partitions: 1, config: TopicConfig())
        expectBrookError(.topicAlreadyExists) { try writer.createTopic("Orders", partitions: 1, config: TopicConfig()) }
        expectBrookError(.topicAlreadyExists) { try writer.createTopic("orders", partitions: 1, config: TopicConfig()) }
        expectBrookError(.invalidTopic) { try writer.createTopic("bad name", partitions: 1, config: TopicConfig()) }
        expectBrookError(.invalidTopic) { try writer.createTopic("x\"; DROP TABLE __brook_topics; --", partitions: 1, config: TopicConfig()) }
        expectBrookError(.invalidTopic) { try writer.createTopic("__brook_topics", partitions: 1, config: TopicConfig()) }
        expectBrookError(.invalidPartitions) { try writer.createTopic("zero", partitions: 0, config: TopicConfig()) }
        expectBrookError(.invalidConfig) { try writer.createTopic("cfg", partitions: 1, config: TopicConfig(retentionMs: 0)) }
        expectBrookError(.unknownTopic) { try writer.addPartitions("missing", count: 3) }
        #expect(writer.topics.keys.sorted() == ["Orders"])
    }
}

struct AppendAndReadTests {
    @Test func appendsToManyPartitionsInOneTransaction() throws {
        let dir = TemporaryDirectory()
        let writer = try LogWriter(path: dir.file("t.db"))
        try writer.createTopic("a", partitions: 2, config: TopicConfig())
        try writer.createTopic("b", partitions: 1, config: TopicConfig())
        try writer.begin(durable: true)
        #expect(try writer.append(topic: "a", partition: 0, records: values(3), now: 1) == 0)
        #expect(try writer.append(topic: "a", partition: 1, records: values(2), now: 1) == 0)
        #expect(try writer.append(topic: "b", partition: 0, records: values(4), now: 1) == 0)
        #expect(try writer.append(topic: "a", partition: 0, records: values(1), now: 1) == 3)
        let changes = try writer.commit()
        #expect(Set(changes.map { "\($0.topic)-\($0.partition)=\($0.state.nextOffset)" }) == ["a-0=4", "a-1=2", "b-0=4"])
    }

    @Test func rolledBackAppendLeavesNoTrace() throws {
        let dir = TemporaryDirectory()
        let writer = try LogWriter(path: dir.file("t.db"))
        try writer.createTopic("a", partitions: 1, config: TopicConfig())
        try writer.begin(durable: false)
        _ = try writer.append(topic: "a", partition: 0, records: values(3), now: 1)
        writer.rollback()
        #expect(writer.topics["a"]?.partitions[0].state.nextOffset == 0)
        #expect(try append(writer, "a", 0, values(1)) == 0, "the rolled-back offsets are given again")
    }

    @Test func validationRefusesBeforeWriting() throws {
        let dir = TemporaryDirectory()
        let writer = try LogWriter(path: dir.file("t.db"))
        try writer.createTopic("small", partitions: 2, config: TopicConfig(maxMessageBytes: 10))
        try writer.begin(durable: false)
        do {
            _ = try writer.append(topic: "small", partition: 0, records: [ProducerRecord(key: nil, value: "tiny"), ProducerRecord(key: nil, value: String(repeating: "x", count: 11))], now: 1)
            Issue.record("an oversize record was accepted")
        } catch let error as BrookError {
            #expect(error.code == .messageTooLarge)
            #expect(error.message.contains("11 bytes"))
            #expect(error.message.contains("max.message.bytes 10"))
        }
        expectBrookError(.unknownPartition) { try writer.append(topic: "small", partition: 2, records: values(1), now: 1) }
        expectBrookError(.unknownTopic) { try writer.append(topic: "nope", partition: 0, records: values(1), now: 1) }
        expectBrookError(.invalidRequest) { try writer.append(topic: "small", partition: 0, records: [], now: 1) }
        _ = try writer.commit()
        let reader = try LogReader(path: dir.file("t.db"))
        let id = try #require(writer.topics["small"]).partitions[0].id
        #expect(try reader.partitionState(id).nextOffset == 0, "nothing of the refused batch was written")
    }

    @Test func readsRespectLimitsAndReportCounters() throws {
        let dir = TemporaryDirectory()
        let writer = try LogWriter(path: dir.file("t.db"))
        try writer.createTopic("t", partitions: 1, config: TopicConfig())
        let records: [ProducerRecord] = [
            ProducerRecord(key: bytes("k0"), value: bytes("0123456789"), headers: [Header("h", "x")], timestamp: 100),
            ProducerRecord(key: nil, value: nil, timestamp: 200),
            ProducerRecord(key: [0, 255, 0], value: [0xC3, 0x28], timestamp: 300),
            ProducerRecord(key: bytes("k3"), value: Array(repeating: 65, count: 1000), timestamp: 400),
        ]
        try append(writer, "t", 0, records)
        let id = try #require(writer.topics["t"]).partitions[0].id
        let reader = try LogReader(path: dir.file("t.db"))

        let (all, summary) = try reader.readRecords(partitionID: id, from: 0, maxRecords: 10, maxBytes: 1 << 20)
        #expect(all.map(\.offset) == [0, 1, 2, 3])
        #expect(all[0].key == bytes("k0") && all[0].headers == [Header("h", "x")] && all[0].timestamp == 100)
        #expect(all[1].key == nil && all[1].value == nil)
        #expect(all[2].key == [0, 255, 0] && all[2].value == [0xC3, 0x28], "binary bytes round-trip exactly")
        #expect(summary.state.nextOffset == 4 && summary.state.logStartOffset == 0)
        #expect(summary.nextFetchOffset == 4)

        #expect(try reader.readRecords(partitionID: id, from: 1, maxRecords: 2, maxBytes: 1 << 20).records.map(\.offset) == [1, 2])
        // Sizes are 17 (2 key + 10 value + 5 header bytes), 0 and 5: max bytes stops before the
        // record that would cross it...
        #expect(try reader.readRecords(partitionID: id, from: 0, maxRecords: 10, maxBytes: 22).records.map(\.offset) == [0, 1, 2])
        #expect(try reader.readRecords(partitionID: id, from: 0, maxRecords: 10, maxBytes: 21).records.map(\.offset) == [0, 1])
        // ...but at least one record comes back, however large.
        #expect(try reader.readRecords(partitionID: id, from: 3, maxRecords: 10, maxBytes: 1).records.map(\.offset) == [3])
        // At the high watermark: nothing, no error.
        #expect(try reader.readRecords(partitionID: id, from: 4, maxRecords: 10, maxBytes: 100).records.isEmpty)
        // An end bound stops before it (the broker passes the high watermark it has published).
        #expect(try reader.readRecords(partitionID: id, from: 1, maxRecords: 10, maxBytes: 1 << 20, end: 3).records.map(\.offset) == [1, 2])
        #expect(try reader.readRecords(partitionID: id, from: 2, maxRecords: 10, maxBytes: 1 << 20, end: 2).records.isEmpty)
        expectBrookError(.offsetOutOfRange) { try reader.readRecords(partitionID: id, from: 5, maxRecords: 10, maxBytes: 100) }
        expectBrookError(.offsetOutOfRange) { try reader.readRecords(partitionID: id, from: -1, maxRecords: 10, maxBytes: 100) }
    }

    @Test func listsOffsetsByTimestamp() throws {
        let dir = TemporaryDirectory()
        let writer = try LogWriter(path: dir.file("t.db"))
        try writer.createTopic("t", partitions: 1, config: TopicConfig())
        try append(writer, "t", 0, [100, 200, 200, 300].map { ProducerRecord(key: nil, value: "x", timestamp: $0) })
        let id = try #require(writer.topics["t"]).partitions[0].id
        let reader = try LogReader(path: dir.file("t.db"))
        #expect(try reader.offset(forTimestamp: 0, partitionID: id)?.offset == 0)
        #expect(try reader.offset(forTimestamp: 150, partitionID: id)?.offset == 1)
        #expect(try reader.offset(forTimestamp: 200, partitionID: id)?.offset == 1)
        #expect(try reader.offset(forTimestamp: 300, partitionID: id)?.timestamp == 300)
        #expect(try reader.offset(forTimestamp: 301, partitionID: id) == nil)
    }

    /// ListOffsets by time answers the lowest offset whose timestamp is at least the target, as
    /// Kafka does, when timestamps repeat, go backwards, or jump ahead and come back: checked
    /// against a scan of the known timestamps for every target, across several time index rows,
    /// in two partitions of one table, after DeleteRecords and after reopening.
    @Test func listsOffsetsByTimestampWhenTimestampsRepeatOrGoBackwards() throws {
        let dir = TemporaryDirectory()
        // 3,500 records per partition: runs of repeats, a clock that steps back, and one record
        // far ahead followed by older ones.
        func timestamps(_ partition: Int) -> [Int64] {
            (0..<3_500).map { index -> Int64 in
                let offset = Int64(index)
                if index == 1_200 { return 90_000 + Int64(partition) }  // far ahead
                if index % 97 == 0 { return offset * 10 - 2_500 }  // steps back
                return (offset / 3) * 30 + Int64(partition)  // repeats three times
            }
        }
        var known = [timestamps(0), timestamps(1)]
        var logStart = [0, 0]
        func expected(_ partition: Int, _ target: Int64) -> (offset: Int64, timestamp: Int64)? {
            known[partition].indices.dropFirst(logStart[partition]).first { known[partition][$0] >= target }
                .map { (Int64($0), known[partition][$0]) }
        }
        func check(_ reader: LogReader, _ ids: [Int64]) throws {
            for partition in 0..<2 {
                for target in stride(from: Int64(-3_000), through: 110_000, by: 173) + [90_000, 90_001, 104_970, 104_971] {
                    let found = try reader.offset(forTimestamp: target, partitionID: ids[partition])
                    let want = expected(partition, target)
                    #expect(found?.offset == want?.offset && found?.timestamp == want?.timestamp, "partition \(partition), target \(target): \(String(describing: found)) instead of \(String(describing: want))")
                }
            }
        }
        let ids: [Int64]
        do {
            let writer = try LogWriter(path: dir.file("t.db"))
            try writer.createTopic("t", partitions: 2, config: TopicConfig(retentionMs: -1))
            ids = try #require(writer.topics["t"]).partitions.map(\.id)
            // Batches of 250 in both partitions, interleaved, as producers would write them.
            for start in stride(from: 0, to: 3_500, by: 250) {
                for partition in 0..<2 {
                    try append(writer, "t", partition, known[partition][start..<(start + 250)].map { ProducerRecord(key: nil, value: "x", timestamp: $0) })
                }
            }
            try check(try LogReader(path: dir.file("t.db")), ids)
            // Deleting the head (the record far ahead included) leaves the lowest remaining offset.
            _ = try writer.deleteRecords(topic: "t", partition: 0, before: 1_500, maxRecords: 10_000)
            logStart[0] = 1_500
            try check(try LogReader(path: dir.file("t.db")), ids)
            writer.close()
        }
        // After reopening, appends go on indexing from what the file holds.
        let writer = try LogWriter(path: dir.file("t.db"))
        let more: [Int64] = (0..<2_100).map { 200_000 - Int64($0 % 700) * 10 }
        try append(writer, "t", 1, more.map { ProducerRecord(key: nil, value: "x", timestamp: $0) })
        known[1] += more
        try check(try LogReader(path: dir.file("t.db")), ids)
        for target: Int64 in [193_010, 199_990, 200_000, 200_001] {
            let found = try LogReader(path: dir.file("t.db")).offset(forTimestamp: target, partitionID: ids[1])
            #expect(found?.offset == expected(1, target)?.offset, "target \(target)")
        }
    }

    @Test func offsetsContinueAfterReopen() throws {
        let dir = TemporaryDirectory()
        do {
            let writer = try LogWriter(path: dir.file("t.db"))
            try writer.createTopic("t", partitions: 1, config: TopicConfig())
            try append(writer, "t", 0, values(7))
        }
        let writer = try LogWriter(path: dir.file("t.db"))
        #expect(try append(writer, "t", 0, values(1)) == 7)
    }

    /// A commit leaves the counters' row alone until the save interval or record count is
    /// reached; reopening after an unclean stop takes the trailing records in, bytes included.
    @Test func countersTrailTheLogUntilSavedAndReopeningRecoversThemExactly() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("t.db")
        let plain = PlainSQLite(path)
        var expected = PartitionState()
        var id: Int64 = 0
        do {
            let writer = try LogWriter(path: path)
            writer.counterSaveInterval = .seconds(3_600)
            writer.counterSaveRecords = 1_000
            try writer.createTopic("t", partitions: 2, config: TopicConfig())
            id = try #require(writer.topics["t"]).partitions[1].id
            try append(writer, "t", 1, values(3))
            // Text and binary keys and values, headers and nulls: the recovered bytes must use
            // the same measure as the writer's.
            try append(writer, "t", 1, [
                ProducerRecord(key: Array("clé".utf8), value: [0, 255, 7], headers: [Header("h", [1, 2])]),
                ProducerRecord(key: [0xC3], value: nil),
            ])
            expected = try #require(writer.topics["t"]).partitions[1].state
            #expect(expected.nextOffset == 5)
            #expect(plain.rows("SELECT next_offset, bytes FROM __brook_partitions WHERE id = \(id)") == [["0", "0"]],
                    "the commits did not rewrite the counters' row")
            // A reader takes the next offset from the log itself.
            #expect(try LogReader(path: path).partitionState(id).nextOffset == 5)
            // The writer goes away without saving them, as in a crash.
        }
        let reopened = try LogWriter(path: path)
        #expect(reopened.topics["t"]?.partitions[1].state == expected)
        #expect(reopened.topics["t"]?.partitions[0].state == PartitionState())
        #expect(reopened.openReport.recoveredCounters.count == 1)
        #expect(plain.rows("SELECT next_offset, bytes FROM __brook_partitions WHERE id = \(id)") == [["5", "\(expected.bytes)"]])
        #expect(try append(reopened, "t", 1, values(1)) == 5, "offsets are never reused")
    }

    @Test func countersAreSavedEveryNRecordsAndOnRequest() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("t.db")
        let plain = PlainSQLite(path)
        let writer = try LogWriter(path: path)
        writer.counterSaveInterval = .seconds(3_600)
        writer.counterSaveRecords = 10
        try writer.createTopic("t", partitions: 1, config: TopicConfig())
        let id = try #require(writer.topics["t"]).partitions[0].id
        let row = { plain.rows("SELECT next_offset FROM __brook_partitions WHERE id = \(id)") }
        try append(writer, "t", 0, values(6))
        #expect(row() == [["0"]])
        #expect(writer.hasUnsavedCounters)
        try append(writer, "t", 0, values(4))
        #expect(row() == [["10"]], "the tenth record saves the row")
        #expect(!writer.hasUnsavedCounters)
        try append(writer, "t", 0, values(2))
        #expect(row() == [["10"]])
        try writer.saveCounters()
        #expect(row() == [["12"]])
        #expect(!writer.hasUnsavedCounters)
    }

    @Test func committedOffsetsRoundTripAndOverwrite() throws {
        let dir = TemporaryDirectory()
        let writer = try LogWriter(path: dir.file("t.db"))
        try writer.createTopic("t", partitions: 2, config: TopicConfig())
        try writer.begin(durable: false)
        try writer.commitOffset(group: "g", topic: "t", partition: 0, offset: 5, metadata: "first", now: 10)
        try writer.commitOffset(group: "g", topic: "t", partition: 1, offset: 2, metadata: "", now: 10)
        try writer.commitOffset(group: "other", topic: "t", partition: 0, offset: 1, metadata: "", now: 10)
        _ = try writer.commit()
        try writer.begin(durable: false)
        try writer.commitOffset(group: "g", topic: "t", partition: 0, offset: 9, metadata: "second", now: 20)
        _ = try writer.commit()
        let reader = try LogReader(path: dir.file("t.db"))
        let offsets = try reader.committedOffsets(group: "g")
        #expect(offsets == [
            CommittedOffset(group: "g", topic: "t", partition: 0, offset: 9, metadata: "second", committedMs: 20),
            CommittedOffset(group: "g", topic: "t", partition: 1, offset: 2, metadata: "", committedMs: 10),
        ])
        #expect(try reader.committedOffsets(group: "g", topic: "nope").isEmpty)
        #expect(try reader.groupsWithCommittedOffsets() == ["g", "other"])
        try writer.deleteTopic("t")
        #expect(try reader.committedOffsets(group: "g").isEmpty, "deleting a topic drops its committed offsets")
    }
}

struct SQLSurfaceTests {
    @Test func topicViewAnswersPlainSQLByKey() throws {
        let dir = TemporaryDirectory()
        let writer = try LogWriter(path: dir.file("t.db"))
        try writer.createTopic("orders", partitions: 2, config: TopicConfig())
        try append(writer, "orders", 0, [ProducerRecord(key: "u1", value: "{\"total\": 5}"), ProducerRecord(key: "u2", value: "b")])
        try append(writer, "orders", 1, [ProducerRecord(key: "u1", value: "{\"total\": 7}")])
        try append(writer, "orders", 1, [ProducerRecord(key: [0, 1, 2], value: [0xFF])])
        let plain = PlainSQLite(dir.file("t.db"))
        #expect(plain.rows("SELECT partition, offset, value FROM \"orders\" WHERE key = 'u1' ORDER BY partition") == [
            ["0", "0", "{\"total\": 5}"], ["1", "0", "{\"total\": 7}"],
        ])
        #expect(plain.rows("SELECT sum(json_extract(value, '$.total')) FROM orders WHERE key = 'u1'") == [["12"]])
        #expect(plain.rows("SELECT typeof(key), typeof(value) FROM orders WHERE partition = 1 AND offset = 1") == [["blob", "blob"]])
        #expect(plain.rows("SELECT count(*) FROM orders") == [["4"]])
    }

    @Test func viewsSpanMoreThanFiveHundredPartitions() throws {
        let dir = TemporaryDirectory()
        let writer = try LogWriter(path: dir.file("t.db"))
        try writer.createTopic("wide", partitions: 600, config: TopicConfig())
        try append(writer, "wide", 599, values(2))
        try append(writer, "wide", 0, values(1))
        try writer.addPartitions("wide", count: 1001)
        try append(writer, "wide", 1000, values(3))
        let plain = PlainSQLite(dir.file("t.db"))
        #expect(plain.rows("SELECT partition, count(*) FROM wide GROUP BY partition ORDER BY partition") == [
            ["0", "1"], ["599", "2"], ["1000", "3"],
        ])
    }

    @Test func partitionLogsRefuseUpdateAndDeleteFromPlainSQL() throws {
        let dir = TemporaryDirectory()
        let writer = try LogWriter(path: dir.file("t.db"))
        try writer.createTopic("t", partitions: 1, config: TopicConfig())
        try append(writer, "t", 0, values(3))
        let table = "__brook_records_\(try #require(writer.topics["t"]).id)"
        let plain = PlainSQLite(dir.file("t.db"))
        let update = plain.exec("UPDATE \(table) SET value = 'tampered' WHERE position = 1")
        #expect(update?.contains("append-only") == true, "\(update ?? "UPDATE succeeded")")
        let delete = plain.exec("DELETE FROM \(table) WHERE position = 0")
        #expect(delete?.contains("append-only") == true, "\(delete ?? "DELETE succeeded")")
        #expect(plain.exec("DELETE FROM \(table)") != nil)
        let insert = plain.exec("INSERT INTO \(table) VALUES (3, 0, NULL, NULL, 'forged')")
        #expect(insert?.contains("written only by Brook") == true, "\(insert ?? "INSERT succeeded")")
        // REPLACE deletes the row it replaces without firing the delete trigger; the insert
        // trigger refuses it first.
        let replace = plain.exec("REPLACE INTO \(table) VALUES (1, 0, NULL, NULL, 'rewritten')")
        #expect(replace?.contains("written only by Brook") == true, "\(replace ?? "REPLACE succeeded")")
        #expect(plain.exec("UPDATE t SET value = 'x'") != nil, "the view is read-only")
        #expect(plain.rows("SELECT position, value FROM \(table)") == [["0", "v0"], ["1", "v1"], ["2", "v2"]])
    }
}
