import BrookBroker
import BrookClient
import BrookModel
import BrookTestSupport
import BrookWire
import Foundation
import Testing

struct RetentionEndToEndTests {
    /// A large prune runs in chunks while a producer and a consumer keep going; the produce
    /// latencies during the prune are printed (measured, not asserted: docs/guarantees.md).
    @Test func largePruneWhileProducingAndConsuming() async throws {
        let server = try await TestServer.start(broker: { $0.retentionCheckIntervalMs = 100 })
        let client = try await server.client()
        try await client.createTopic("t", config: TopicConfig(retentionMs: 1_000))
        let old = WallClock.nowMillis() - 3_600_000
        let backlog = 40_000
        for start in stride(from: 0, to: backlog, by: 5_000) {
            try await client.produce(topic: "t", records: (start..<(start + 5_000)).map { ProducerRecord(key: nil, value: "old-\($0)", timestamp: old) })
        }
        let consumerClient = try await server.client()
        let consumer = Task {
            var consumer = PartitionConsumer(client: consumerClient, topic: "t", partition: 0, offset: Int64(backlog))
            var received = 0
            while !Task.isCancelled {
                guard let batch = try? await consumer.poll(maxWait: .milliseconds(100)) else { continue }
                received += batch.count
            }
            return received
        }
        var latencies: [Duration] = []
        let clock = ContinuousClock()
        let started = clock.now
        while clock.now - started < .seconds(2) {
            let sent = clock.now
            try await client.produce(topic: "t", records: [ProducerRecord(key: nil, value: "new")])
            latencies.append(clock.now - sent)
            try await Task.sleep(for: .milliseconds(2))
        }
        consumer.cancel()
        let received = await consumer.value
        let state = try server.broker.describeTopic("t").partitions[0].state
        #expect(state.logStartOffset >= Int64(backlog), "the backlog was pruned (log start \(state.logStartOffset))")
        #expect(received > 0, "the consumer kept receiving")
        latencies.sort()
        let ms = { (d: Duration) in Double(d.components.seconds) * 1_000 + Double(d.components.attoseconds) / 1e15 }
        print("retention-prune: pruned \(backlog) records in chunks; \(latencies.count) produces during it: p50 \(ms(latencies[latencies.count / 2])) ms, p99 \(ms(latencies[latencies.count * 99 / 100])) ms, max \(ms(latencies.last!)) ms")
        await client.close()
        await consumerClient.close()
        await server.stop()
    }

    @Test func retentionBytesHoldsPartitionsNearTheirLimit() async throws {
        let server = try await TestServer.start(broker: { $0.retentionCheckIntervalMs = 100 })
        let client = try await server.client()
        try await client.createTopic("t", partitions: 2, config: TopicConfig(retentionMs: -1, retentionBytes: 100_000))
        for _ in 0..<10 {
            for partition in 0..<2 {
                try await client.produce(topic: "t", records: (0..<50).map { _ in ProducerRecord(key: nil, value: Array(repeating: 1, count: 1_000), partition: partition) })
            }
        }
        #expect(try await eventually(10) { try await client.describeTopic("t").partitions.allSatisfy { $0.bytes <= 100_000 } })
        for partition in try await client.describeTopic("t").partitions {
            #expect(partition.bytes > 90_000, "pruned down to the limit, not far below it")
        }
        await client.close()
        await server.stop()
    }

    @Test func aGroupWhoseOffsetFellBelowTheLogStartIsResetPerItsPolicy() async throws {
        let server = try await TestServer.start(broker: { $0.groups.initialRebalanceDelayMs = 0 })
        let client = try await server.client()
        // An hour: the old records (stamped in 1970) are far past it, the new ones far inside it
        // however slowly a loaded machine runs this test.
        try await client.createTopic("t", config: TopicConfig(retentionMs: 3_600_000))
        try await client.produce(topic: "t", records: (0..<100).map { ProducerRecord(key: nil, value: "old-\($0)", timestamp: 1) })
        try await client.produce(topic: "t", records: (0..<5).map { ProducerRecord(key: nil, value: "new-\($0)") })
        for group in ["early", "late"] {
            try Reply.check(try await client.connection.send(.commit(group: group, member: "", generation: -1, offsets: [CommittedPosition(TopicPartition("t", 0), 10)])))
        }
        try await server.broker.runRetention()
        #expect(try await client.describeTopic("t").partitions[0].logStartOffset == 100)
        for (group, reset, expected) in [("early", OffsetResetPolicy.earliest, ["new-0", "new-1", "new-2", "new-3", "new-4"]), ("late", .latest, [])] {
            var options = JoinOptions(group: group, topics: ["t"])
            options.autoOffsetReset = reset
            let joined = try Reply.joined(try await client.connection.send(.join(options)))
            let polled = try Reply.polled(try await client.connection.send(.poll(
                group: group, member: joined.memberID, generation: joined.generation, maxRecords: 100, maxBytes: 1 << 20, maxWaitMs: 0)))
            #expect(polled.records.map { String(decoding: $0.1.value ?? [], as: UTF8.self) } == expected, "auto.offset.reset=\(reset)")
            try Reply.check(try await client.connection.send(.leave(group: group, member: joined.memberID)))
        }
        await client.close()
        await server.stop()
    }

    /// Traffic in a loop: 40 rounds of 1 MB written into a topic held at 2 MB. Freed
    /// pages are reused, so the file stops growing; its size per round is printed.
    @Test func steadyTrafficUnderRetentionDoesNotGrowTheFile() async throws {
        let server = try await TestServer.start(broker: { $0.checkpointWALPages = 256 })
        let client = try await server.client()
        try await client.createTopic("t", config: TopicConfig(retentionMs: -1, retentionBytes: 2_000_000))
        let path = server.dir.file("brook.db")
        var sizes: [Int] = []
        var databaseSizes: [Int] = []
        for _ in 0..<40 {
            try await client.produce(topic: "t", records: (0..<100).map { _ in ProducerRecord(key: nil, value: Array(repeating: 7, count: 10_000)) })
            try await server.broker.runRetention()
            // The whole footprint: the database file and its WAL.
            let db = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
            let wal = (try? FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int) ?? 0
            sizes.append(db + wal)
            databaseSizes.append(db)
            if sizes.count % 10 == 0 { print("retention-file-size: after \(sizes.count) MB written: database \(db) bytes, WAL \(wal) bytes") }
        }
        // Freed pages are reused: the database file stops growing once it holds its working set.
        let earlier = databaseSizes[10..<20].max()!
        let later = databaseSizes[20...].max()!
        #expect(later <= earlier + 1_000_000, "the database file stopped growing (\(databaseSizes))")
        // The WAL cycles (copied by checkpoints, truncated past 4 × 256 pages), so it stays bounded.
        #expect(sizes[20...].max()! < 16_000_000, "40 MB written; the 2 MB held, free pages and a bounded WAL remain (\(sizes))")
        await client.close()
        await server.stop()
    }
}
