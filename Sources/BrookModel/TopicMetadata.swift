/// The live counters of one partition.
public struct PartitionState: Sendable, Hashable {
    /// The first offset still in the log (retention advances it).
    public var logStartOffset: Int64
    /// The offset the next record gets: the high watermark.
    public var nextOffset: Int64
    /// Bytes of the records in the log (key + value + encoded headers).
    public var bytes: Int64

    public init(logStartOffset: Int64 = 0, nextOffset: Int64 = 0, bytes: Int64 = 0) {
        self.logStartOffset = logStartOffset
        self.nextOffset = nextOffset
        self.bytes = bytes
    }

    /// Offsets are contiguous between log start and high watermark.
    public var recordCount: Int64 { nextOffset - logStartOffset }
}

/// One partition of a topic: its index in the topic (its range of the topic's log table) and its
/// id, which keys its counters and time index.
public struct PartitionMetadata: Sendable, Hashable {
    public let id: Int64
    public let index: Int
    public var state: PartitionState

    public init(id: Int64, index: Int, state: PartitionState) {
        self.id = id
        self.index = index
        self.state = state
    }
}

/// A topic's definition and its partitions' counters.
public struct TopicMetadata: Sendable, Hashable {
    public let id: Int64
    public let name: String
    public var config: TopicConfig
    public var partitions: [PartitionMetadata]
    public let createdMs: Int64

    public init(id: Int64, name: String, config: TopicConfig, partitions: [PartitionMetadata], createdMs: Int64) {
        self.id = id
        self.name = name
        self.config = config
        self.partitions = partitions
        self.createdMs = createdMs
    }

    /// Looks a partition up by index, or throws `UNKNOWN_PARTITION` naming the valid range.
    public func partition(_ index: Int) throws(BrookError) -> PartitionMetadata {
        guard index >= 0, index < partitions.count else {
            throw BrookError(.unknownPartition, "partition \(index) of topic '\(name)' does not exist: it has partitions 0 to \(partitions.count - 1)")
        }
        return partitions[index]
    }
}
