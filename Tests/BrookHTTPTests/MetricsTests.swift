import BrookBroker
import BrookHTTP
import BrookModel
import BrookTestSupport
import Logging
import Synchronization
import Testing

/// The samples of a Prometheus text exposition, keyed by the line's name and labels as written.
func samples(_ text: String) -> [String: Double] {
    var found: [String: Double] = [:]
    for line in text.split(separator: "\n") where !line.hasPrefix("#") {
        guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
        found[String(line[..<space])] = value
    }
    return found
}

@Suite struct MetricsTests {
    @Test func countsWhatWasProducedAndFetchedPerTopic() async throws {
        let metrics = BrookMetrics()
        let test = try TestBroker("http-metrics") { $0.metrics = metrics.factory }
        let http = try await startHTTP(test.broker, metrics: metrics)
        defer { Task { await test.stop(serving: http.task) } }
        let broker = test.broker
        _ = try await broker.createTopic("orders", partitions: 2)
        // 3 records of 2 + 4 bytes in one request, 1 of 2 + 5 bytes in another, on partition 1.
        try await broker.produce(topic: "orders", records: (0..<3).map { ProducerRecord(key: "k\($0)", value: "val\($0)", partition: 1) })
        try await broker.produce(topic: "orders", records: [ProducerRecord(key: "k9", value: "value", partition: 1)])
        let fetched = try await broker.fetch(topic: "orders", partition: 1, offset: 1)
        #expect(fetched.records.count == 3)
        try await broker.commitOffsets(group: "billing", [OffsetCommit(topic: "orders", partition: 1, offset: 1)])

        let page = try await HTTPExchange.send("/metrics", port: http.port)
        #expect(page.status == 200)
        #expect(page.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true)
        let found = samples(page.body)
        #expect(found[#"brook_produced_records_total{topic="orders"}"#] == 4)
        #expect(found[#"brook_produced_bytes_total{topic="orders"}"#] == 25)
        #expect(found[#"brook_fetched_records_total{topic="orders"}"#] == 3)
        #expect(found[#"brook_fetched_bytes_total{topic="orders"}"#] == 19)
        #expect(found[#"brook_partition_high_watermark{topic="orders",partition="0"}"#] == 0)
        #expect(found[#"brook_partition_high_watermark{topic="orders",partition="1"}"#] == 4)
        #expect(found[#"brook_partition_log_start_offset{topic="orders",partition="1"}"#] == 0)
        #expect(found[#"brook_group_lag_sum{group="billing"}"#] == 3)
        #expect(found[#"brook_group_lag_max{group="billing"}"#] == 3)
        #expect(found.keys.contains { $0.hasPrefix("brook_group_partition_lag") } == false)
        // Two produce requests and one offset commit, each its own group commit here.
        #expect(found[#"brook_group_commit_requests_count"#] == 3)
        #expect(found[#"brook_commit_duration_seconds_count{fsync="false"}"#] == 3)
        #expect(found[#"brook_commit_duration_seconds_bucket{fsync="false",le="0.00005"}"#] != nil)

        let detailed = samples(try await HTTPExchange.send("/metrics?lag=partition", port: http.port).body)
        #expect(detailed[#"brook_group_partition_lag{group="billing",topic="orders",partition="1"}"#] == 3)
    }

    @Test func aDeletedTopicTakesItsSeries() async throws {
        let metrics = BrookMetrics()
        let test = try TestBroker("http-metrics-delete") { $0.metrics = metrics.factory }
        let http = try await startHTTP(test.broker, metrics: metrics)
        defer { Task { await test.stop(serving: http.task) } }
        _ = try await test.broker.createTopic("gone")
        try await test.broker.produce(topic: "gone", records: [ProducerRecord(key: nil, value: "x")])
        let before = try await HTTPExchange.send("/metrics", port: http.port).body
        #expect(samples(before)[#"brook_produced_records_total{topic="gone"}"#] == 1)
        try await test.broker.deleteTopic("gone")
        let after = try await HTTPExchange.send("/metrics", port: http.port).body
        #expect(!after.contains(#"topic="gone""#), "\(after)")
    }

    @Test func retentionCountsWhatItDeleted() async throws {
        let metrics = BrookMetrics()
        let test = try TestBroker("http-metrics-retention") { $0.metrics = metrics.factory }
        let http = try await startHTTP(test.broker, metrics: metrics)
        defer { Task { await test.stop(serving: http.task) } }
        var config = TopicConfig()
        config.retentionMs = 1
        _ = try await test.broker.createTopic("short", config: config)
        try await test.broker.produce(topic: "short", records: (0..<5).map { ProducerRecord(key: nil, value: "r\($0)", timestamp: 1_000) })
        let report = try await test.broker.runRetention()
        #expect(report.deletedRecords == 5)
        let found = samples(try await HTTPExchange.send("/metrics", port: http.port).body)
        #expect(found[#"brook_retention_deleted_records_total{topic="short"}"#] == 5)
        #expect(found[#"brook_partition_log_start_offset{topic="short",partition="0"}"#] == 5)
    }

    @Test func connectionsAreReadAtScrapeTime() async throws {
        let metrics = BrookMetrics()
        let test = try TestBroker("http-metrics-connections") { $0.metrics = metrics.factory }
        let http = try await startHTTP(test.broker, metrics: metrics)
        defer { Task { await test.stop(serving: http.task) } }
        let open = OpenCount()
        metrics.countConnections(protocol: "line") { open.value }
        open.value = 7
        #expect(samples(try await HTTPExchange.send("/metrics", port: http.port).body)[#"brook_connections{protocol="line"}"#] == 7)
    }
}

/// A connection count a test sets.
final class OpenCount: Sendable {
    private let count = Atomic<Int>(0)
    var value: Int {
        get { count.load(ordering: .relaxed) }
        set { count.store(newValue, ordering: .relaxed) }
    }
}
