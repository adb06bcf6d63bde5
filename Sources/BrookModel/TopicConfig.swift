/// A topic's settings, with Kafka's names and defaults.
public struct TopicConfig: Hashable, Sendable {
    /// `retention.ms`: records older than this are pruned; -1 keeps them forever.
    public var retentionMs: Int64
    /// `retention.bytes`: each partition is pruned down to this many bytes; -1 means unlimited.
    public var retentionBytes: Int64
    /// `max.message.bytes`: the largest record (key + value + headers) the topic accepts.
    public var maxMessageBytes: Int
    /// `message.timestamp.type`: whose time a record keeps.
    public var messageTimestampType: MessageTimestampType
    /// `compression.type`: how fetches serve the topic's records.
    public var compressionType: CompressionType

    public static let defaultRetentionMs: Int64 = 604_800_000
    public static let defaultRetentionBytes: Int64 = -1
    public static let defaultMaxMessageBytes = 1_048_576
    /// The largest `max.message.bytes` a topic may set: 64 MiB.
    public static let maxMaxMessageBytes = 64 * 1_048_576

    public init(
        retentionMs: Int64 = TopicConfig.defaultRetentionMs,
        retentionBytes: Int64 = TopicConfig.defaultRetentionBytes,
        maxMessageBytes: Int = TopicConfig.defaultMaxMessageBytes,
        messageTimestampType: MessageTimestampType = .createTime,
        compressionType: CompressionType = .producer
    ) {
        self.retentionMs = retentionMs
        self.retentionBytes = retentionBytes
        self.maxMessageBytes = maxMessageBytes
        self.messageTimestampType = messageTimestampType
        self.compressionType = compressionType
    }

    /// Throws `INVALID_CONFIG` naming the setting and its allowed range.
    public func validate() throws(BrookError) {
        if retentionMs < -1 || retentionMs == 0 {
            throw BrookError(.invalidConfig, "retention.ms \(retentionMs) is invalid: use -1 (forever) or a positive number of ms")
        }
        if retentionBytes < -1 || retentionBytes == 0 {
            throw BrookError(.invalidConfig, "retention.bytes \(retentionBytes) is invalid: use -1 (unlimited) or a positive number of bytes")
        }
        if maxMessageBytes < 1 || maxMessageBytes > TopicConfig.maxMaxMessageBytes {
            throw BrookError(.invalidConfig, "max.message.bytes \(maxMessageBytes) is invalid: use 1 to \(TopicConfig.maxMaxMessageBytes)")
        }
    }
}

/// A topic's `message.timestamp.type`, with Kafka's names.
public enum MessageTimestampType: String, Sendable, Hashable, CaseIterable {
    /// The producer's timestamp is kept (the broker's time when it gave none).
    case createTime = "CreateTime"
    /// The broker stamps every record with the time it appended it, whatever the producer gave.
    case logAppendTime = "LogAppendTime"

    /// Parses Kafka's name for it.
    /// - Throws: `INVALID_CONFIG` naming the value and the allowed ones.
    public init(parsing text: String) throws(BrookError) {
        guard let type = MessageTimestampType(rawValue: text) else {
            throw BrookError(.invalidConfig, "message.timestamp.type=\(TopicName.quoted(text)) is invalid: use CreateTime or LogAppendTime")
        }
        self = type
    }
}

/// A topic's `compression.type`, with Kafka's names: the codec of the record batches fetches
/// serve. Records are stored uncompressed whatever the producer sent.
public enum CompressionType: String, Sendable, Hashable, CaseIterable {
    /// Kafka keeps the producer's batches as sent; Brook, which stores records one by one, serves
    /// them uncompressed.
    case producer
    case uncompressed
    case gzip
    case snappy
    case lz4
    case zstd

    /// Parses Kafka's name for it.
    /// - Throws: `INVALID_CONFIG` naming the value and the allowed ones.
    public init(parsing text: String) throws(BrookError) {
        guard let type = CompressionType(rawValue: text) else {
            throw BrookError(.invalidConfig, "compression.type=\(TopicName.quoted(text)) is invalid: use producer, uncompressed, gzip, snappy, lz4 or zstd")
        }
        self = type
    }
}

/// Topic-name rules, as Kafka's: 1 to 249 characters from `[A-Za-z0-9._-]`, not `.` or `..`.
/// Brook also reserves the `__brook` prefix for its own tables and SQLite's `sqlite_` prefix,
/// since every topic is also a SQL view of that name.
public enum TopicName {
    public static let maxLength = 249
    public static let reservedPrefixes = ["__brook", "sqlite_"]
    /// The most partitions one topic may have.
    public static let maxPartitions = 10_000

    public static func validate(_ name: String) throws(BrookError) {
        let utf8 = name.utf8
        if utf8.isEmpty {
            throw BrookError(.invalidTopic, "topic name is empty: use 1 to \(maxLength) characters from [A-Za-z0-9._-]")
        }
        if utf8.count > maxLength {
            throw BrookError(.invalidTopic, "topic name of \(utf8.count) characters exceeds the limit of \(maxLength)")
        }
        if name == "." || name == ".." {
            throw BrookError(.invalidTopic, "topic name '\(name)' is not allowed")
        }
        for byte in utf8 where !isLegal(byte) {
            throw BrookError(.invalidTopic, "topic name \(quoted(name)) contains an illegal character: use only [A-Za-z0-9._-]")
        }
        let lower = name.lowercased()
        for prefix in reservedPrefixes where lower.hasPrefix(prefix) {
            throw BrookError(.invalidTopic, "topic name '\(name)' uses the reserved prefix '\(prefix)'")
        }
    }

    public static func validatePartitionCount(_ count: Int) throws(BrookError) {
        if count < 1 || count > maxPartitions {
            throw BrookError(.invalidPartitions, "partition count \(count) is invalid: use 1 to \(maxPartitions)")
        }
    }

    static func isLegal(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
            return true
        default:
            return false
        }
    }

    /// A printable rendering of a possibly hostile name for error messages.
    static func quoted(_ name: String) -> String {
        var out = "'"
        for scalar in name.unicodeScalars.prefix(64) {
            if scalar.value < 0x20 || scalar.value == 0x7F || scalar == "'" || scalar == "\\" {
                out += scalar.escaped(asASCII: true)
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        if name.unicodeScalars.count > 64 { out += "…" }
        return out + "'"
    }
}
