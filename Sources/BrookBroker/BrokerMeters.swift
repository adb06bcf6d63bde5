import CoreMetrics
import Synchronization

/// The broker's counters and timers, through swift-metrics' API and the factory in
/// ``BrokerOptions/metrics``, so the core knows no exporter. Counters are made once per topic
/// and cached: the produce and fetch paths add to them once per request, never building labels
/// per record. Gauges (watermarks, lag, file sizes) are not kept here: a front-end reads them
/// from the broker's state when it is scraped.
final class BrokerMeters: Sendable {
    /// The counters of one topic.
    final class TopicMeters: Sendable {
        let producedRecords: Counter
        let producedBytes: Counter
        let fetchedRecords: Counter
        let fetchedBytes: Counter
        let retentionDeletedRecords: Counter

        init(topic: String, factory: any MetricsFactory) {
            let dimensions = [("topic", topic)]
            producedRecords = Counter(label: MetricNames.producedRecords, dimensions: dimensions, factory: factory)
            producedBytes = Counter(label: MetricNames.producedBytes, dimensions: dimensions, factory: factory)
            fetchedRecords = Counter(label: MetricNames.fetchedRecords, dimensions: dimensions, factory: factory)
            fetchedBytes = Counter(label: MetricNames.fetchedBytes, dimensions: dimensions, factory: factory)
            retentionDeletedRecords = Counter(label: MetricNames.retentionDeletedRecords, dimensions: dimensions, factory: factory)
        }

        func destroy() {
            for counter in [producedRecords, producedBytes, fetchedRecords, fetchedBytes, retentionDeletedRecords] { counter.destroy() }
        }
    }

    let factory: any MetricsFactory
    private let topics = Mutex<[String: TopicMeters]>([:])
    /// How long a group commit's COMMIT took, fsync included when `durable`.
    let commitSeconds: Timer
    let durableCommitSeconds: Timer
    /// How many produce and offset-commit requests each group commit held.
    let requestsPerCommit: Recorder
    /// How long each WAL checkpoint took, background or the writer's own.
    let checkpointSeconds: Timer

    init(factory: any MetricsFactory) {
        self.factory = factory
        commitSeconds = Timer(label: MetricNames.commitSeconds, dimensions: [("fsync", "false")], factory: factory)
        durableCommitSeconds = Timer(label: MetricNames.commitSeconds, dimensions: [("fsync", "true")], factory: factory)
        requestsPerCommit = Recorder(label: MetricNames.requestsPerCommit, dimensions: [], aggregate: true, factory: factory)
        checkpointSeconds = Timer(label: MetricNames.checkpointSeconds, dimensions: [], factory: factory)
    }

    /// The counters of `topic`, made on first use.
    func topic(_ topic: String) -> TopicMeters {
        topics.withLock { topics in
            if let meters = topics[topic] { return meters }
            let meters = TopicMeters(topic: topic, factory: factory)
            topics[topic] = meters
            return meters
        }
    }

    /// Drops a deleted topic's series.
    func forget(topic: String) {
        topics.withLock { $0.removeValue(forKey: topic) }?.destroy()
    }
}

/// The names of the series the broker records, in Prometheus' conventions (`_total`, `_seconds`,
/// `_bytes`). A front-end that exports them sets their histogram buckets by these names.
public enum MetricNames {
    public static let producedRecords = "brook_produced_records_total"
    public static let producedBytes = "brook_produced_bytes_total"
    public static let fetchedRecords = "brook_fetched_records_total"
    public static let fetchedBytes = "brook_fetched_bytes_total"
    public static let retentionDeletedRecords = "brook_retention_deleted_records_total"
    public static let commitSeconds = "brook_commit_duration_seconds"
    public static let requestsPerCommit = "brook_group_commit_requests"
    public static let checkpointSeconds = "brook_checkpoint_duration_seconds"
}
