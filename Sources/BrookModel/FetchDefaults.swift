/// Fetch defaults and limits, defined once for the broker, the line protocol, the client and the
/// CLI.
public enum FetchDefaults {
    /// Records a fetch of one partition returns when it does not say.
    public static let maxRecords = 500
    /// Bytes (record sizes) a fetch of one partition returns when it does not say; the first
    /// record always comes, whatever its size.
    public static let maxBytes = 1_048_576
    /// Bytes a fetch over many partitions returns in all when it does not say (Kafka's
    /// `fetch.max.bytes`).
    public static let totalMaxBytes = 52_428_800
    /// The most records one fetch may ask for.
    public static let maxRecordsLimit = 100_000
    /// The longest a fetch or a POLL may wait for data, in ms (`max_wait_ms`).
    public static let maxWaitLimitMs: Int64 = 300_000
}
