/// One header of a record: a text key and a byte value. A record's headers are an ordered list
/// and may repeat a key, as in Kafka.
public struct Header: Hashable, Sendable {
    public var key: String
    public var value: [UInt8]

    public init(_ key: String, _ value: [UInt8]) {
        self.key = key
        self.value = value
    }

    public init(_ key: String, _ value: String) {
        self.init(key, Array(value.utf8))
    }
}

/// A record stored in a partition log.
public struct Record: Hashable, Sendable {
    /// Position in the partition: starts at 0, grows by 1 per record, never reused.
    public var offset: Int64
    /// Milliseconds since the Unix epoch: the producer's, or the broker's time at append.
    public var timestamp: Int64
    public var key: [UInt8]?
    public var headers: [Header]
    public var value: [UInt8]?

    public init(offset: Int64, timestamp: Int64, key: [UInt8]?, headers: [Header] = [], value: [UInt8]?) {
        self.offset = offset
        self.timestamp = timestamp
        self.key = key
        self.headers = headers
        self.value = value
    }
}

/// A record as a producer sends it, before the broker gives it an offset.
public struct ProducerRecord: Hashable, Sendable {
    public var key: [UInt8]?
    public var value: [UInt8]?
    public var headers: [Header]
    /// Producer-given time in ms since the epoch; `nil` means the broker's time at append.
    public var timestamp: Int64?
    /// An explicit partition; `nil` lets the partitioner choose.
    public var partition: Int?
    /// For an idempotent producer: this record's sequence number in its partition.
    public var sequence: Int32?

    public init(
        key: [UInt8]? = nil,
        value: [UInt8]?,
        headers: [Header] = [],
        timestamp: Int64? = nil,
        partition: Int? = nil
    ) {
        self.key = key
        self.value = value
        self.headers = headers
        self.timestamp = timestamp
        self.partition = partition
    }

    /// Convenience for text keys and values.
    public init(key: String?, value: String, headers: [Header] = [], timestamp: Int64? = nil, partition: Int? = nil) {
        self.init(
            key: key.map { Array($0.utf8) }, value: Array(value.utf8),
            headers: headers, timestamp: timestamp, partition: partition)
    }

    /// The bytes this record occupies in the log, the measure `max.message.bytes` and
    /// `retention.bytes` use: key + value + encoded headers.
    public var size: Int {
        (key?.count ?? 0) + (value?.count ?? 0) + HeaderCodec.encodedSize(headers)
    }
}

extension Record {
    /// The same measure as ``ProducerRecord/size``.
    public var size: Int {
        (key?.count ?? 0) + (value?.count ?? 0) + HeaderCodec.encodedSize(headers)
    }
}
