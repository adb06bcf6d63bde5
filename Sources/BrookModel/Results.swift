/// Where a produced record landed.
public struct RecordPosition: Sendable, Hashable {
    public var partition: Int
    /// The record's offset, or -1 for `acks=0` (as Kafka reports it).
    public var offset: Int64
    /// The time the broker stamped on the record when its topic's `message.timestamp.type` is
    /// LogAppendTime (for a retried batch of an idempotent producer, the time of its first append,
    /// as Kafka answers it); nil under CreateTime and for `acks=0`.
    public var logAppendTime: Int64?

    public init(partition: Int, offset: Int64, logAppendTime: Int64? = nil) {
        self.partition = partition
        self.offset = offset
        self.logAppendTime = logAppendTime
    }
}

/// A listed offset; `timestamp` is the record's for ``OffsetSpec/timestamp(_:)``.
public struct ListedOffset: Sendable, Hashable {
    public var offset: Int64
    public var timestamp: Int64?

    public init(offset: Int64, timestamp: Int64? = nil) {
        self.offset = offset
        self.timestamp = timestamp
    }
}

/// One value of a SQL result row.
public enum SQLValue: Sendable, Hashable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
}

/// One value of a SQL result row, borrowed from SQLite's buffers for the length of one call.
public enum SQLValueView {
    case null
    case integer(Int64)
    case real(Double)
    case text(UnsafeRawBufferPointer)
    case blob(UnsafeRawBufferPointer)

    /// A copy that outlives the call.
    public var value: SQLValue {
        switch self {
        case .null: .null
        case .integer(let number): .integer(number)
        case .real(let number): .real(number)
        case .text(let bytes): .text(String(decoding: bytes, as: UTF8.self))
        case .blob(let bytes): .blob(Array(bytes))
        }
    }

    /// What the value counts against a query's result-byte limit: its bytes for text and blobs,
    /// 8 for a number, 1 for null.
    public var resultBytes: Int {
        switch self {
        case .null: 1
        case .integer, .real: 8
        case .text(let bytes), .blob(let bytes): bytes.count
        }
    }
}

/// Receives a query's rows on the SQL thread as they are stepped, so that a front-end encodes
/// its reply in one pass instead of copying every value first.
public protocol SQLRowSink: Sendable {
    init(columns: [String])
    /// Called once per row; the views are valid only during the call.
    mutating func append(_ row: [SQLValueView])
    /// The last call: whether rows were left out at the row limit.
    mutating func finish(truncated: Bool)
}

/// The bounds of read-only SQL, announced in the line protocol's greeting.
public struct SQLLimits: Sendable, Hashable {
    /// The longest statement, in UTF-8 bytes.
    public var maxStatementBytes: Int
    /// The most bytes of values one result holds (see ``SQLValueView/resultBytes``); past it the
    /// query fails with `RESULT_TOO_LARGE`.
    public var maxResultBytes: Int
    /// Queries waiting or running at once, over the whole broker; past it a query is refused
    /// with `SQL_QUEUE_FULL`. They run one at a time.
    public var maxQueued: Int

    public init(maxStatementBytes: Int = 1_048_576, maxResultBytes: Int = 16 * 1_048_576, maxQueued: Int = 32) {
        self.maxStatementBytes = maxStatementBytes
        self.maxResultBytes = maxResultBytes
        self.maxQueued = maxQueued
    }
}

/// The rows a read-only query returned.
public struct QueryResult: Sendable, Hashable, SQLRowSink {
    public var columns: [String]
    public var rows: [[SQLValue]]
    /// More rows were available than the row limit allowed.
    public var truncated: Bool

    public init(columns: [String], rows: [[SQLValue]], truncated: Bool) {
        self.columns = columns
        self.rows = rows
        self.truncated = truncated
    }

    public init(columns: [String]) {
        self.init(columns: columns, rows: [], truncated: false)
    }

    public mutating func append(_ row: [SQLValueView]) {
        rows.append(row.map(\.value))
    }

    public mutating func finish(truncated: Bool) {
        self.truncated = truncated
    }
}

/// A topic as admin requests describe it: its settings and, when asked, its partitions.
public struct TopicDescription: Hashable, Sendable {
    public var name: String
    public var partitionCount: Int
    public var config: TopicConfig
    /// Per-partition counters; empty in a topic listing.
    public var partitions: [PartitionDescription]

    public init(name: String, partitionCount: Int, config: TopicConfig, partitions: [PartitionDescription] = []) {
        self.name = name
        self.partitionCount = partitionCount
        self.config = config
        self.partitions = partitions
    }
}

/// One partition's counters.
public struct PartitionDescription: Hashable, Sendable {
    public var index: Int
    /// The first offset still held.
    public var logStartOffset: Int64
    /// The high watermark: the next record's offset.
    public var nextOffset: Int64
    public var bytes: Int64

    public init(index: Int, logStartOffset: Int64, nextOffset: Int64, bytes: Int64) {
        self.index = index
        self.logStartOffset = logStartOffset
        self.nextOffset = nextOffset
        self.bytes = bytes
    }

    public var recordCount: Int64 { nextOffset - logStartOffset }
}

/// Records returned by a fetch, with the partition's counters.
public struct FetchResult: Sendable, Hashable {
    public var records: [Record]
    public var highWatermark: Int64
    public var logStartOffset: Int64

    public init(records: [Record], highWatermark: Int64, logStartOffset: Int64) {
        self.records = records
        self.highWatermark = highWatermark
        self.logStartOffset = logStartOffset
    }

    /// The offset to fetch next.
    public func nextOffset(after requested: Int64) -> Int64 {
        records.last.map { $0.offset + 1 } ?? requested
    }
}

/// One partition's part of a multi-partition fetch: its records, or why it has none.
public struct PartitionFetchResult: Sendable, Hashable {
    public var partition: Int
    /// Empty (with -1 watermarks) when `error` is set.
    public var result: FetchResult
    /// Why this partition has no records (`OFFSET_OUT_OF_RANGE`, `UNKNOWN_PARTITION`…); the other
    /// partitions answer regardless.
    public var error: BrookError?

    public init(partition: Int, result: FetchResult, error: BrookError? = nil) {
        self.partition = partition
        self.result = result
        self.error = error
    }
}

/// One committed position of a consumer group.
public struct CommittedOffset: Sendable, Hashable {
    public var group: String
    public var topic: String
    public var partition: Int
    /// The next offset the group will read.
    public var offset: Int64
    public var metadata: String
    public var committedMs: Int64

    public init(group: String, topic: String, partition: Int, offset: Int64, metadata: String, committedMs: Int64) {
        self.group = group
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.metadata = metadata
        self.committedMs = committedMs
    }
}

/// What a backup wrote and checked.
public struct BackupReport: Sendable, Hashable {
    public var path: String
    public var bytes: Int64
    public var schemaVersion: Int
    /// `PRAGMA integrity_check` of the copy: "ok" when sound.
    public var integrity: String
    public var durationMs: Int64

    public init(path: String, bytes: Int64, schemaVersion: Int, integrity: String, durationMs: Int64) {
        self.path = path
        self.bytes = bytes
        self.schemaVersion = schemaVersion
        self.integrity = integrity
        self.durationMs = durationMs
    }
}
