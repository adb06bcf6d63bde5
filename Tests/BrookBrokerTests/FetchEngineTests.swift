import BrookBroker
import BrookModel
import BrookTestSupport
import Foundation
import Synchronization
import Testing

/// One fetch's answer, as delivered.
final class Delivered<Sink: FetchSink>: Sendable {
    private let result = Mutex<Result<FetchResponse<Sink>, Error>?>(nil)
    private let stream: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    init() {
        (stream, continuation) = AsyncStream.makeStream()
    }

    var isAnswered: Bool { result.withLock { $0 != nil } }

    func deliver(_ value: Result<FetchResponse<Sink>, Error>) {
        let first = result.withLock { result -> Bool in
            guard result == nil else { return false }
            result = value
            return true
        }
        #expect(first, "a fetch is answered once")
        continuation.yield()
    }

    func value() async throws -> FetchResponse<Sink> {
        for await _ in stream { break }
        return try result.withLock { $0! }.get()
    }
}

private func openWithClock(_ dir: TemporaryDirectory) throws -> (Broker, ManualClock) {
    let clock = ManualClock()
    let broker = try openBroker(dir) { $0.clock = clock }
    return (broker, clock)
}

/// Starts a fetch whose records a commit hands over on the committing thread, so that what it
/// does on a commit is done when the produce returns.
private func start(_ broker: Broker, _ request: FetchRequest) throws -> (PendingFetch<RecordArraySink>, Delivered<RecordArraySink>) {
    let delivered = Delivered<RecordArraySink>()
    let fetch = try broker.startFetch(request, into: RecordArraySink.self, executor: { $0() }) { delivered.deliver($0) }
    return (fetch, delivered)
}

private func partitions(_ topic: String, _ indices: Range<Int>, offset: Int64 = 0) -> [FetchRequest.Partition] {
    indices.map { FetchRequest.Partition(topic: topic, partition: $0, offset: offset) }
}

struct FetchEngineTests {
    @Test(arguments: [0, 2])
    func aFetchOverSeveralPartitionsWakesOnACommitToAnyOfThem(produced: Int) async throws {
        let dir = TemporaryDirectory()
        let (broker, _) = try openWithClock(dir)
        try await broker.createTopic("t", partitions: 3)
        let (fetch, delivered) = try start(broker, FetchRequest(partitions: partitions("t", 0..<3), maxWait: .seconds(60)))
        #expect(!fetch.isAnswered && broker.waitingFetches == 1, "empty with time to wait: it waits")
        try await broker.produce(topic: "t", records: [ProducerRecord(key: nil, value: "hello", partition: produced)])
        let response = try await delivered.value()
        #expect(response.partitions.map(\.partition) == [0, 1, 2])
        #expect(response.partitions.allSatisfy { $0.error == nil })
        for entry in response.partitions {
            #expect(entry.sink.records.map(\.value) == (entry.partition == produced ? [bytes("hello")] : []))
            #expect(entry.nextOffset == (entry.partition == produced ? 1 : 0))
            #expect(entry.highWatermark == (entry.partition == produced ? 1 : 0))
        }
        #expect(broker.waitingFetches == 0)
        await broker.close()
    }

    @Test func minBytesGatherAcrossPartitionsBeforeAnswering() async throws {
        let dir = TemporaryDirectory()
        let (broker, _) = try openWithClock(dir)
        try await broker.createTopic("t", partitions: 2)
        let (fetch, delivered) = try start(broker, FetchRequest(partitions: partitions("t", 0..<2), minBytes: 10, maxWait: .seconds(60)))
        try await broker.produce(topic: "t", records: [ProducerRecord(key: nil, value: "aaaa", partition: 0)])
        #expect(!fetch.isAnswered, "4 of 10 bytes")
        try await broker.produce(topic: "t", records: [ProducerRecord(key: nil, value: "bbbb", partition: 1)])
        #expect(!fetch.isAnswered, "8 of 10 bytes")
        #expect(broker.waitingFetches == 1)
        try await broker.produce(topic: "t", records: [ProducerRecord(key: nil, value: "cccc", partition: 0)])
        let response = try await delivered.value()
        #expect(response.partitions[0].sink.records.map(\.value) == [bytes("aaaa"), bytes("cccc")])
        #expect(response.partitions[1].sink.records.map(\.value) == [bytes("bbbb")])
        #expect(response.bytes == 12 && response.recordCount == 3)
        #expect(response.partitions.map(\.nextOffset) == [2, 1])
        await broker.close()
    }

