import CoreMetrics
import NIOCore

/// The requests one listener served, by API: how many, how many failed, and how long each took
/// from being read to being answered. Made once per listener, with every API's series built up
/// front, so a request only looks its meter up and never builds labels.
///
/// Series (Prometheus names): `brook_requests_total{protocol,api}`,
/// `brook_request_duration_seconds{protocol,api}`, and for a protocol that answers a refused
/// request with an error reply of its own (the line protocol's `ERR`)
/// `brook_request_failures_total{protocol,api}`. Kafka answers errors as codes inside each
/// API's response, per topic or partition, so it has no such series.
public final class RequestMeters<Key: Hashable & Sendable>: Sendable {
    private let meters: [Key: RequestMeter]

    /// - Parameters:
    ///   - protocol: the `protocol` label (`line`, `kafka`).
    ///   - apis: each key a request is looked up by, with its `api` label.
    ///   - countsFailures: whether requests answered through ``RequestResponder/fail(_:thenClose:)``
    ///     are counted apart.
    public init(protocol name: String, apis: [(key: Key, name: String)], countsFailures: Bool, factory: any MetricsFactory) {
        var meters: [Key: RequestMeter] = [:]
        for api in apis {
            meters[api.key] = RequestMeter(protocol: name, api: api.name, countsFailures: countsFailures, factory: factory)
        }
        self.meters = meters
    }

    /// The meter of an API; nil for a key not listed (it is not measured).
    public subscript(key: Key) -> RequestMeter? { meters[key] }
}

/// The series of one API of one protocol. Identity is the meter's own: two meters are equal only
/// when they are the same one.
public final class RequestMeter: Sendable, Hashable {
    let requests: Counter
    let failures: Counter?
    let duration: Timer

    init(protocol name: String, api: String, countsFailures: Bool, factory: any MetricsFactory) {
        let dimensions = [("protocol", name), ("api", api)]
        requests = Counter(label: RequestMetricNames.requests, dimensions: dimensions, factory: factory)
        failures = countsFailures ? Counter(label: RequestMetricNames.failures, dimensions: dimensions, factory: factory) : nil
        duration = Timer(label: RequestMetricNames.duration, dimensions: dimensions, factory: factory)
    }

    /// One request answered, `since` it was read (the pipeline calls it; public for a
    /// front-end with a pipeline of its own, and for the hot-path benchmarks).
    public func record(since read: NIODeadline, failed: Bool) {
        requests.increment()
        if failed { failures?.increment() }
        duration.recordNanoseconds(max(0, (NIODeadline.now() - read).nanoseconds))
    }

    public static func == (lhs: RequestMeter, rhs: RequestMeter) -> Bool { lhs === rhs }
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }
}

/// The names of the request series, in Prometheus' conventions; an exporter sets the duration
/// histogram's buckets by ``duration``.
public enum RequestMetricNames {
    public static let requests = "brook_requests_total"
    public static let failures = "brook_request_failures_total"
    public static let duration = "brook_request_duration_seconds"
}
