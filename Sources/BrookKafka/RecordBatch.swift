import BrookBroker
import BrookModel
import NIOCore
import NIOPosix

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
        var batch = ByteBuffer()
        sink.write(into: &batch, producerID: producerID, producerEpoch: producerEpoch, baseSequence: baseSequence, attributes: attributes)
        return batch
    }

    /// Writes one batch into `out`: its header, then `records` (already encoded), compressed with
    /// `codec` (1…4) when it is not 0, then the checksum over what was written.
    static func writeBatch(
        records: ByteBuffer, count: Int32, baseOffset: Int64, lastOffsetDelta: Int32, baseTimestamp: Int64, maxTimestamp: Int64,
        attributes: Int16 = 0, codec: Int16 = 0, producerID: Int64 = -1, producerEpoch: Int16 = -1, baseSequence: Int32 = -1,
        into out: inout ByteBuffer
    ) {
        // Compression's CPU grows with the records: it must never hold up an event loop's other
        // connections (the listener's tests run debug builds, where this is checked).
        assert(codec == 0 || MultiThreadedEventLoopGroup.currentEventLoop == nil, "a fetch reply was compressed on an event loop")
        let compressed = codec == 0 ? nil : records.withUnsafeReadableBytes { RecordCompression.compress(codec, $0) }
        let payload = compressed?.count ?? records.readableBytes
        let start = out.writerIndex
        out.reserveCapacity(minimumWritableBytes: headerBytes + payload)
        out.writeInteger(baseOffset)
        out.writeInteger(Int32(lengthCounted + payload))
        out.writeInteger(Int32(0))  // partitionLeaderEpoch
        out.writeInteger(Int8(2))  // magic
        out.writeInteger(UInt32(0))  // crc, below
        out.writeInteger(attributes | (compressed == nil ? 0 : codec))
        out.writeInteger(lastOffsetDelta)
        out.writeInteger(baseTimestamp)
        out.writeInteger(maxTimestamp)
        out.writeInteger(producerID)
        out.writeInteger(producerEpoch)
        out.writeInteger(baseSequence)
        out.writeInteger(count)
        if let compressed {
            out.writeBytes(compressed)
        } else {
            var records = records
            out.writeBuffer(&records)
        }
        let crc = out.withUnsafeReadableBytes { bytes in
            CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[(start + crcStart - out.readerIndex)...]))
        }
        out.setInteger(crc, at: start + 17)
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

/// Gathers fetched records into record batches (magic 2), on the reader thread, straight from
/// SQLite's buffers. It holds the encoded records only; the batch header and checksum are written
/// with them into the reply by ``write(into:logAppendTime:codec:producerID:producerEpoch:baseSequence:attributes:)``,
/// so the records are copied once, from the sink into the reply.
struct KafkaBatchSink: FetchSink {
    /// The first capacity: doubled as records come, a 1 MiB fetch regrows six times, not twelve.
    static let initialCapacity = 16_384
    private var records = ByteBuffer()
    private var baseOffset: Int64 = 0
    private var baseTimestamp: Int64 = 0
    private var maxTimestamp: Int64 = 0
    private var lastOffset: Int64 = 0
    private(set) var count: Int32 = 0

    init() {}

    mutating func append(_ record: RecordView) {
        if count == 0 {
            baseOffset = record.offset
            baseTimestamp = record.timestamp
            maxTimestamp = record.timestamp
            records.reserveCapacity(max(Self.initialCapacity, 64 + record.size))
        }
        count += 1
        lastOffset = record.offset
        maxTimestamp = max(maxTimestamp, record.timestamp)
        RecordWriter.write(
            offsetDelta: record.offset &- baseOffset, timestampDelta: record.timestamp &- baseTimestamp, key: record.key,
            encodedHeaders: record.encodedHeaders, value: record.value, into: &records)
    }

    /// The bytes one uncompressed batch of the records takes; 0 with no record.
    var batchBytes: Int { count == 0 ? 0 : RecordBatchCodec.headerBytes + records.readableBytes }

