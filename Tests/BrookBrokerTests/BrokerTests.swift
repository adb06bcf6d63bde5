import BrookBroker
import BrookModel
import BrookTestSupport
import Foundation
import Testing

func openBroker(_ dir: TemporaryDirectory, _ name: String = "b.db", configure: (inout BrokerOptions) -> Void = { _ in }) throws -> Broker {
    var options = BrokerOptions()
    options.retentionCheckIntervalMs = 0
    configure(&options)
    return try Broker(path: dir.file(name), options: options)
}

struct ProduceFetchTests {
    @Test func roundTripsKeysHeadersNullsAndBinary() async throws {
        let dir = TemporaryDirectory()
        let broker = try openBroker(dir)
        try await broker.createTopic("orders", partitions: 1)
        let sent: [ProducerRecord] = [
            ProducerRecord(key: bytes("u1"), value: bytes("hello"), headers: [Header("trace", "t1"), Header("bin", [0, 13, 10, 255])], timestamp: 1_700_000_000_000),
            ProducerRecord(key: nil, value: nil),
            ProducerRecord(key: [0, 0, 255], value: Array(0...255)),
        ]
        let before = WallClock.nowMillis()
        let positions = try await broker.produce(topic: "orders", records: sent)
        #expect(positions == [RecordPosition(partition: 0, offset: 0), RecordPosition(partition: 0, offset: 1), RecordPosition(partition: 0, offset: 2)])
        let fetched = try await broker.fetch(topic: "orders", partition: 0, offset: 0)
        #expect(fetched.highWatermark == 3 && fetched.logStartOffset == 0)
        #expect(fetched.records.map(\.key) == sent.map(\.key))
        #expect(fetched.records.map(\.value) == sent.map(\.value))
        #expect(fetched.records.map(\.headers) == sent.map(\.headers))
        #expect(fetched.records[0].timestamp == 1_700_000_000_000, "producer time is kept")
        #expect(fetched.records[1].timestamp >= before, "broker time when the producer gave none")
        #expect(fetched.nextOffset(after: 0) == 3)
        await broker.close()
    }

    @Test func keyedRecordsGoToKafkasPartition() async throws {
        let dir = TemporaryDirectory()
        let broker = try openBroker(dir)
        try await broker.createTopic("keys", partitions: 12)
        let keys = ["21", "foobar", "u1", "user-42", "abc", "a-little-bit-longer-string"]
        let positions = try await broker.produce(topic: "keys", records: keys.map { ProducerRecord(key: $0, value: "v") })
        // The expected partitions are Kafka's (kafka-python's murmur2; see PartitionerTests).
        #expect(positions.map(\.partition) == [0, 6, 4, 4, 3, 11])
        await broker.close()
    }

    @Test func unkeyedRecordsAreStickyPerBatchAndSpreadAcrossBatches() async throws {
        let dir = TemporaryDirectory()
        let broker = try openBroker(dir)
        try await broker.createTopic("spread", partitions: 4)
        var used = Set<Int>()
        for _ in 0..<8 {
            let positions = try await broker.produce(topic: "spread", records: (0..<5).map { _ in ProducerRecord(key: nil, value: "x") })
            #expect(Set(positions.map(\.partition)).count == 1, "one partition per batch")
            #expect(positions.map(\.offset) == Array(positions[0].offset..<(positions[0].offset + 5)), "contiguous offsets")
            used.insert(positions[0].partition)
        }
        #expect(used == [0, 1, 2, 3], "round robin across batches")
        await broker.close()
    }

