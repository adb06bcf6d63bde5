import BrookModel

/// A fetch over one or more partitions, as Kafka's Fetch asks for one: each partition from its
/// offset within its own limits, the whole within total limits, waiting up to `maxWait` until at
/// least `minBytes` have gathered.
public struct FetchRequest: Sendable, Hashable {
    /// One partition to read, from `offset`, at most `maxRecords` and `maxBytes`.
    public struct Partition: Sendable, Hashable {
        public var topic: String
        public var partition: Int
        public var offset: Int64
        public var maxBytes: Int
        public var maxRecords: Int

        public init(topic: String, partition: Int, offset: Int64, maxBytes: Int = FetchDefaults.maxBytes, maxRecords: Int = FetchDefaults.maxRecords) {
            self.topic = topic
            self.partition = partition
            self.offset = offset
            self.maxBytes = maxBytes
            self.maxRecords = maxRecords
        }
    }

    /// Read in this order: the first partition with records gets at least one even over the
    /// byte limits; the others get what still fits.
    public var partitions: [Partition]
    /// Bytes (record sizes) to gather before answering: 1 answers on the first record, 0 at once.
    public var minBytes: Int
    /// The most bytes the answer carries over all partitions (the first record excepted).
    public var maxBytes: Int
    /// The most records the answer carries over all partitions.
    public var maxRecords: Int
    /// The longest to wait for `minBytes`; zero answers with what is there.
    public var maxWait: Duration
    /// Whether ``Broker``'s explicit wake of one of the partitions (the group coordinator's, on a
    /// rebalance) answers the fetch at once, so a group's POLL learns of the rebalance. A plain
    /// fetch looks again and keeps waiting.
    public var answersOnWake: Bool

    public init(
        partitions: [Partition], minBytes: Int = 1, maxBytes: Int = FetchDefaults.totalMaxBytes, maxRecords: Int = .max,
        maxWait: Duration = .zero, answersOnWake: Bool = false
    ) {
        self.partitions = partitions
        self.minBytes = minBytes
        self.maxBytes = maxBytes
        self.maxRecords = maxRecords
        self.maxWait = maxWait
        self.answersOnWake = answersOnWake
    }

    /// A fetch of one partition, as the line protocol's FETCH asks for one.
    public static func single(
        topic: String, partition: Int, offset: Int64, maxRecords: Int = FetchDefaults.maxRecords, maxBytes: Int = FetchDefaults.maxBytes, maxWait: Duration = .zero
    ) -> FetchRequest {
        FetchRequest(
            partitions: [Partition(topic: topic, partition: partition, offset: offset, maxBytes: maxBytes, maxRecords: maxRecords)],
            maxBytes: maxBytes, maxWait: maxWait)
    }
}

/// What a fetch gathered from one partition: its records in the caller's sink, or its own error.
public struct FetchedPartition<Sink: FetchSink>: Sendable {
    public let topic: String
    public let partition: Int
    /// The offset the request asked for.
    public let offset: Int64
    /// The records, in offset order; empty when `error` is set.
    public var sink: Sink
    public var recordCount: Int
    /// Key + value + encoded headers of the records.
    public var bytes: Int
    /// The offset to fetch next: one past the last record, or `offset`.
    public var nextOffset: Int64
    /// The partition's high watermark (its next offset) as last seen; -1 when unknown.
    public var highWatermark: Int64
    /// The partition's first offset as last seen; -1 when unknown.
    public var logStartOffset: Int64
    /// Why this partition has no records (unknown topic or partition, `OFFSET_OUT_OF_RANGE`);
    /// the other partitions answer regardless.
    public var error: BrookError?
    /// The partition's table id as read, to tell a partition from a later one of the same name.
    var partitionID: Int64 = 0
}

/// A fetch's answer: one entry per requested partition, in request order.
public struct FetchResponse<Sink: FetchSink>: Sendable {
    public var partitions: [FetchedPartition<Sink>]

    public var recordCount: Int { partitions.reduce(0) { $0 + $1.recordCount } }
    public var bytes: Int { partitions.reduce(0) { $0 + $1.bytes } }
}
