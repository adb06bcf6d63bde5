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
    /// Deletes a group's committed offsets of some partitions.
    func deleteCommittedOffsets(group: String, partitions: [TopicPartition]) async throws
}

/// What the coordinator knows of topics: their partitions and where their logs start and end.
public protocol TopicCatalog: Sendable {
    /// The counters of each partition of `topic` (log start, next offset), indexed by partition.
    /// - Throws: `UNKNOWN_TOPIC`.
    func partitionStates(of topic: String) throws -> [PartitionState]
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

    func deleteCommittedOffsets(group: String, partitions: [TopicPartition]) async throws {
        try await writer.perform(.grouped) { log in try log.deleteCommittedOffsets(group: group, partitions: partitions) }
    }
}

/// The broker's topics as the coordinator sees them.
struct BrokerTopicCatalog: TopicCatalog {
    let state: BrokerState
    let readers: ThreadPool<LogReader>

    func partitionStates(of topic: String) throws -> [PartitionState] {
        try state.topic(topic).partitions.map(\.state)
    }

    func offset(of topic: String, partition: Int, atOrAfter timestamp: Int64) async throws -> Int64? {
        let partitionID = try state.topic(topic).partition(partition).id
        return try await readers.run { reader in try reader.offset(forTimestamp: timestamp, partitionID: partitionID)?.offset }
    }
}
