import BrookModel

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
