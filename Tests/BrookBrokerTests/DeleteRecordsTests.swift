import BrookBroker
import BrookModel
import BrookTestSupport
import Testing

/// Kafka's DeleteRecords on the embedded broker: the log start moves forward, never back, in
/// chunks, and survives a restart.
struct DeleteRecordsTests {
    @Test func deletingRecordsAdvancesTheLogStartInChunksAndSurvivesARestart() async throws {
        let dir = TemporaryDirectory()
        var broker = try openBroker(dir) { $0.retentionChunkRecords = 3 }
        try await broker.createTopic("t")
        try await broker.produce(topic: "t", records: (0..<10).map { ProducerRecord(key: nil, value: bytes("v\($0)")) })
        let bytesBefore = try broker.describeTopic("t").partitions[0].state.bytes

        #expect(try await broker.deleteRecords(topic: "t", partition: 0, before: 8) == 8)
        let state = try broker.describeTopic("t").partitions[0].state
        #expect(state.logStartOffset == 8 && state.nextOffset == 10)
        #expect(state.bytes == bytesBefore - 8 * 2)
        await expectBrookError(.offsetOutOfRange) { _ = try await broker.fetch(topic: "t", partition: 0, offset: 7) }
        #expect(try await broker.fetch(topic: "t", partition: 0, offset: 8).records.map(\.value) == [bytes("v8"), bytes("v9")])
        // Never backwards; above the high watermark is out of range; nil means the high watermark.
        #expect(try await broker.deleteRecords(topic: "t", partition: 0, before: 2) == 8)
        await expectBrookError(.offsetOutOfRange) { _ = try await broker.deleteRecords(topic: "t", partition: 0, before: 11) }
        await expectBrookError(.unknownPartition) { _ = try await broker.deleteRecords(topic: "t", partition: 1, before: 1) }

        await broker.close()
        broker = try openBroker(dir)
        #expect(try broker.describeTopic("t").partitions[0].state.logStartOffset == 8)
        #expect(try await broker.deleteRecords(topic: "t", partition: 0, before: nil) == 10)
        #expect(try await broker.listOffset(topic: "t", partition: 0, .earliest)?.offset == 10)
        try await broker.produce(topic: "t", records: [ProducerRecord(key: nil, value: bytes("next"))])
        #expect(try await broker.fetch(topic: "t", partition: 0, offset: 10).records.map(\.offset) == [10], "offsets are never reused")
        await broker.close()
    }
}