    @Test func minBytesAlreadyThereAcrossPartitionsAnswerAtOnce() async throws {
        let dir = TemporaryDirectory()
        let (broker, _) = try openWithClock(dir)
        try await broker.createTopic("t", partitions: 2)
        try await broker.produce(topic: "t", records: [ProducerRecord(key: nil, value: "aaaaa", partition: 0)])
        try await broker.produce(topic: "t", records: [ProducerRecord(key: nil, value: "bbbbb", partition: 1)])
        let response = try await broker.fetch(FetchRequest(partitions: partitions("t", 0..<2), minBytes: 10, maxWait: .seconds(60)))
        #expect(response.partitions.map { $0.sink.records.map(\.value) } == [[bytes("aaaaa")], [bytes("bbbbb")]])
        await broker.close()
    }

    @Test func theBrokerEndsAWaitAtItsDeadline() async throws {
        let dir = TemporaryDirectory()
        let (broker, clock) = try openWithClock(dir)
        try await broker.createTopic("t", partitions: 2)
        let (fetch, delivered) = try start(broker, FetchRequest(partitions: partitions("t", 0..<2), maxWait: .seconds(5)))
        #expect(clock.pending == 1)
        clock.advance(by: .milliseconds(4_999))
        #expect(!fetch.isAnswered, "not before its deadline")
        clock.advance(by: .milliseconds(1))
        #expect(fetch.isAnswered)
        let response = try await delivered.value()
        #expect(response.recordCount == 0 && response.partitions.allSatisfy { $0.error == nil && $0.highWatermark == 0 })
        #expect(broker.waitingFetches == 0 && clock.pending == 0)
        await broker.close()
    }

    @Test func theEmbeddedFetchEndsAtItsDeadlineWithNoTimerOfItsOwn() async throws {
        let dir = TemporaryDirectory()
        let (broker, clock) = try openWithClock(dir)
        try await broker.createTopic("t")
        async let fetched = broker.fetch(topic: "t", partition: 0, offset: 0, maxWait: .seconds(30))
        while broker.waitingFetches == 0 { await Task.yield() }
        clock.advance(by: .seconds(30))
        let result = try await fetched
        #expect(result.records.isEmpty && result.highWatermark == 0)
        await broker.close()
    }

    @Test func aFetchAnsweredBeforeItsDeadlineWithdrawsIt() async throws {
        let dir = TemporaryDirectory()
        let (broker, clock) = try openWithClock(dir)
        try await broker.createTopic("t")
        let (_, delivered) = try start(broker, .single(topic: "t", partition: 0, offset: 0, maxWait: .seconds(5)))
        try await broker.produce(topic: "t", records: [ProducerRecord(key: nil, value: "x")])
        #expect(try await delivered.value().recordCount == 1)
        #expect(clock.pending == 0, "the deadline is cancelled")
        clock.advance(by: .seconds(10))
        await broker.close()
    }

    @Test func aPartitionOutOfRangeOrUnknownAnswersItsErrorWhileTheOthersAnswer() async throws {
        let dir = TemporaryDirectory()
        let (broker, _) = try openWithClock(dir)
        try await broker.createTopic("t", partitions: 3)
        for partition in 0..<3 {
            try await broker.produce(topic: "t", records: [ProducerRecord(key: nil, value: "p\(partition)", partition: partition)])
        }
        let request = FetchRequest(
            partitions: [
                FetchRequest.Partition(topic: "t", partition: 0, offset: 0),
                FetchRequest.Partition(topic: "t", partition: 1, offset: 5),
                FetchRequest.Partition(topic: "t", partition: 7, offset: 0),
                FetchRequest.Partition(topic: "nope", partition: 0, offset: 0),
                FetchRequest.Partition(topic: "t", partition: 2, offset: 0),
            ],
            maxWait: .seconds(60))
        // Errors answer at once, as Kafka's: no advancing of time is needed.
        let response = try await broker.fetch(request)
        #expect(response.partitions.map(\.error?.code) == [nil, .offsetOutOfRange, .unknownPartition, .unknownTopic, nil])
        #expect(response.partitions.map { $0.sink.records.map(\.value) } == [[bytes("p0")], [], [], [], [bytes("p2")]])
        #expect(response.partitions[1].highWatermark == 1 && response.partitions[1].logStartOffset == 0)
        await broker.close()
    }

