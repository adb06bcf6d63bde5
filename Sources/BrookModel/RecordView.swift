/// A record as it sits in SQLite's buffers during a read: no copy until ``record`` is asked for.
/// The buffers are valid only inside the visiting closure.
public struct RecordView {
    public let offset: Int64
    public let timestamp: Int64
    public let key: UnsafeRawBufferPointer?
    /// Headers in ``HeaderCodec``'s stored form; empty when the record has none.
    public let encodedHeaders: UnsafeRawBufferPointer
    public let value: UnsafeRawBufferPointer?

    public init(offset: Int64, timestamp: Int64, key: UnsafeRawBufferPointer?, encodedHeaders: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer?) {
        self.offset = offset
        self.timestamp = timestamp
        self.key = key
        self.encodedHeaders = encodedHeaders
        self.value = value
    }

    /// Key + value + encoded headers, the measure `max.message.bytes` uses.
    public var size: Int { (key?.count ?? 0) + encodedHeaders.count + (value?.count ?? 0) }

    /// Copies the record out of SQLite's buffers.
    public var record: Record {
        Record(
            offset: offset, timestamp: timestamp, key: key.map { Array($0) },
            headers: HeaderCodec.decode(encodedHeaders) ?? [], value: value.map { Array($0) })
    }
}
