import BrookBroker
import BrookModel
import NIOCore

/// One record batch (magic 2) as a producer sent it, decoded into Brook's records.
struct ProducedBatch {
    var producerID: Int64
    var producerEpoch: Int16
    var baseSequence: Int32
    var records: [ProducerRecord]

    /// Whether the batch comes from an idempotent producer (it carries a producer id).
    var isIdempotent: Bool { producerID >= 0 }
}

/// Kafka's record batch format, version 2 (magic 2): the one every current client sends.
enum RecordBatchCodec {
    /// Bytes before the first record: baseOffset … records count.
    static let headerBytes = 61
    /// Bytes of the header counted by the batch length (from partitionLeaderEpoch on).
    static let lengthCounted = headerBytes - 12
    /// Where the checksummed part (attributes to the end) starts.
    static let crcStart = 21

    enum Attribute {
        static let compressionMask: Int16 = 0x07
        static let logAppendTime: Int16 = 0x08
        static let transactional: Int16 = 0x10
        static let control: Int16 = 0x20
    }

    /// Decodes the batches a Produce request carries for one partition.
    /// - Throws: `CORRUPT_MESSAGE` for a bad checksum or framing, `INVALID_RECORD` for a
    ///   transactional or control batch or an old message format, `UNSUPPORTED_COMPRESSION_TYPE`
    ///   for a compressed one.
    static func decode(
        _ bytes: ByteBuffer, partition: Int, maxDecompressedBytes: Int = RecordCompression.maxDecompressedBytes
    ) throws(BrookError) -> [ProducedBatch] {
        var buffer = bytes
        var batches: [ProducedBatch] = []
        while buffer.readableBytes > 0 {
            guard buffer.readableBytes >= 17,
                let length = buffer.getInteger(at: buffer.readerIndex + 8, as: Int32.self),
                let magic = buffer.getInteger(at: buffer.readerIndex + 16, as: Int8.self)
            else {
                throw BrookError(.corruptMessage, "record batch of \(buffer.readableBytes) bytes is shorter than its header")
            }
            guard magic == 2 else {
                throw BrookError(.invalidRecord, "message format v\(magic) is not supported: Brook takes record batches v2 (Kafka 0.11 and later clients)")
            }
            guard length >= lengthCounted, Int(length) <= buffer.readableBytes - 12 else {
                throw BrookError(.corruptMessage, "record batch length \(length) does not fit the \(buffer.readableBytes - 12) bytes sent")
            }
            let batch = buffer.readSlice(length: 12 + Int(length))!
            batches.append(try decodeBatch(batch, partition: partition, maxDecompressedBytes: maxDecompressedBytes))
        }
        if batches.isEmpty {
            throw BrookError(.corruptMessage, "a produce to partition \(partition) carries no record batch")
        }
        return batches
    }

    private static func decodeBatch(_ batch: ByteBuffer, partition: Int, maxDecompressedBytes: Int) throws(BrookError) -> ProducedBatch {
        var reader = batch
        _ = reader.readInteger(as: Int64.self)  // baseOffset: assigned by the broker
        _ = reader.readInteger(as: Int32.self)  // length
        _ = reader.readInteger(as: Int32.self)  // partitionLeaderEpoch
        _ = reader.readInteger(as: Int8.self)  // magic
        let crc = reader.readInteger(as: UInt32.self)!
        let computed = reader.withUnsafeReadableBytes { CRC32C.checksum($0) }
        guard crc == computed else {
            throw BrookError(.corruptMessage, "record batch checksum \(hex(crc)) does not match its CRC-32C \(hex(computed))")
        }
        let attributes = reader.readInteger(as: Int16.self)!
        _ = reader.readInteger(as: Int32.self)  // lastOffsetDelta
        let baseTimestamp = reader.readInteger(as: Int64.self)!
        _ = reader.readInteger(as: Int64.self)  // maxTimestamp
        let producerID = reader.readInteger(as: Int64.self)!
        let producerEpoch = reader.readInteger(as: Int16.self)!
        let baseSequence = reader.readInteger(as: Int32.self)!
        let count = reader.readInteger(as: Int32.self)!
        if attributes & Attribute.transactional != 0 || attributes & Attribute.control != 0 {
            throw BrookError(.invalidRecord, "transactional and control batches are not supported: Brook has no transactions; produce without a transactional.id")
        }
        let codec = attributes & Attribute.compressionMask
        if codec != 0 {
            let records = try reader.withUnsafeReadableBytes { compressed throws(BrookError) in
                try RecordCompression.decompress(codec, compressed, limit: maxDecompressedBytes)
            }
            reader = ByteBuffer(bytes: records)
        }
        guard count >= 0, Int(count) <= reader.readableBytes else {
            throw BrookError(.corruptMessage, "record batch claims \(count) records in \(reader.readableBytes) bytes")
        }
        var records: [ProducerRecord] = []
        records.reserveCapacity(Int(count))
        for index in 0..<Int(count) {
            var record = try decodeRecord(&reader, baseTimestamp: baseTimestamp, index: index)
            record.partition = partition
            if producerID >= 0 { record.sequence = baseSequence &+ Int32(truncatingIfNeeded: index) }
            records.append(record)
        }
        guard reader.readableBytes == 0 else {
            throw BrookError(.corruptMessage, "record batch has \(reader.readableBytes) bytes after its \(count) records")
        }
        return ProducedBatch(producerID: producerID, producerEpoch: producerEpoch, baseSequence: baseSequence, records: records)
    }

