import BrookModel
import BrookStore

/// Where a group's committed offsets live. The coordinator commits, reads and deletes offsets
/// through this, and needs nothing else of the broker's storage.
public protocol CommittedOffsetStore: Sendable {
    /// Stores a group's next offsets to read, all at once.
    func commitOffsets(group: String, _ offsets: [OffsetCommit]) async throws
    /// A group's committed offsets, optionally for one topic.
    func committedOffsets(group: String, topic: String?) async throws -> [CommittedOffset]
    /// Groups that have committed offsets.
    func groupsWithCommittedOffsets() async throws -> [String]
    /// Deletes every committed offset of a group.
    func deleteCommittedOffsets(group: String) async throws
}

/// One partition's bounds: its log-start offset and the next offset to be written.
public struct PartitionBounds: Sendable, Hashable {
    public var partition: Int
    public var logStartOffset: Int64
    public var nextOffset: Int64

    public init(partition: Int, logStartOffset: Int64, nextOffset: Int64) {
        self.partition = partition
        self.logStartOffset = logStartOffset
        self.nextOffset = nextOffset
    }
}

/// What the coordinator knows of topics: their partitions and where their logs start and end.
public protocol TopicCatalog: Sendable {
    /// The bounds of each partition of `topic`, by index.
    /// - Throws: `UNKNOWN_TOPIC`.
    func partitionBounds(of topic: String) throws -> [PartitionBounds]
    /// The first offset at or after `timestamp` in a partition; `nil` after every record's.
    func offset(of topic: String, partition: Int, atOrAfter timestamp: Int64) async throws -> Int64?
}

/// Committed offsets in the log's table, written by the writer and read by the reader pool.
struct StoredOffsets: CommittedOffsetStore {
    let state: BrokerState
    let writer: Writer
    let readers: ThreadPool<LogReader>

    func commitOffsets(group: String, _ offsets: [OffsetCommit]) async throws {
        try await commitOffsets(group: group, offsets, durable: false)
    }

    func commitOffsets(group: String, _ offsets: [OffsetCommit], durable: Bool) async throws {
        try Broker.validateGroupName(group)
        for commit in offsets {
            _ = try state.topic(commit.topic).partition(commit.partition)
            if commit.offset < 0 {
                throw BrookError(.invalidRequest, "committed offset \(commit.offset) for \(commit.topic)-\(commit.partition) is invalid: use 0 or more")
            }
        }
        try await writer.perform(.grouped, durable: durable) { log in
            for commit in offsets {
                guard let topic = log.topics[commit.topic] else { throw BrookError.unknownTopic(commit.topic) }
                _ = try topic.partition(commit.partition)
            }
            let now = WallClock.nowMillis()
            for commit in offsets {
                try log.commitOffset(
                    group: group, topic: commit.topic, partition: commit.partition, offset: commit.offset,
                    metadata: commit.metadata, now: now)
            }
        }
    }

    func committedOffsets(group: String, topic: String?) async throws -> [CommittedOffset] {
        try await readers.run { reader in try reader.committedOffsets(group: group, topic: topic) }
    }

    func groupsWithCommittedOffsets() async throws -> [String] {
        try await readers.run { reader in try reader.groupsWithCommittedOffsets() }
    }

    func deleteCommittedOffsets(group: String) async throws {
        try await writer.perform(.grouped) { log in try log.deleteCommittedOffsets(group: group) }
    }
}

/// The broker's topics as the coordinator sees them.
struct BrokerTopicCatalog: TopicCatalog {
    let state: BrokerState
    let readers: ThreadPool<LogReader>

    func partitionBounds(of topic: String) throws -> [PartitionBounds] {
        try state.topic(topic).partitions.map {
            PartitionBounds(partition: $0.index, logStartOffset: $0.state.logStartOffset, nextOffset: $0.state.nextOffset)
        }
    }

    func offset(of topic: String, partition: Int, atOrAfter timestamp: Int64) async throws -> Int64? {
        let partitionID = try state.topic(topic).partition(partition).id
        return try await readers.run { reader in try reader.offset(forTimestamp: timestamp, partitionID: partitionID)?.offset }
    }
}
