import BrookBroker
import BrookModel
import BrookTestSupport
import Testing

/// A consumer's next chunk read ahead: the next fetch at exactly its offsets takes it, and
/// whatever would change the answer (another offset or limit, retention, DeleteRecords, the
/// topic deleted and made again) makes the fetch read as it would have without it.
struct FetchReadAheadTests {
    /// Fetches one partition with `readAhead` and waits for the answer.
    private func fetch(
        _ broker: Broker, _ readAhead: FetchReadAhead<RecordArraySink>?, topic: String = "t", offset: Int64, maxRecords: Int = 3
    ) async throws -> FetchedPartition<RecordArraySink> {
        let delivered = Delivered<RecordArraySink>()
        let request = FetchRequest.single(topic: topic, partition: 0, offset: offset, maxRecords: maxRecords)
        _ = try broker.startFetch(request, into: RecordArraySink.self, readAhead: readAhead, executor: { $0() }) { delivered.deliver($0) }
        return try await delivered.value().partitions[0]
    }

    private func produce(_ broker: Broker, _ values: [String], topic: String = "t") async throws {
        _ = try await broker.produce(topic: topic, records: values.map { ProducerRecord(key: nil, value: $0) })
    }

    @Test func consecutiveFetchesTakeTheChunkReadAheadAndReadTheSameRecords() async throws {
        let dir = TemporaryDirectory()
        let broker = try openBroker(dir)
        try await broker.createTopic("t")
        let values = (0..<10).map { "record \($0)" }
        try await produce(broker, values)
        let readAhead = FetchReadAhead<RecordArraySink>()
        var offset: Int64 = 0
        var read: [[UInt8]?] = []
        var highWatermarks: [Int64] = []
        while offset < 10 {
            let fetched = try await fetch(broker, readAhead, offset: offset)
            #expect(fetched.error == nil)
            read += fetched.sink.records.map(\.value)
            #expect(fetched.sink.records.map(\.offset) == Array(offset..<fetched.nextOffset))
            highWatermarks.append(fetched.highWatermark)
            offset = fetched.nextOffset
        }
        #expect(read == values.map { bytes($0) })
        #expect(highWatermarks == [10, 10, 10, 10])
        #expect(readAhead.usedCount == 3, "every fetch after the first takes its chunk")
        #expect(!readAhead.holdsChunk, "the last answer reached the high watermark: nothing more is read")
        await broker.close()
    }

    @Test func aFetchAtAnotherOffsetOrWithOtherLimitsReadsAgain() async throws {
        let dir = TemporaryDirectory()
        let broker = try openBroker(dir)
        try await broker.createTopic("t")
        try await produce(broker, (0..<10).map { "r\($0)" })
        let readAhead = FetchReadAhead<RecordArraySink>()
        _ = try await fetch(broker, readAhead, offset: 0)
        let elsewhere = try await fetch(broker, readAhead, offset: 5)
        #expect(elsewhere.sink.records.map(\.offset) == [5, 6, 7])
        let smaller = try await fetch(broker, readAhead, offset: 8, maxRecords: 1)
        #expect(smaller.sink.records.map(\.offset) == [8])
        #expect(readAhead.usedCount == 0)
        await broker.close()
    }

    @Test func recordsDeletedBeforeTheNextOffsetAnswerOutOfRangeNotTheChunk() async throws {
        let dir = TemporaryDirectory()
        let broker = try openBroker(dir)
        try await broker.createTopic("t")
        try await produce(broker, (0..<10).map { "r\($0)" })
        let readAhead = FetchReadAhead<RecordArraySink>()
        #expect(try await fetch(broker, readAhead, offset: 0).nextOffset == 3)
        #expect(try await eventually { readAhead.holdsChunk })
        _ = try await broker.deleteRecords(topic: "t", partition: 0, before: 5)
        let fetched = try await fetch(broker, readAhead, offset: 3)
        #expect(fetched.error?.code == .offsetOutOfRange)
        #expect(fetched.sink.records.isEmpty)
        #expect(fetched.logStartOffset == 5)
        #expect(readAhead.usedCount == 0)
        await broker.close()
    }

    @Test func aTopicDeletedAndMadeAgainIsReadAgainNotServedFromTheChunk() async throws {
        let dir = TemporaryDirectory()
        let broker = try openBroker(dir)
        try await broker.createTopic("t")
        try await produce(broker, (0..<10).map { "old \($0)" })
        let readAhead = FetchReadAhead<RecordArraySink>()
        _ = try await fetch(broker, readAhead, offset: 0)
        #expect(try await eventually { readAhead.holdsChunk })
        try await broker.deleteTopic("t")
        try await broker.createTopic("t")
        try await produce(broker, (0..<10).map { "new \($0)" })
        let fetched = try await fetch(broker, readAhead, offset: 3)
        #expect(fetched.error == nil)
        #expect(fetched.sink.records.map(\.value) == ["new 3", "new 4", "new 5"].map { bytes($0) })
        #expect(readAhead.usedCount == 0)
        await broker.close()
    }

    @Test func aTakenChunkAnswersTheCurrentHighWatermark() async throws {
        let dir = TemporaryDirectory()
        let broker = try openBroker(dir)
        try await broker.createTopic("t")
        try await produce(broker, (0..<10).map { "r\($0)" })
        let readAhead = FetchReadAhead<RecordArraySink>()
        _ = try await fetch(broker, readAhead, offset: 0)
        #expect(try await eventually { readAhead.holdsChunk })
        try await produce(broker, ["r10", "r11"])
        let fetched = try await fetch(broker, readAhead, offset: 3)
        #expect(fetched.sink.records.map(\.offset) == [3, 4, 5])
        #expect(fetched.highWatermark == 12)
        #expect(readAhead.usedCount == 1)
        await broker.close()
    }
}