    @Test func explicitPartitionWinsAndIsChecked() async throws {
        let dir = TemporaryDirectory()
        let broker = try openBroker(dir)
        try await broker.createTopic("t", partitions: 3)
        let positions = try await broker.produce(topic: "t", records: [ProducerRecord(key: "21", value: "v", partition: 2)])
        #expect(positions == [RecordPosition(partition: 2, offset: 0)])
        await expectBrookError(.unknownPartition) { try await broker.produce(topic: "t", records: [ProducerRecord(key: nil, value: "v", partition: 3)]) }
        await expectBrookError(.unknownPartition) { try await broker.produce(topic: "t", records: [ProducerRecord(key: nil, value: "v", partition: -1)]) }
        await expectBrookError(.unknownTopic) { try await broker.produce(topic: "nope", records: [ProducerRecord(key: nil, value: "v")]) }
        await expectBrookError(.invalidRequest) { try await broker.produce(topic: "t", records: []) }
        await broker.close()
    }

    @Test func sizeLimitsNameTheLimit() async throws {
        let dir = TemporaryDirectory()
        let broker = try openBroker(dir) { $0.maxBatchRecords = 10 }
        try await broker.createTopic("small", config: TopicConfig(maxMessageBytes: 100))
        do {
            try await broker.produce(topic: "small", records: [ProducerRecord(key: nil, value: Array(repeating: 1, count: 101))])
            Issue.record("an oversize record was accepted")
        } catch let error as BrookError {
            #expect(error.code == .messageTooLarge)
            #expect(error.message.contains("101 bytes") && error.message.contains("max.message.bytes 100"))
        }
        do {
            try await broker.produce(topic: "small", records: (0..<11).map { _ in ProducerRecord(key: nil, value: "x") })
            Issue.record("an oversize batch was accepted")
        } catch let error as BrookError {
            #expect(error.code == .recordListTooLarge)
            #expect(error.message.contains("11 records") && error.message.contains("10 records"))
        }
        #expect(try broker.describeTopic("small").partitions[0].state.nextOffset == 0, "nothing was written")
        await broker.close()
    }

    @Test func fetchOutOfRangeAndLimits() async throws {
        let dir = TemporaryDirectory()
        let broker = try openBroker(dir)
        try await broker.createTopic("t")
        try await broker.produce(topic: "t", records: (0..<10).map { ProducerRecord(key: nil, value: "v\($0)") })
        #expect(try await broker.fetch(topic: "t", partition: 0, offset: 3, maxRecords: 4).records.map(\.offset) == [3, 4, 5, 6])
        #expect(try await broker.fetch(topic: "t", partition: 0, offset: 10).records.isEmpty)
        await expectBrookError(.offsetOutOfRange) { try await broker.fetch(topic: "t", partition: 0, offset: 11) }
        await expectBrookError(.offsetOutOfRange) { try await broker.fetch(topic: "t", partition: 0, offset: -1) }
        await expectBrookError(.unknownPartition) { try await broker.fetch(topic: "t", partition: 1, offset: 0) }
        await expectBrookError(.invalidRequest) { try await broker.fetch(topic: "t", partition: 0, offset: 0, maxRecords: 0) }
        await broker.close()
    }