    @Test func aWaitingPartitionDeletedAnswersItsErrorAndTheOthersAnswerToo() async throws {
        let dir = TemporaryDirectory()
        let (broker, _) = try openWithClock(dir)
        try await broker.createTopic("gone")
        try await broker.createTopic("kept")
        let (_, delivered) = try start(broker, FetchRequest(
            partitions: partitions("kept", 0..<1) + partitions("gone", 0..<1), maxWait: .seconds(60)))
        try await broker.deleteTopic("gone")
        let response = try await delivered.value()
        #expect(response.partitions.map(\.error?.code) == [nil, .unknownTopic])
        await broker.close()
    }

    @Test func theTotalByteLimitWaivesOnlyTheFirstRecord() async throws {
        let dir = TemporaryDirectory()
        let (broker, _) = try openWithClock(dir)
        try await broker.createTopic("t", partitions: 3)
        let big = [UInt8](repeating: 1, count: 100)
        try await broker.produce(topic: "t", records: [ProducerRecord(key: nil, value: big, partition: 1)])
        try await broker.produce(topic: "t", records: [ProducerRecord(key: nil, value: big, partition: 2)])
        let response = try await broker.fetch(FetchRequest(partitions: partitions("t", 0..<3), maxBytes: 50, maxWait: .seconds(60)))
        #expect(response.partitions.map(\.recordCount) == [0, 1, 0], "the first record comes over the limit; the next does not fit")
        #expect(response.partitions.map(\.nextOffset) == [0, 1, 0])
        await broker.close()
    }

    @Test func shutdownAnswersWaitingFetches() async throws {
        let dir = TemporaryDirectory()
        let (broker, _) = try openWithClock(dir)
        try await broker.createTopic("t", partitions: 2)
        let (fetch, delivered) = try start(broker, FetchRequest(partitions: partitions("t", 0..<2), maxWait: .seconds(60)))
        let (none, deliveredNone) = try start(broker, FetchRequest(partitions: [], maxWait: .seconds(60)))
        #expect(!fetch.isAnswered && !none.isAnswered && broker.waitingFetches == 2)
        await broker.close()
        #expect(try await delivered.value().recordCount == 0)
        #expect(try await deliveredNone.value().partitions.isEmpty)
    }

    @Test func answerNowEndsAWaitWithWhatGathered() async throws {
        let dir = TemporaryDirectory()
        let (broker, _) = try openWithClock(dir)
        try await broker.createTopic("t", partitions: 2)
        let (fetch, delivered) = try start(broker, FetchRequest(partitions: partitions("t", 0..<2), minBytes: 1_000, maxWait: .seconds(60)))
        try await broker.produce(topic: "t", records: [ProducerRecord(key: nil, value: "some", partition: 1)])
        #expect(!fetch.isAnswered)
        fetch.answerNow()
        let response = try await delivered.value()
        #expect(response.partitions.map { $0.sink.records.map(\.value) } == [[], [bytes("some")]])
        #expect(broker.waitingFetches == 0)
        await broker.close()
    }

