import NIOCore

/// A Kafka request that cannot be read: the connection has lost its framing and is closed.
public struct KafkaDecodingError: Error, Hashable, Sendable, CustomStringConvertible {
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}

/// Reads Kafka's primitive types from a request body, throwing on a truncated or malformed one.
struct KafkaReader {
    var buffer: ByteBuffer

    init(_ buffer: ByteBuffer) {
        self.buffer = buffer
    }

    var remaining: Int { buffer.readableBytes }

    private func truncated(_ what: String) -> KafkaDecodingError {
        KafkaDecodingError("request ends inside \(what) (\(buffer.readableBytes) bytes left)")
    }

    mutating func int8() throws -> Int8 {
        guard let value = buffer.readInteger(as: Int8.self) else { throw truncated("an int8") }
        return value
    }

    mutating func int16() throws -> Int16 {
        guard let value = buffer.readInteger(as: Int16.self) else { throw truncated("an int16") }
        return value
    }

    mutating func int32() throws -> Int32 {
        guard let value = buffer.readInteger(as: Int32.self) else { throw truncated("an int32") }
        return value
    }

    mutating func int64() throws -> Int64 {
        guard let value = buffer.readInteger(as: Int64.self) else { throw truncated("an int64") }
        return value
    }

    mutating func bool() throws -> Bool {
        try int8() != 0
    }

    mutating func unsignedVarint() throws -> UInt32 {
        var result: UInt32 = 0
        var shift: UInt32 = 0
        while true {
            guard let byte = buffer.readInteger(as: UInt8.self) else { throw truncated("a varint") }
            if shift > 28 { throw KafkaDecodingError("varint longer than 5 bytes") }
            result |= UInt32(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }

    /// A nullable string; nil for length -1.
    mutating func nullableString() throws -> String? {
        let length = try int16()
        if length == -1 { return nil }
        guard length >= 0 else { throw KafkaDecodingError("string length \(length) is negative") }
        guard let text = buffer.readString(length: Int(length)) else { throw truncated("a string of \(length) bytes") }
        return text
    }

    mutating func string() throws -> String {
        guard let text = try nullableString() else { throw KafkaDecodingError("a non-null string is null") }
        return text
    }

    /// A compact (flexible-version) nullable string: unsigned varint length + 1.
    mutating func compactNullableString() throws -> String? {
        let length = try unsignedVarint()
        if length == 0 { return nil }
        guard let text = buffer.readString(length: Int(length - 1)) else { throw truncated("a compact string") }
        return text
    }

    /// Nullable bytes (int32 length); nil for -1.
    mutating func nullableBytes() throws -> ByteBuffer? {
        let length = try int32()
        if length == -1 { return nil }
        guard length >= 0 else { throw KafkaDecodingError("bytes length \(length) is negative") }
        guard let bytes = buffer.readSlice(length: Int(length)) else { throw truncated("\(length) bytes") }
        return bytes
    }

    /// An array's count; nil for a null array (-1). Bounded by the bytes left, since each
    /// element takes at least one byte.
    mutating func arrayCount() throws -> Int? {
        let count = try int32()
        if count == -1 { return nil }
        guard count >= 0 else { throw KafkaDecodingError("array count \(count) is negative") }
        guard Int(count) <= buffer.readableBytes else {
            throw KafkaDecodingError("array count \(count) exceeds the \(buffer.readableBytes) bytes left")
        }
        return Int(count)
    }

    mutating func array<T>(_ element: (inout KafkaReader) throws -> T) throws -> [T]? {
        guard let count = try arrayCount() else { return nil }
        var elements: [T] = []
        elements.reserveCapacity(count)
        for _ in 0..<count { elements.append(try element(&self)) }
        return elements
    }

    /// Skips a flexible version's tagged fields.
    mutating func skipTaggedFields() throws {
        let count = try unsignedVarint()
        for _ in 0..<count {
            _ = try unsignedVarint()
            let size = try unsignedVarint()
            guard buffer.readSlice(length: Int(size)) != nil else { throw truncated("a tagged field") }
        }
    }
}

/// Writes Kafka's primitive types.
extension ByteBuffer {
    mutating func writeKafkaString(_ text: String?) {
        guard let text else {
            writeInteger(Int16(-1))
            return
        }
        writeInteger(Int16(text.utf8.count))
        writeString(text)
    }

    mutating func writeKafkaBool(_ value: Bool) {
        writeInteger(Int8(value ? 1 : 0))
    }

    mutating func writeKafkaArrayCount(_ count: Int) {
        writeInteger(Int32(count))
    }

    mutating func writeKafkaBytes(_ bytes: ByteBuffer?) {
        guard var bytes else {
            writeInteger(Int32(-1))
            return
        }
        writeInteger(Int32(bytes.readableBytes))
        writeBuffer(&bytes)
    }

    mutating func writeUnsignedVarint(_ value: UInt32) {
        var value = value
        while value >= 0x80 {
            writeInteger(UInt8(value & 0x7F | 0x80))
            value >>= 7
        }
        writeInteger(UInt8(value))
    }

    /// A zigzag varint (record fields).
    mutating func writeVarint(_ value: Int64) {
        var zigzag = UInt64(bitPattern: (value << 1) ^ (value >> 63))
        while zigzag >= 0x80 {
            writeInteger(UInt8(zigzag & 0x7F | 0x80))
            zigzag >>= 7
        }
        writeInteger(UInt8(zigzag))
    }
}