    /// A fetch that chases the head of a partition while the writer commits must never read past
    /// the high watermark the broker has published: SQLite shows a commit to a reader a moment
    /// before the broker publishes its counters, and a consumer handed those records would have
    /// its next fetch refused as out of range (or, in a group, be reset).
    @Test func aFetchChasingTheWriterNeverPassesThePublishedHighWatermark() async throws {
        let dir = TemporaryDirectory()
        let broker = try openBroker(dir)
        try await broker.createTopic("t")
        let total = 9_000
        let producers = 3
        let producer = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for first in 0..<producers {
                    group.addTask {
                        for index in stride(from: first, to: total, by: producers) {
                            try await broker.produce(topic: "t", records: [ProducerRecord(key: nil, value: "\(index)")])
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        var offset: Int64 = 0
        var fetches = 0
        while offset < Int64(total) {
            let fetched = try await broker.fetch(topic: "t", partition: 0, offset: offset, maxRecords: 10_000)
            fetches += 1
            #expect(fetched.records.allSatisfy { $0.offset < fetched.highWatermark })
            #expect(fetched.records.map(\.offset) == Array(offset..<offset + Int64(fetched.records.count)))
            offset += Int64(fetched.records.count)
        }
        try await producer.value
        #expect(fetches > 100, "the reader should have chased the writer, fetching \(fetches) times")
        await broker.close()
    }

    /// A long poll woken by a commit is answered from the records the commit appended, without
    /// reading them back: they must be exactly what a read returns, within the same limits.
    @Test func aLongPollWokenByACommitAnswersWithTheRecordsAsStored() async throws {
        let dir = TemporaryDirectory()
        let broker = try openBroker(dir)
        try await broker.createTopic("t")
        try await broker.produce(topic: "t", records: [ProducerRecord(key: nil, value: "a"), ProducerRecord(key: nil, value: "b")])
        let sent: [ProducerRecord] = [
            ProducerRecord(key: bytes("k"), value: bytes("v"), headers: [Header("h", "x"), Header("bin", [0, 13, 10, 255])], timestamp: 42),
            ProducerRecord(key: nil, value: nil),
            ProducerRecord(key: [0, 255], value: Array(0...255)),
            ProducerRecord(key: nil, value: "fourth"),
        ]
        for (maxRecords, maxBytes, expected) in [(3, 1 << 20, 3), (10, 1 << 20, 4), (10, 1, 1)] {
            let start = try await broker.listOffset(topic: "t", partition: 0, .latest)!.offset
            async let waited = broker.fetch(topic: "t", partition: 0, offset: start, maxRecords: maxRecords, maxBytes: maxBytes, maxWait: .seconds(10))
            for _ in 0..<500 where broker.waitingFetches == 0 { try await Task.sleep(for: .milliseconds(2)) }
            #expect(broker.waitingFetches == 1)
            try await broker.produce(topic: "t", records: sent)
            let woken = try await waited
            let read = try await broker.fetch(topic: "t", partition: 0, offset: start, maxRecords: maxRecords, maxBytes: maxBytes)
            #expect(woken.records.count == expected)
            #expect(woken.records == read.records)
            #expect(woken.records.first?.offset == start)
            #expect(woken.highWatermark == start + 4 && woken.logStartOffset == 0)
        }
        await broker.close()
    }

    @Test func acksZeroReturnsAtOnceAndStillWrites() async throws {
        let dir = TemporaryDirectory()
        let broker = try openBroker(dir)
        try await broker.createTopic("t")
        let positions = try await broker.produce(topic: "t", records: [ProducerRecord(key: nil, value: "fire")], acks: .noAck)
        #expect(positions == [RecordPosition(partition: 0, offset: -1)])
        let fetched = try await broker.fetch(topic: "t", partition: 0, offset: 0, maxWait: .seconds(5))
        #expect(fetched.records.map(\.value) == [bytes("fire")])
        await broker.close()
    }

    @Test func concurrentProducersGetUniqueContiguousOffsets() async throws {
        let dir = TemporaryDirectory()
        let broker = try openBroker(dir)
        try await broker.createTopic("t")
        let producers = 50
        let perProducer = 10
        let offsets = try await withThrowingTaskGroup(of: [Int64].self) { group in
            for producer in 0..<producers {
                group.addTask {
                    var mine: [Int64] = []
                    for index in 0..<perProducer {
                        let acks: Acks = index % 2 == 0 ? .all : .leader
                        let position = try await broker.produce(topic: "t", records: [ProducerRecord(key: nil, value: "\(producer)-\(index)")], acks: acks)
                        mine.append(position[0].offset)
                    }
                    return mine
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(offsets.sorted() == (0..<Int64(producers * perProducer)).map { $0 })
        let stats = broker.writerStatistics
        #expect(stats.requests == producers * perProducer)
        // Group commit: while one transaction commits, the other producers' requests queue and
        // share the next one.
        #expect(stats.transactions < stats.requests, "\(stats)")
        await broker.close()
    }
}

struct LongPollTests {
    /// The deadline is on a clock the test never moves: only the produce can end the wait (a
    /// produce that did not would hang it until the time limit).
    @Test(.timeLimit(.minutes(1)))
    func waitingFetchReturnsEarlyOnProduce() async throws {
        let dir = TemporaryDirectory()
        let broker = try openBroker(dir) { $0.clock = ManualClock() }
        try await broker.createTopic("t")
        async let fetched = broker.fetch(topic: "t", partition: 0, offset: 0, maxWait: .seconds(20))
        try #require(try await eventually { broker.waitingFetches == 1 }, "the fetch waits")
        try await broker.produce(topic: "t", records: [ProducerRecord(key: nil, value: "wake")])
        let result = try await fetched
        #expect(result.records.map(\.value) == [bytes("wake")], "returned on the produce, before its deadline")
        await broker.close()
    }

    @Test func waitingFetchReturnsEmptyWhenTheWaitExpires() async throws {
        let dir = TemporaryDirectory()
        let broker = try openBroker(dir)
        try await broker.createTopic("t")
        let clock = ContinuousClock()
        let started = clock.now
        let result = try await broker.fetch(topic: "t", partition: 0, offset: 0, maxWait: .milliseconds(300))
        let elapsed = clock.now - started
        #expect(result.records.isEmpty && result.highWatermark == 0)
        #expect(elapsed >= .milliseconds(300), "waited the full \(elapsed)")
        #expect(broker.waitingFetches == 0, "the waiter was removed")
        await broker.close()
    }

    @Test func waitingFetchIgnoresOtherPartitionsAndWakesOnTopicDeletion() async throws {
        let dir = TemporaryDirectory()
        let broker = try openBroker(dir)
        try await broker.createTopic("t", partitions: 2)
        async let fetched: Void = {
            await expectBrookError(.unknownTopic) {
                try await broker.fetch(topic: "t", partition: 1, offset: 0, maxWait: .seconds(20))
            }
        }()
        try await Task.sleep(for: .milliseconds(100))
        try await broker.produce(topic: "t", records: [ProducerRecord(key: nil, value: "other", partition: 0)])
        try await Task.sleep(for: .milliseconds(100))
        #expect(broker.waitingFetches == 1, "a produce to partition 0 does not wake partition 1")
        try await broker.deleteTopic("t")
        await fetched
        await broker.close()
    }

    @Test func cancelledFetchStopsWaiting() async throws {
        let dir = TemporaryDirectory()
        let broker = try openBroker(dir)
        try await broker.createTopic("t")
        let task = Task { try await broker.fetch(topic: "t", partition: 0, offset: 0, maxWait: .seconds(60)) }
        try await Task.sleep(for: .milliseconds(100))
        task.cancel()
        let result = try await task.value
        #expect(result.records.isEmpty)
        #expect(broker.waitingFetches == 0)
        await broker.close()
    }
}

struct GroupCommitIsolationTests {
    /// A request whose write fails in a way confined to it (here a duplicate offset, from a row
    /// written behind Brook's back) fails alone; the other requests of its group commit and are
    /// answered. Before, the whole group failed, and so did every later group holding a request
    /// to that partition: every producer, of every topic, stalled until a restart.
    @Test func aRequestThatFailsInsideAGroupCommitFailsAlone() async throws {
        let dir = TemporaryDirectory()
        let broker = try openBroker(dir)
        try await broker.createTopic("t", partitions: 3)
        for partition in 0..<3 {
            _ = try await broker.produce(topic: "t", records: [ProducerRecord(key: nil, value: "first", partition: partition)])
        }
        let id = try broker.describeTopic("t").id
        // A program that turns its triggers off, as Brook's writer does, takes partition 1's next offset.
        let plain = PlainSQLite(dir.file("b.db"))
        plain.impersonateBrooksWriter()
        #expect(plain.exec("INSERT INTO __brook_records_\(id) (position, timestamp, value) VALUES ((1 << 49) + 1, 0, 'forged')") == nil)

        // Holding the write lock makes the requests below queue up, so one group holds them all.
        #expect(plain.exec("BEGIN IMMEDIATE") == nil)
        let blocker = try broker.submitProduce(topic: "t", records: [ProducerRecord(key: nil, value: "blocker", partition: 0)])
        try await Task.sleep(for: .milliseconds(100))
        let tickets = try (0..<30).map { index in
            try broker.submitProduce(topic: "t", records: [ProducerRecord(key: nil, value: "r\(index)", partition: index % 3)])
        }
        let before = broker.writerStatistics
        #expect(plain.exec("COMMIT") == nil)
        _ = try await blocker.positions()
        var committed: [Int: [Int64]] = [:]
        for (index, ticket) in tickets.enumerated() {
            do {
                let position = try #require(try await ticket.positions().first)
                #expect(index % 3 != 1, "request \(index) to the tampered partition was acknowledged")
                committed[position.partition, default: []].append(position.offset)
            } catch let error as BrookError {
                #expect(index % 3 == 1, "request \(index) to partition \(index % 3) failed: \(error)")
                #expect(error.code == .storageError && error.message.contains("UNIQUE"), "\(error)")
            }
        }
        // One group (two, if the writer took the blocker alone), not a transaction per request.
        #expect(broker.writerStatistics.transactions - before.transactions <= 2)
        #expect(committed[0] == Array(2...11), "partition 0: after 'first' and the blocker")
        #expect(committed[2] == Array(1...10))
        let log = try await broker.fetch(topic: "t", partition: 2, offset: 0, maxRecords: 100)
        #expect(log.records.map { String(decoding: $0.value ?? [], as: UTF8.self) } == ["first"] + stride(from: 2, to: 30, by: 3).map { "r\($0)" })
        await broker.close()
    }
}

struct SQLQueueTests {
    /// SQL queries run one at a time. Past `max_sql_queued` waiting or running, the next one is
    /// refused at once with SQL_QUEUE_FULL, instead of joining a queue with no end.
    @Test func aFullSQLQueueRefusesTheNextQueryAtOnce() async throws {
        let dir = TemporaryDirectory()
        let broker = try openBroker(dir) {
            $0.sqlTimeoutMs = 5_000
            $0.sqlLimits.maxQueued = 2
        }
        let endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"
        let running = (0..<2).map { _ in
            Task { do { _ = try await broker.query(endless); return BrookError.Code.unknownServerError } catch { return (error as? BrookError)?.code ?? .unknownServerError } }
        }
        for _ in 0..<1_000 where broker.sqlQueriesQueued < 2 { try await Task.sleep(for: .milliseconds(5)) }
        try #require(broker.sqlQueriesQueued == 2, "the two endless queries are waiting or running")
        await expectBrookError(.sqlQueueFull, containing: "max_sql_queued=2 SQL queries are already waiting or running") {
            _ = try await broker.query("SELECT 1")
        }
        for task in running { #expect(await task.value == .requestTimedOut) }
        #expect(broker.sqlQueriesQueued == 0)
        #expect(try await broker.query("SELECT 1").rows == [[.integer(1)]], "room again once they ended")
        await broker.close()
    }

    /// A statement longer than `max_sql_bytes` is refused before it is compiled.
    @Test func aStatementOverMaxSQLBytesIsRefused() async throws {
        let dir = TemporaryDirectory()
        let broker = try openBroker(dir) { $0.sqlLimits.maxStatementBytes = 1_000 }
        await expectBrookError(.messageTooLarge, containing: "SQL statement of 1001 bytes exceeds max_sql_bytes=1000") {
            _ = try await broker.query("SELECT 1" + String(repeating: " ", count: 993))
        }
        #expect(try await broker.query("SELECT 1" + String(repeating: " ", count: 992)).rows == [[.integer(1)]])
        await broker.close()
    }
}
