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

    /// librdkafka's own epoch bump (KIP-360): after some errors it moves to epoch + 1 and starts
    /// every partition again at sequence 0, without InitProducerId. Kafka accepts that and fences
    /// the old epoch from then on.
    @Test func aProducerMayBumpItsOwnEpochAndStartAgainAtZero() async throws {
        let dir = TemporaryDirectory()
        let producer: ProducerIdentity
        let bumped: ProducerIdentity
        do {
            let broker = try openBroker(dir)
            try await broker.createTopic("t", partitions: 2)
            producer = try await broker.initProducer(clientKey: "payments")
            #expect(try await broker.produce(topic: "t", records: batch(0...2), producer: producer).map(\.offset) == [0, 1, 2])
            bumped = ProducerIdentity(id: producer.id, epoch: producer.epoch + 1)
            // A higher epoch must start at 0.
            await expectBrookError(.outOfOrderSequenceNumber) { try await broker.produce(topic: "t", records: batch(3...3), producer: bumped) }
            let first = try await broker.produce(topic: "t", records: batch(0...1), producer: bumped)
            #expect(first.map(\.offset) == [3, 4])
            // A retry in the new epoch is recognised; the next batch follows on.
            #expect(try await broker.produce(topic: "t", records: batch(0...1), producer: bumped) == first)
            #expect(try await broker.produce(topic: "t", records: batch(2...2), producer: bumped).map(\.offset) == [5])
            // The other partition starts its new sequence space at 0 too.
            #expect(try await broker.produce(topic: "t", records: batch(0...0, partition: 1), producer: bumped).map(\.offset) == [0])
            // The old epoch is fenced, in every partition.
            await expectBrookError(.producerFenced) { try await broker.produce(topic: "t", records: batch(3...3), producer: producer) }
            await expectBrookError(.producerFenced) { try await broker.produce(topic: "t", records: batch(0...0, partition: 1), producer: producer) }
            await broker.close()
        }
        // The bumped epoch survives a restart; a new instance with the same key gets the one after.
        let broker = try openBroker(dir)
        await expectBrookError(.producerFenced) { try await broker.produce(topic: "t", records: batch(3...3), producer: producer) }
        #expect(try await broker.produce(topic: "t", records: batch(3...3), producer: bumped).map(\.offset) == [6])
        let newer = try await broker.initProducer(clientKey: "payments")
        #expect(newer.id == producer.id && newer.epoch == bumped.epoch + 1)
        await expectBrookError(.producerFenced) { try await broker.produce(topic: "t", records: batch(4...4), producer: bumped) }
        #expect(try await broker.produce(topic: "t", records: batch(0...0), producer: newer).map(\.offset) == [7])
        await broker.close()
    }
}
