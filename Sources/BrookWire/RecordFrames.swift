import BrookModel
import NIOCore

/// The fields of one `RECORD` frame inside a PRODUCE or FETCH block.
public struct RecordFields {
    /// Set in POLL replies, which span topics.
    public var topic: String?
    public var offset: Int64?
    public var timestamp: Int64?
    public var partition: Int64?
    public var sequence: Int64?
    public var key: ByteBuffer?
    public var headers: [(key: ByteBuffer, value: ByteBuffer)] = []
    public var value: ByteBuffer?
}

/// Writes and reads `RECORD` frames. Reading is byte-level (no per-token strings), as fetch
/// replies and produce batches carry many records.
public enum RecordFrames {
    private static let recordWord: [UInt8] = Array("RECORD".utf8)

    // MARK: Writing

    /// A producer's record frame: `RECORD [partition=P] [timestamp=MS] [key=N] [header=K:V]… [value=N]`.
    public static func write(_ record: ProducerRecord, into buffer: inout ByteBuffer) {
        buffer.writeBytes(recordWord)
        if let partition = record.partition { buffer.writeOption("partition", Int64(partition)) }
        if let timestamp = record.timestamp { buffer.writeOption("timestamp", timestamp) }
        if let sequence = record.sequence { buffer.writeOption("sequence", Int64(sequence)) }
        writeCountsAndItems(key: record.key, headers: record.headers, value: record.value, into: &buffer)
    }

