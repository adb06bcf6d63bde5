import BrookBroker
import BrookFrontEnd
import BrookModel
import CoreMetrics
import Foundation
import Prometheus
import Synchronization

/// The Prometheus registry behind `/metrics`. The broker records its counters and timers into
/// ``factory`` (pass it as `BrokerOptions.metrics`); the gauges (watermarks, group lag, file
/// sizes, connections) are read from the broker when `/metrics` is scraped, so they cost nothing
/// between scrapes and a deleted topic or group has no series left to drop.
public final class BrookMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    /// The swift-metrics factory writing into ``registry``, with buckets below a millisecond.
    public let factory: PrometheusMetricsFactory
    private let connectionCounts = Mutex<[ConnectionCount]>([])

    /// Where `brook_connections{protocol=…}` is read from.
    private struct ConnectionCount: Sendable {
        var name: String
        var count: @Sendable () -> Int
    }

    /// Durations from 50 µs: a group commit without fsync takes tens of microseconds.
    public static let durationBuckets: [Duration] = [
        .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500),
        .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2_500), .seconds(5),
    ]

    /// Requests take from ten microseconds (a PING, a cached Metadata) to a long poll's wait.
    public static let requestDurationBuckets: [Duration] = [
        .microseconds(10), .microseconds(25), .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500),
        .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2_500), .seconds(5), .seconds(30),
    ]

    /// Requests per group commit: powers of two up to the writer's batch.
    public static let requestCountBuckets: [Double] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1_024, 4_096]

    public init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = Self.durationBuckets
        factory.valueHistogramBuckets[MetricNames.requestsPerCommit] = Self.requestCountBuckets
        factory.durationHistogramBuckets[RequestMetricNames.duration] = Self.requestDurationBuckets
        self.factory = factory
    }

    /// Adds a listener's open connections to `brook_connections{protocol=…}`, read at scrape time.
    public func countConnections(protocol name: String, _ count: @escaping @Sendable () -> Int) {
        connectionCounts.withLock { $0.append(ConnectionCount(name: name, count: count)) }
    }

    /// The whole exposition: the registry's series, then the gauges read from `broker` now.
    /// - Parameter lagPerPartition: also `brook_group_partition_lag` (one series per group and
    ///   partition, so only when asked for).
    public func exposition(of broker: Broker, lagPerPartition: Bool = false) async -> String {
        var text = registry.emitToString()
        var gauges = GaugeText()

        gauges.family("brook_connections", help: "Open connections, by protocol.")
        for source in connectionCounts.withLock({ $0 }) {
            gauges.sample("brook_connections", ["protocol": source.name], Double(source.count()))
        }

        let topics = (try? broker.listTopics()) ?? []
        gauges.family("brook_partition_high_watermark", help: "The next offset a partition will write.")
        for topic in topics {
            for partition in topic.partitions {
                gauges.sample("brook_partition_high_watermark", ["topic": topic.name, "partition": "\(partition.index)"], Double(partition.state.nextOffset))
            }
        }
        gauges.family("brook_partition_log_start_offset", help: "The first offset a partition still holds.")
        for topic in topics {
            for partition in topic.partitions {
                gauges.sample("brook_partition_log_start_offset", ["topic": topic.name, "partition": "\(partition.index)"], Double(partition.state.logStartOffset))
            }
        }

        var lags: [(group: String, offsets: [GroupDescription.Offset])] = []
        for listing in (try? await broker.groups.listings()) ?? [] {
            if let description = try? await broker.groups.describe(group: listing.group) {
                lags.append((listing.group, description.offsets))
            }
        }
        gauges.family("brook_group_lag_sum", help: "Records a group has yet to consume, over its committed partitions.")
        for (group, offsets) in lags {
            gauges.sample("brook_group_lag_sum", ["group": group], Double(offsets.reduce(0) { $0 + ($1.lag ?? 0) }))
        }
        gauges.family("brook_group_lag_max", help: "The largest lag of one of a group's partitions.")
        for (group, offsets) in lags {
            gauges.sample("brook_group_lag_max", ["group": group], Double(offsets.map { $0.lag ?? 0 }.max() ?? 0))
        }
        if lagPerPartition {
            gauges.family("brook_group_partition_lag", help: "Records a group has yet to consume from one partition.")
            for (group, offsets) in lags {
                for offset in offsets {
                    gauges.sample(
                        "brook_group_partition_lag",
                        ["group": group, "topic": offset.partition.topic, "partition": "\(offset.partition.partition)"], Double(offset.lag ?? 0))
                }
            }
        }

        gauges.family("brook_database_file_bytes", help: "The size of the database file.")
        gauges.sample("brook_database_file_bytes", [:], Double(Self.fileSize(broker.path)))
        gauges.family("brook_wal_file_bytes", help: "The size of the database's write-ahead log.")
        gauges.sample("brook_wal_file_bytes", [:], Double(Self.fileSize(broker.path + "-wal")))

        text += gauges.text
        return text
    }

    private static func fileSize(_ path: String) -> Int64 {
        var status = stat()
        return stat(path, &status) == 0 ? Int64(status.st_size) : 0
    }
}

/// Gauges in Prometheus' text format, labels in a fixed order.
struct GaugeText {
    private(set) var text = ""

    mutating func family(_ name: String, help: String) {
        text += "# HELP \(name) \(help)\n# TYPE \(name) gauge\n"
    }

    mutating func sample(_ name: String, _ labels: KeyValuePairs<String, String>, _ value: Double) {
        text += name
        if labels.count > 0 {
            text += "{" + labels.map { "\($0.key)=\"\(Self.escaped($0.value))\"" }.joined(separator: ",") + "}"
        }
        text += " \(value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value))\n"
    }

    /// A label value as the format requires: backslash, quote and newline escaped.
    static func escaped(_ value: String) -> String {
        var out = ""
        for character in value {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(character)
            }
        }
        return out
    }
}