    private static func decodeRecord(_ reader: inout ByteBuffer, baseTimestamp: Int64, index: Int) throws(BrookError) -> ProducerRecord {
        func corrupt(_ what: String) -> BrookError {
            BrookError(.corruptMessage, "record \(index) of a batch is malformed: \(what)")
        }
        guard let length = reader.readVarint(), length >= 0, length <= Int64(reader.readableBytes),
            var body = reader.readSlice(length: Int(length))
        else { throw corrupt("its length runs past the batch") }
        guard body.readInteger(as: Int8.self) != nil,  // attributes: unused
            let timestampDelta = body.readVarint(), body.readVarint() != nil  // offsetDelta
        else { throw corrupt("truncated header") }
        guard let key = body.readVarintBytes() else { throw corrupt("bad key") }
        guard let value = body.readVarintBytes() else { throw corrupt("bad value") }
        guard let headerCount = body.readVarint(), headerCount >= 0, headerCount <= Int64(body.readableBytes) else {
            throw corrupt("bad header count")
        }
        var headers: [Header] = []
        headers.reserveCapacity(Int(headerCount))
        for _ in 0..<headerCount {
            guard let headerKey = body.readVarintBytes(), let headerKey else { throw corrupt("bad header key") }
            guard let headerValue = body.readVarintBytes() else { throw corrupt("bad header value") }
            headers.append(Header(String(decoding: headerKey, as: UTF8.self), headerValue ?? []))
        }
        guard body.readableBytes == 0 else { throw corrupt("\(body.readableBytes) bytes after its headers") }
        return ProducerRecord(key: key, value: value, headers: headers, timestamp: baseTimestamp &+ timestampDelta)
    }

    static func codecName(_ codec: Int16) -> String {
        switch codec {
        case 1: "gzip"
        case 2: "snappy"
        case 3: "lz4"
        case 4: "zstd"
        default: "codec \(codec)"
        }
    }

    private static func hex(_ value: UInt32) -> String {
        "0x" + String(value, radix: 16)
    }

    /// Encodes records into one uncompressed batch (for tests and clients of the codec).
    static func encode(
        _ records: [Record], producerID: Int64 = -1, producerEpoch: Int16 = -1, baseSequence: Int32 = -1, attributes: Int16 = 0
    ) -> ByteBuffer {
        var sink = KafkaBatchSink()
        for record in records {
            let headers = HeaderCodec.encode(record.headers)
            record.key.withUnsafeBytesOrNil { key in
                record.value.withUnsafeBytesOrNil { value in
                    headers.withUnsafeBytes { encodedHeaders in
                        sink.append(RecordView(offset: record.offset, timestamp: record.timestamp, key: key, encodedHeaders: encodedHeaders, value: value))
                    }
                }
            }
        }
        return sink.batch(producerID: producerID, producerEpoch: producerEpoch, baseSequence: baseSequence, attributes: attributes) ?? ByteBuffer()
    }
}

extension Optional where Wrapped == [UInt8] {
    fileprivate func withUnsafeBytesOrNil<R>(_ body: (UnsafeRawBufferPointer?) -> R) -> R {
        switch self {
        case .some(let bytes): bytes.withUnsafeBytes { body($0) }
        case .none: body(nil)
        }
    }
}

/// Builds one uncompressed record batch (magic 2) from fetched records, on the reader thread,
/// straight from SQLite's buffers: the header is reserved first and filled in by ``batch()``.
struct KafkaBatchSink: FetchSink {
    private var buffer = ByteBuffer()
    private var baseOffset: Int64 = 0
    private var baseTimestamp: Int64 = 0
    private var maxTimestamp: Int64 = 0
    private var lastOffset: Int64 = 0
    private var count: Int32 = 0