    /// A fetched record's frame, from buffers still owned by the store (headers in
    /// ``HeaderCodec``'s stored form): `RECORD offset=O timestamp=MS [key=N] [header=K:V]… [value=N]`.
    ///
    /// The hot path of every fetch: the frame is written in one step into space reserved for its
    /// largest possible size, instead of a ByteBuffer call (bounds check and index update) per
    /// word, number and item.
    public static func write(
        offset: Int64, timestamp: Int64, key: UnsafeRawBufferPointer?, encodedHeaders: UnsafeRawBufferPointer,
        value: UnsafeRawBufferPointer?, into buffer: inout ByteBuffer
    ) {
        var headerCount = 0
        var headerBytes = 0
        HeaderCodec.forEach(encodedHeaders) { headerKey, headerValue in
            headerCount += 1
            headerBytes += headerKey.count + headerValue.count
        }
        let number = RawFrameWriter.maxDecimalBytes
        let line = 6 + (8 + number) + (11 + number) + (5 + number) + headerCount * (8 + 2 * number + 1) + (7 + number) + 2
        let items = (key?.count ?? 0) + 2 + headerBytes + 4 * headerCount + (value?.count ?? 0) + 2
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: line + items) { space in
            var out = RawFrameWriter(space.baseAddress!)
            out.append("RECORD offset=")
            out.appendDecimal(offset)
            out.append(" timestamp=")
            out.appendDecimal(timestamp)
            if let key {
                out.append(" key=")
                out.appendDecimal(Int64(key.count))
            }
            HeaderCodec.forEach(encodedHeaders) { headerKey, headerValue in
                out.append(" header=")
                out.appendDecimal(Int64(headerKey.count))
                out.append(":")
                out.appendDecimal(Int64(headerValue.count))
            }
            if let value {
                out.append(" value=")
                out.appendDecimal(Int64(value.count))
            }
            out.append("\r\n")
            if let key { out.appendItem(key) }
            HeaderCodec.forEach(encodedHeaders) { headerKey, headerValue in
                out.appendItem(headerKey)
                out.appendItem(headerValue)
            }
            if let value { out.appendItem(value) }
            return out.count
        }
    }

    /// A record frame with its topic and partition, for POLL replies.
    public static func write(_ record: Record, topic: String, partition: Int, into buffer: inout ByteBuffer) {
        buffer.writeBytes(recordWord)
        buffer.writeStaticString(" topic=")
        buffer.writeString(topic)
        buffer.writeOption("partition", Int64(partition))
        buffer.writeOption("offset", record.offset)
        buffer.writeOption("timestamp", record.timestamp)
        writeCountsAndItems(key: record.key, headers: record.headers, value: record.value, into: &buffer)
    }

    /// The `key=`, `header=` and `value=` counts ending a RECORD line, then the items, written in
    /// one step into space reserved for their largest possible size.
    private static func writeCountsAndItems(key: [UInt8]?, headers: [Header], value: [UInt8]?, into buffer: inout ByteBuffer) {
        var headerBytes = 0
        for header in headers { headerBytes += header.key.utf8.count + header.value.count }
        let number = RawFrameWriter.maxDecimalBytes
        let line = (5 + number) + headers.count * (8 + 2 * number + 1) + (7 + number) + 2
        let items = (key?.count ?? 0) + 2 + headerBytes + 4 * headers.count + (value?.count ?? 0) + 2
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: line + items) { space in
            var out = RawFrameWriter(space.baseAddress!)
            if let key {
                out.append(" key=")
                out.appendDecimal(Int64(key.count))
            }
            for header in headers {
                out.append(" header=")
                out.appendDecimal(Int64(header.key.utf8.count))
                out.append(":")
                out.appendDecimal(Int64(header.value.count))
            }
            if let value {
                out.append(" value=")
                out.appendDecimal(Int64(value.count))
            }
            out.append("\r\n")
            if let key { key.withUnsafeBytes { out.appendItem($0) } }
            for header in headers {
                var name = header.key
                name.withUTF8 { out.appendItem(UnsafeRawBufferPointer($0)) }
                header.value.withUnsafeBytes { out.appendItem($0) }
            }
            if let value { value.withUnsafeBytes { out.appendItem($0) } }
            return out.count
        }
    }

    // MARK: Reading

    /// Reads every `RECORD` frame of a block, in order.
    /// - Throws: `INVALID_REQUEST` naming the fault when the block is not well formed.
    public static func read(_ block: ByteBuffer, maxItemBytes: Int = .max, _ body: (RecordFields) throws -> Void) throws {
        var block = block
        var index = 0
        // Reused by every record: one allocation per block, not per record.
        var sizes: [(kind: UInt8, size: Int)] = []  // k = key, h = header key, H = header value, v = value
        while block.readableBytes > 0 {
            guard let newline = block.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
                throw BrookError(.invalidRequest, "record \(index) of the block has no line end")
            }
            var lineLength = newline - block.readerIndex
            let lineStart = block.readerIndex
            if lineLength > 0, block.getInteger(at: lineStart + lineLength - 1, as: UInt8.self) == UInt8(ascii: "\r") {
                lineLength -= 1
            }
            var fields = RecordFields()
            sizes.removeAll(keepingCapacity: true)
            try block.withUnsafeReadableBytes { raw in
                let line = UnsafeRawBufferPointer(rebasing: raw[0..<lineLength])
                try parseLine(line, index: index, into: &fields, sizes: &sizes)
            }
            block.moveReaderIndex(forwardBy: newline - block.readerIndex + 1)
            var headerKey: ByteBuffer?
            for (kind, size) in sizes {
                guard size <= maxItemBytes else {
                    throw BrookError(.messageTooLarge, "record \(index): data item of \(size) bytes exceeds \(maxItemBytes) bytes")
                }
                guard block.readableBytes >= size + 1, let item = block.readSlice(length: size) else {
                    throw BrookError(.invalidRequest, "record \(index): the block ends inside its data (a byte count is wrong)")
                }
                switch block.readInteger(as: UInt8.self) {
                case UInt8(ascii: "\n"): break
                case UInt8(ascii: "\r") where block.readInteger(as: UInt8.self) == UInt8(ascii: "\n"): break
                default: throw BrookError(.invalidRequest, "record \(index): data of \(size) bytes is not followed by CRLF (a byte count is wrong)")
                }
                switch kind {
                case UInt8(ascii: "k"): fields.key = item
                case UInt8(ascii: "h"): headerKey = item
                case UInt8(ascii: "H"): fields.headers.append((headerKey!, item))
                default: fields.value = item
                }
            }
            try body(fields)
            index += 1
        }
    }

    private static func parseLine(_ line: UnsafeRawBufferPointer, index: Int, into fields: inout RecordFields, sizes: inout [(kind: UInt8, size: Int)]) throws {
        var position = 0
        func token() -> UnsafeRawBufferPointer? {
            while position < line.count, line[position] == 32 || line[position] == 9 { position += 1 }
            guard position < line.count else { return nil }
            let start = position
            while position < line.count, line[position] != 32, line[position] != 9 { position += 1 }
            return UnsafeRawBufferPointer(rebasing: line[start..<position])
        }
        guard let first = token(), first.elementsEqual(recordWord) else {
            throw BrookError(.invalidRequest, "record \(index) of the block does not start with RECORD")
        }
        while let option = token() {
            guard let equals = option.firstIndex(of: UInt8(ascii: "=")) else {
                throw BrookError(.invalidRequest, "record \(index): unexpected word '\(String(decoding: option, as: UTF8.self))'")
            }
            let name = UnsafeRawBufferPointer(rebasing: option[0..<equals])
            let value = UnsafeRawBufferPointer(rebasing: option[(equals + 1)...])
            func number() throws -> Int64 {
                guard let parsed = parseDecimal(value) else {
                    throw BrookError(.invalidRequest, "record \(index): \(String(decoding: name, as: UTF8.self))=\(String(decoding: value, as: UTF8.self)) is not a number")
                }
                return parsed
            }
            switch name.count {
            case 3 where name.elementsEqual("key".utf8): sizes.append((UInt8(ascii: "k"), try count(number())))
            case 5 where name.elementsEqual("value".utf8): sizes.append((UInt8(ascii: "v"), try count(number())))
            case 6 where name.elementsEqual("offset".utf8): fields.offset = try number()
            case 9 where name.elementsEqual("timestamp".utf8): fields.timestamp = try number()
            case 9 where name.elementsEqual("partition".utf8): fields.partition = try number()
            case 5 where name.elementsEqual("topic".utf8): fields.topic = String(decoding: value, as: UTF8.self)
            case 8 where name.elementsEqual("sequence".utf8): fields.sequence = try number()
            case 6 where name.elementsEqual("header".utf8):
                guard let colon = value.firstIndex(of: UInt8(ascii: ":")),
                    let keySize = parseDecimal(UnsafeRawBufferPointer(rebasing: value[0..<colon])),
                    let valueSize = parseDecimal(UnsafeRawBufferPointer(rebasing: value[(colon + 1)...]))
                else {
                    throw BrookError(.invalidRequest, "record \(index): header=\(String(decoding: value, as: UTF8.self)) is invalid: use header=KEYBYTES:VALUEBYTES")
                }
                sizes.append((UInt8(ascii: "h"), try count(keySize)))
                sizes.append((UInt8(ascii: "H"), try count(valueSize)))
            default:
                throw BrookError(.invalidRequest, "record \(index): unknown field '\(String(decoding: name, as: UTF8.self))'")
            }
        }
        func count(_ value: Int64) throws -> Int {
            guard value >= 0 else { throw BrookError(.invalidRequest, "record \(index): a byte count is negative") }
            return Int(value)
        }
    }

    /// An optionally negative decimal integer of at most 18 digits.
    static func parseDecimal(_ bytes: UnsafeRawBufferPointer) -> Int64? {
        var position = 0
        var negative = false
        if bytes.first == UInt8(ascii: "-") {
            negative = true
            position = 1
        }
        let digits = bytes.count - position
        guard digits > 0, digits <= 18 else { return nil }
        var value: Int64 = 0
        while position < bytes.count {
            let digit = bytes[position] &- 48
            guard digit < 10 else { return nil }
            value = value * 10 + Int64(digit)
            position += 1
        }
        return negative ? -value : value
    }

    // MARK: Converting

    /// A producer record from a frame of a PRODUCE block.
    public static func producerRecord(_ fields: RecordFields) throws -> ProducerRecord {
        var headers: [Header] = []
        headers.reserveCapacity(fields.headers.count)
        for (key, value) in fields.headers {
            guard let name = String(validating: key.readableBytesView, as: UTF8.self) else {
                throw BrookError(.invalidRequest, "a header key is not valid UTF-8")
            }
            headers.append(Header(name, Array(value.readableBytesView)))
        }
        var partition: Int?
        if let requested = fields.partition {
            guard requested >= 0, requested <= Int64(Int32.max) else {
                throw BrookError(.unknownPartition, "partition \(requested) is invalid: partitions are numbered from 0")
            }
            partition = Int(requested)
        }
        var record = ProducerRecord(
            key: fields.key.map { Array($0.readableBytesView) }, value: fields.value.map { Array($0.readableBytesView) },
            headers: headers, timestamp: fields.timestamp, partition: partition)
        if let sequence = fields.sequence {
            guard sequence >= 0, sequence <= Int64(Int32.max) else {
                throw BrookError(.invalidRequest, "sequence \(sequence) is invalid: use 0 to \(Int32.max)")
            }
            record.sequence = Int32(sequence)
        }
        return record
    }

    /// A fetched record from a frame of a FETCH reply.
    public static func record(_ fields: RecordFields) throws -> Record {
        guard let offset = fields.offset, let timestamp = fields.timestamp else {
            throw BrookError(.invalidRequest, "a fetched record lacks its offset or timestamp")
        }
        return Record(
            offset: offset, timestamp: timestamp, key: fields.key.map { Array($0.readableBytesView) },
            headers: fields.headers.map { Header(String(decoding: $0.key.readableBytesView, as: UTF8.self), Array($0.value.readableBytesView)) },
            value: fields.value.map { Array($0.readableBytesView) })
    }
}

