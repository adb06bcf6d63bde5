/// The protocol's size limits, announced in the greeting and enforced by the frame decoder.
public struct WireLimits: Sendable, Hashable {
    /// The longest line, terminator included.
    public var maxLine: Int
    /// The largest single data item.
    public var maxRecordBytes: Int
    /// The most data one request (or reply) may carry in all.
    public var maxRequestBytes: Int
    /// The most records one PRODUCE may carry.
    public var maxBatchRecords: Int
    /// The most connections the server holds; more are answered with an error and closed.
    public var maxConnections = 10_000
    /// Requests one connection may have unanswered before the server stops reading it.
    public var maxInFlight = 1_024
    /// Bytes one connection may hold in unanswered requests and unwritten replies; past it the server
    /// stops reading the connection until the client reads its replies (one request always proceeds).
    public var maxInFlightBytes = 64 * 1_048_576
    /// Long polls (a FETCH or POLL waiting for data) one connection has waiting at once. A
    /// connection's requests take effect in order, so a later one waits behind a long poll; the
    /// count is fixed, and announced so that clients know to open another connection instead.
    public let maxLongPolls = 1
    /// A connection with no traffic either way for this long is closed (longer than any long poll).
    public var idleTimeoutMs: Int64 = 600_000

    public init(maxLine: Int = 65_536, maxRecordBytes: Int = 64 * 1_048_576, maxRequestBytes: Int = 64 * 1_048_576, maxBatchRecords: Int = 10_000) {
        self.maxLine = maxLine
        self.maxRecordBytes = maxRecordBytes
        self.maxRequestBytes = maxRequestBytes
        self.maxBatchRecords = maxBatchRecords
    }

    /// Limits for a client reading replies: large results are expected, streams are chunked.
    public static let client = WireLimits(maxLine: 1_048_576, maxRecordBytes: 1 << 40, maxRequestBytes: 1 << 40, maxBatchRecords: .max)
}

/// The protocol version and the server's name in the greeting.
public enum WireProtocol {
    public static let version = 1
    public static let serverVersion = "0.1.0"
    public static let defaultPort = 7665
}