    /// The group coordinator wakes its members' partitions on a rebalance: a fetch that asks
    /// for it (a group's POLL) answers, a plain one looks again and keeps waiting.
    @Test func anExplicitWakeAnswersOnlyTheFetchesThatAskForIt() async throws {
        let dir = TemporaryDirectory()
        let clock = ManualClock()
        let broker = try openBroker(dir) {
            $0.clock = clock
            $0.groups.initialRebalanceDelayMs = 0
        }
        try await broker.createTopic("t")
        let consumers = ServerSideConsumers(broker: broker)
        var join = ServerSideConsumers.JoinRequest(group: "g", topics: ["t"])
        join.sessionTimeoutMs = 10_000
        join.rebalanceTimeoutMs = 5_000
        let first = try await consumers.join(join)
        #expect(first.assignment == [TopicPartition("t", 0)])
        var poll = FetchRequest.single(topic: "t", partition: 0, offset: 0, maxWait: .seconds(60))
        poll.answersOnWake = true
        let (polling, polled) = try start(broker, poll)
        let (fetching, _) = try start(broker, .single(topic: "t", partition: 0, offset: 0, maxWait: .seconds(60)))
        #expect(!polling.isAnswered && !fetching.isAnswered && broker.waitingFetches == 2)
        // A second member: the group rebalances and wakes the first member's partitions.
        let second = Task { try await consumers.join(join) }
        #expect(try await polled.value().recordCount == 0)
        // The plain fetch looked again and waits on (the wake ran both on one thread, the poll
        // first or second; give it the moment it takes to register again).
        for _ in 0..<200 where broker.waitingFetches != 1 { try await Task.sleep(for: .milliseconds(5)) }
        #expect(!fetching.isAnswered && broker.waitingFetches == 1)
        await broker.close()
        _ = await second.result
    }

    /// A group's POLL reads through the same engine as FETCH: its wait registers there, ends at
    /// the deadline the broker's clock keeps (a POLL with a timer of its own would not notice
    /// the hand-advanced clock and hang here until the time limit), and a commit to any of
    /// the member's partitions answers it.
    @Test(.timeLimit(.minutes(1)))
    func aPollWaitsInTheFetchEngineAndEndsAtItsDeadline() async throws {
        let dir = TemporaryDirectory()
        let clock = ManualClock()
        let broker = try openBroker(dir) {
            $0.clock = clock
            $0.groups.initialRebalanceDelayMs = 0
        }
        try await broker.createTopic("t", partitions: 3)
        let consumers = ServerSideConsumers(broker: broker)
        var join = ServerSideConsumers.JoinRequest(group: "g", topics: ["t"])
        join.autoOffsetReset = .earliest
        let joined = try await consumers.join(join)
        #expect(joined.assignment?.count == 3)
        let poll = { @Sendable in
            try await consumers.poll(group: "g", memberID: joined.memberID, generation: joined.generation, maxRecords: 100, maxBytes: 1 << 20, maxWait: .seconds(30))
        }

        let timedOut = Task { try await poll() }
        while broker.waitingFetches == 0 { await Task.yield() }
        #expect(broker.waitingFetches == 1, "one multi-partition wait for the member's three partitions")
        clock.advance(by: .seconds(30))
        #expect(try await timedOut.value.count == 0)
        #expect(broker.waitingFetches == 0)

        let woken = Task { try await poll() }
        while broker.waitingFetches == 0 { await Task.yield() }
        try await broker.produce(topic: "t", records: [ProducerRecord(key: nil, value: "late", partition: 2)])
        let polled = try await woken.value
        #expect(polled.records.map(\.partition) == [TopicPartition("t", 2)])
        #expect(polled.records.first?.records.map(\.value) == [bytes("late")])
        await broker.close()
    }

    @Test func limitsOutOfRangeAreRefusedForTheWholeRequest() async throws {
        let dir = TemporaryDirectory()
        let (broker, _) = try openWithClock(dir)
        try await broker.createTopic("t")
        await expectBrookError(.invalidRequest) { try await broker.fetch(FetchRequest(partitions: partitions("t", 0..<1), minBytes: -1)) }
        await expectBrookError(.invalidRequest) { try await broker.fetch(FetchRequest(partitions: partitions("t", 0..<1), maxBytes: 0)) }
        await expectBrookError(.invalidRequest) {
            try await broker.fetch(FetchRequest(partitions: [FetchRequest.Partition(topic: "t", partition: 0, offset: 0, maxRecords: 0)]))
        }
        await broker.close()
    }
}