extension ByteBuffer {
    /// Writes ` name=value` with the integer in decimal, without a String.
    @inlinable
    public mutating func writeOption(_ name: StaticString, _ value: Int64) {
        writeInteger(UInt8(ascii: " "))
        writeStaticString(name)
        writeInteger(UInt8(ascii: "="))
        writeDecimal(value)
    }

    /// Writes an integer in decimal ASCII.
    @inlinable
    public mutating func writeDecimal(_ value: Int64) {
        if value < 0 {
            writeInteger(UInt8(ascii: "-"))
            if value == .min {
                writeString("9223372036854775808")
                return
            }
        }
        var magnitude = value.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes of scratch, enough for 20 digits
        withUnsafeMutableBytes(of: &digits) { scratch in
            var index = scratch.count
            repeat {
                index -= 1
                scratch[index] = UInt8(48 + magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            writeBytes(UnsafeRawBufferPointer(rebasing: scratch[index...]))
        }
    }

    /// Writes a data item: the bytes, then CRLF.
    @inlinable
    public mutating func writeItem(_ bytes: some Collection<UInt8>) {
        writeBytes(bytes)
        writeStaticString("\r\n")
    }

    @inlinable
    public mutating func writeItem(_ bytes: UnsafeRawBufferPointer) {
        writeBytes(bytes)
        writeStaticString("\r\n")
    }

    /// Writes a line and its terminator.
    @inlinable
    public mutating func writeLine(_ text: String) {
        writeString(text)
        writeStaticString("\r\n")
    }
}

/// Writes through a raw pointer into space its caller reserved for the largest possible output.
struct RawFrameWriter {
    /// The most bytes ``appendDecimal(_:)`` writes: a sign and 19 digits, or 20 digits.
    static let maxDecimalBytes = 20

    private let base: UnsafeMutableRawPointer
    private(set) var count = 0

    init(_ base: UnsafeMutableRawPointer) {
        self.base = base
    }

    @inline(__always)
    mutating func append(_ text: StaticString) {
        (base + count).copyMemory(from: text.utf8Start, byteCount: text.utf8CodeUnitCount)
        count += text.utf8CodeUnitCount
    }

    /// The bytes, then CRLF: a data item.
    @inline(__always)
    mutating func appendItem(_ bytes: UnsafeRawBufferPointer) {
        if let source = bytes.baseAddress, bytes.count > 0 {
            (base + count).copyMemory(from: source, byteCount: bytes.count)
            count += bytes.count
        }
        append("\r\n")
    }

    @inline(__always)
    mutating func appendDecimal(_ value: Int64) {
        if value < 0 {
            base.storeBytes(of: UInt8(ascii: "-"), toByteOffset: count, as: UInt8.self)
            count += 1
        }
        var magnitude = value.magnitude
        var digits = 1
        var probe = magnitude
        while probe >= 10 {
            probe /= 10
            digits += 1
        }
        var index = count + digits
        repeat {
            index -= 1
            base.storeBytes(of: UInt8(truncatingIfNeeded: 48 + magnitude % 10), toByteOffset: index, as: UInt8.self)
            magnitude /= 10
        } while magnitude > 0
        count += digits
    }
}