    init() {}

    mutating func append(_ record: RecordView) {
        if count == 0 {
            baseOffset = record.offset
            baseTimestamp = record.timestamp
            maxTimestamp = record.timestamp
            buffer.reserveCapacity(RecordBatchCodec.headerBytes + 64 + record.size)
            buffer.writeRepeatingByte(0, count: RecordBatchCodec.headerBytes)
        }
        count += 1
        lastOffset = record.offset
        maxTimestamp = max(maxTimestamp, record.timestamp)
        let timestampDelta = record.timestamp &- baseTimestamp
        let offsetDelta = record.offset - baseOffset
        var headerCount: Int64 = 0
        var headerBytes = 0
        HeaderCodec.forEach(record.encodedHeaders) { key, value in
            headerCount += 1
            headerBytes += Self.varintSize(Int64(key.count)) + key.count + Self.varintSize(Int64(value.count)) + value.count
        }
        let keyLength = Int64(record.key?.count ?? -1)
        let valueLength = Int64(record.value?.count ?? -1)
        let bodyLength = 1 + Self.varintSize(timestampDelta) + Self.varintSize(offsetDelta)
            + Self.varintSize(keyLength) + max(0, Int(keyLength)) + Self.varintSize(valueLength) + max(0, Int(valueLength))
            + Self.varintSize(headerCount) + headerBytes
        buffer.writeVarint(Int64(bodyLength))
        buffer.writeInteger(Int8(0))
        buffer.writeVarint(timestampDelta)
        buffer.writeVarint(offsetDelta)
        buffer.writeVarint(keyLength)
        if let key = record.key { buffer.writeBytes(key) }
        buffer.writeVarint(valueLength)
        if let value = record.value { buffer.writeBytes(value) }
        buffer.writeVarint(headerCount)
        HeaderCodec.forEach(record.encodedHeaders) { key, value in
            buffer.writeVarint(Int64(key.count))
            buffer.writeBytes(key)
            buffer.writeVarint(Int64(value.count))
            buffer.writeBytes(value)
        }
    }

    /// The batch with its header and checksum; nil when no record was appended.
    func batch(producerID: Int64 = -1, producerEpoch: Int16 = -1, baseSequence: Int32 = -1, attributes: Int16 = 0) -> ByteBuffer? {
        guard count > 0 else { return nil }
        var batch = buffer
        let start = batch.readerIndex
        batch.setInteger(baseOffset, at: start)
        batch.setInteger(Int32(batch.readableBytes - 12), at: start + 8)
        batch.setInteger(Int32(0), at: start + 12)  // partitionLeaderEpoch
        batch.setInteger(Int8(2), at: start + 16)  // magic
        batch.setInteger(attributes, at: start + 21)
        batch.setInteger(Int32(lastOffset - baseOffset), at: start + 23)
        batch.setInteger(baseTimestamp, at: start + 27)
        batch.setInteger(maxTimestamp, at: start + 35)
        batch.setInteger(producerID, at: start + 43)
        batch.setInteger(producerEpoch, at: start + 51)
        batch.setInteger(baseSequence, at: start + 53)
        batch.setInteger(count, at: start + 57)
        let crc = batch.withUnsafeReadableBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[RecordBatchCodec.crcStart...])) }
        batch.setInteger(crc, at: start + 17)
        return batch
    }

    static func varintSize(_ value: Int64) -> Int {
        var zigzag = UInt64(bitPattern: (value << 1) ^ (value >> 63))
        var size = 1
        while zigzag >= 0x80 {
            zigzag >>= 7
            size += 1
        }
        return size
    }
}

extension ByteBuffer {
    /// A zigzag varint of up to 10 bytes; nil when truncated or too long.
    mutating func readVarint() -> Int64? {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while shift < 64 {
            guard let byte = readInteger(as: UInt8.self) else { return nil }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 {
                return Int64(bitPattern: result >> 1) ^ -Int64(bitPattern: result & 1)
            }
            shift += 7
        }
        return nil
    }

    /// Varint-length bytes: `.some(nil)` for length -1, nil when malformed.
    mutating func readVarintBytes() -> [UInt8]?? {
        guard let length = readVarint() else { return nil }
        if length == -1 { return .some(nil) }
        guard length >= 0, length <= Int64(readableBytes) else { return nil }
        return .some(readBytes(length: Int(length)))
    }
}