    /// Writes the records into `out` as a topic's configs say to serve them; nothing with no
    /// record. Under LogAppendTime a client takes every record's timestamp from its batch's max
    /// timestamp, so each run of records with one timestamp (one append) becomes its own batch,
    /// flagged with the timestamp-type attribute. With a `codec` (1…4) each batch's records are
    /// compressed with it.
    func write(
        into out: inout ByteBuffer, logAppendTime: Bool = false, codec: Int16 = 0,
        producerID: Int64 = -1, producerEpoch: Int16 = -1, baseSequence: Int32 = -1, attributes: Int16 = 0
    ) {
        guard count > 0 else { return }
        guard logAppendTime else {
            RecordBatchCodec.writeBatch(
                records: records, count: count, baseOffset: baseOffset, lastOffsetDelta: Int32(truncatingIfNeeded: lastOffset - baseOffset),
                baseTimestamp: baseTimestamp, maxTimestamp: maxTimestamp, attributes: attributes, codec: codec,
                producerID: producerID, producerEpoch: producerEpoch, baseSequence: baseSequence, into: &out)
            return
        }
        // Each record again, with deltas from its run's first record.
        var reader = records
        var run = ByteBufferAllocator().buffer(capacity: min(records.readableBytes, 1 << 16))
        var runCount: Int32 = 0
        var runBase: Int64 = 0
        var runTimestamp: Int64 = 0
        var runLast: Int64 = 0
        func flush() {
            guard runCount > 0 else { return }
            RecordBatchCodec.writeBatch(
                records: run, count: runCount, baseOffset: runBase, lastOffsetDelta: Int32(truncatingIfNeeded: runLast - runBase),
                baseTimestamp: runTimestamp, maxTimestamp: runTimestamp, attributes: attributes | RecordBatchCodec.Attribute.logAppendTime,
                codec: codec, producerID: producerID, producerEpoch: producerEpoch, baseSequence: baseSequence, into: &out)
            run.clear()
            runCount = 0
        }
        while reader.readableBytes > 0 {
            // The sink's own encoding: these reads cannot fail.
            let length = reader.readVarint()!
            var body = reader.readSlice(length: Int(length))!
            body.moveReaderIndex(forwardBy: 1)  // attributes
            let timestamp = baseTimestamp &+ body.readVarint()!
            let offset = baseOffset &+ body.readVarint()!
            if runCount > 0 && timestamp != runTimestamp { flush() }
            if runCount == 0 {
                runBase = offset
                runTimestamp = timestamp
            }
            runCount += 1
            runLast = offset
            // Key, value and headers as they were, behind the new deltas.
            let offsetDelta = offset &- runBase
            run.writeVarint(Int64(1 + RecordWriter.varintSize(0) + RecordWriter.varintSize(offsetDelta) + body.readableBytes))
            run.writeInteger(UInt8(0))
            run.writeVarint(0)
            run.writeVarint(offsetDelta)
            run.writeBuffer(&body)
        }
        flush()
    }
}

/// Writes one record of a batch (magic 2) in one step into space reserved for its exact size,
/// instead of a ByteBuffer call (capacity check, index update, exclusivity check) per varint and
/// field: the hot path of every Kafka fetch.
enum RecordWriter {
    static func write(
        offsetDelta: Int64, timestampDelta: Int64, key: UnsafeRawBufferPointer?, encodedHeaders: UnsafeRawBufferPointer,
        value: UnsafeRawBufferPointer?, into buffer: inout ByteBuffer
    ) {
        var headerCount: Int64 = 0
        var headerBytes = 0
        if !encodedHeaders.isEmpty {
            HeaderCodec.forEach(encodedHeaders) { key, value in
                headerCount += 1
                headerBytes += varintSize(Int64(key.count)) + key.count + varintSize(Int64(value.count)) + value.count
            }
        }
        let keyLength = Int64(key?.count ?? -1)
        let valueLength = Int64(value?.count ?? -1)
        let bodyLength = 1 + varintSize(timestampDelta) + varintSize(offsetDelta) + varintSize(keyLength) + (key?.count ?? 0)
            + varintSize(valueLength) + (value?.count ?? 0) + varintSize(headerCount) + headerBytes
        let total = varintSize(Int64(bodyLength)) + bodyLength
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: total) { space in
            var out = space.baseAddress!
            putVarint(Int64(bodyLength), &out)
            out.storeBytes(of: 0, as: UInt8.self)  // attributes
            out += 1
            putVarint(timestampDelta, &out)
            putVarint(offsetDelta, &out)
            putVarint(keyLength, &out)
            if let key { put(key, &out) }
            putVarint(valueLength, &out)
            if let value { put(value, &out) }
            putVarint(headerCount, &out)
            if headerCount > 0 {
                HeaderCodec.forEach(encodedHeaders) { key, value in
                    putVarint(Int64(key.count), &out)
                    put(key, &out)
                    putVarint(Int64(value.count), &out)
                    put(value, &out)
                }
            }
            return total
        }
    }

    /// The bytes of `value` as a zigzag varint.
    @inline(__always)
    static func varintSize(_ value: Int64) -> Int {
        let zigzag = UInt64(bitPattern: (value << 1) ^ (value >> 63))
        return (64 - (zigzag | 1).leadingZeroBitCount + 6) / 7
    }

    @inline(__always)
    private static func putVarint(_ value: Int64, _ out: inout UnsafeMutableRawPointer) {
        var zigzag = UInt64(bitPattern: (value << 1) ^ (value >> 63))
        while zigzag >= 0x80 {
            out.storeBytes(of: UInt8(truncatingIfNeeded: zigzag) | 0x80, as: UInt8.self)
            out += 1
            zigzag >>= 7
        }
        out.storeBytes(of: UInt8(zigzag), as: UInt8.self)
        out += 1
    }

    @inline(__always)
    private static func put(_ bytes: UnsafeRawBufferPointer, _ out: inout UnsafeMutableRawPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        out.copyMemory(from: base, byteCount: bytes.count)
        out += bytes.count
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
