import BrookModel

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

/// One partition of a topic: its index in the topic and the id that names its log table.
public struct PartitionMetadata: Sendable, Hashable {
    public let id: Int64
    public let index: Int
    public var state: PartitionState
}

/// A topic's definition and its partitions' counters.
public struct TopicMetadata: Sendable, Hashable {
    public let id: Int64
    public let name: String
    public var config: TopicConfig
    public var partitions: [PartitionMetadata]
    public let createdMs: Int64

    /// Looks a partition up by index, or throws `UNKNOWN_PARTITION` naming the valid range.
    public func partition(_ index: Int) throws(BrookError) -> PartitionMetadata {
        guard index >= 0, index < partitions.count else {
            throw BrookError(.unknownPartition, "partition \(index) of topic '\(name)' does not exist: it has partitions 0 to \(partitions.count - 1)")
        }
        return partitions[index]
    }
}

/// A change to one partition's counters made by a committed transaction, with the records it
/// appended (so a long poll waiting at the old end can be answered without reading them back).
public struct PartitionChange: Sendable, Hashable {
    public let topic: String
    public let partition: Int
    public let partitionID: Int64
    public let state: PartitionState
    /// The batches appended, in offset order and contiguous.
    public var appended: [AppendedBatch] = []

    /// Whether this change appended the record at `offset`.
    public func appended(contains offset: Int64) -> Bool {
        guard let first = appended.first, let last = appended.last else { return false }
        return offset >= first.baseOffset && offset < last.baseOffset + Int64(last.records.count)
    }

    /// Visits the appended records from `offset` on, in order and as a read would return them,
    /// while `visit` returns true. Returns false (visiting nothing) if `offset` was not appended
    /// by this change.
    public func visitAppended(from offset: Int64, _ visit: (RecordView) -> Bool) -> Bool {
        guard appended(contains: offset) else { return false }
        for batch in appended where offset < batch.baseOffset + Int64(batch.records.count) {
            var index = Int(max(0, offset - batch.baseOffset))
            while index < batch.records.count {
                let record = batch.records[index]
                let headers = batch.encodedHeaders.isEmpty ? [] : batch.encodedHeaders[index]
                let more = withOptionalBytes(record.key) { key in
                    headers.withUnsafeBytes { headers in
                        withOptionalBytes(record.value) { value in
                            visit(RecordView(
                                offset: batch.baseOffset + Int64(index), timestamp: record.timestamp ?? batch.appendTime, key: key,
                                encodedHeaders: headers, value: value))
                        }
                    }
                }
                guard more else { return true }
                index += 1
            }
        }
        return true
    }
}

/// Records appended in one call, as stored: offsets count up from `baseOffset`, and a record
/// without a timestamp of its own got `appendTime`.
public struct AppendedBatch: Sendable, Hashable {
    public let baseOffset: Int64
    public let records: [ProducerRecord]
    public let appendTime: Int64
    /// Each record's headers as stored (``HeaderCodec``), as the append encoded them; empty when
    /// no record of the batch has headers.
    public let encodedHeaders: [[UInt8]]
}
