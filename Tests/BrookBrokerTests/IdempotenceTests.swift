import BrookBroker
import BrookModel
import BrookTestSupport
import Testing

struct IdempotenceTests {
    func batch(_ sequences: ClosedRange<Int32>, partition: Int = 0) -> [ProducerRecord] {
        sequences.map {
            var record = ProducerRecord(key: nil, value: "s\($0)", partition: partition)
            record.sequence = $0
            return record
        }
    }

    @Test func retriesAreDeduplicatedGapsRefusedAndOldEpochsFenced() async throws {
        let dir = TemporaryDirectory()
        var producer: ProducerIdentity
        do {
            let broker = try openBroker(dir)
            try await broker.createTopic("t", partitions: 2)
            producer = try await broker.initProducer(clientKey: "orders-service")
            #expect(producer.epoch == 0)
            let first = try await broker.produce(topic: "t", records: batch(0...2), producer: producer)
            #expect(first.map(\.offset) == [0, 1, 2])
            // The reply was lost; the same batch again: the same offsets, nothing written twice.
            #expect(try await broker.produce(topic: "t", records: batch(0...2), producer: producer) == first)
            #expect(try broker.describeTopic("t").partitions[0].state.nextOffset == 3)
            // Sequences are per partition.
            #expect(try await broker.produce(topic: "t", records: batch(0...0, partition: 1), producer: producer).map(\.offset) == [0])
            await expectBrookError(.outOfOrderSequenceNumber) { try await broker.produce(topic: "t", records: batch(5...6), producer: producer) }
            await expectBrookError(.outOfOrderSequenceNumber) { try await broker.produce(topic: "t", records: batch(1...1), producer: producer) }
            #expect(try await broker.produce(topic: "t", records: batch(3...4), producer: producer).map(\.offset) == [3, 4])
            await broker.close()
        }
        // After a restart the last batches are still recognised.
        let broker = try openBroker(dir)
        #expect(try await broker.produce(topic: "t", records: batch(3...4), producer: producer).map(\.offset) == [3, 4])
        #expect(try broker.describeTopic("t").partitions[0].state.nextOffset == 5)
        // A new instance with the same key bumps the epoch and fences the old one.
        let newer = try await broker.initProducer(clientKey: "orders-service")
        #expect(newer.id == producer.id && newer.epoch == 1)
        await expectBrookError(.producerFenced) { try await broker.produce(topic: "t", records: batch(5...5), producer: producer) }
        #expect(try await broker.produce(topic: "t", records: batch(0...0), producer: newer).map(\.offset) == [5], "a new epoch starts at 0")
        await expectBrookError(.unknownProducerID) {
            try await broker.produce(topic: "t", records: batch(0...0), producer: ProducerIdentity(id: 999, epoch: 0))
        }
        let anonymous = try await broker.initProducer()
        #expect(anonymous.id != producer.id && anonymous.epoch == 0)
        await broker.close()
    }
}
