/// The stored form of a record's headers, one byte string per record:
/// `count` then, per header, `keyLength key valueLength value`, each length an unsigned LEB128
/// varint. No headers encode to zero bytes (stored as NULL).
public enum HeaderCodec {
    public static func encodedSize(_ headers: [Header]) -> Int {
        if headers.isEmpty { return 0 }
        var size = varintSize(UInt64(headers.count))
        for header in headers {
            let keyCount = header.key.utf8.count
            size += varintSize(UInt64(keyCount)) + keyCount
            size += varintSize(UInt64(header.value.count)) + header.value.count
        }
        return size
    }

    public static func encode(_ headers: [Header]) -> [UInt8] {
        if headers.isEmpty { return [] }
        var out: [UInt8] = []
        out.reserveCapacity(encodedSize(headers))
        appendVarint(UInt64(headers.count), to: &out)
        for header in headers {
            appendVarint(UInt64(header.key.utf8.count), to: &out)
            out.append(contentsOf: header.key.utf8)
            appendVarint(UInt64(header.value.count), to: &out)
            out.append(contentsOf: header.value)
        }
        return out
    }

    /// Decodes the stored form; `nil` when the bytes are not a valid encoding.
    public static func decode(_ bytes: UnsafeRawBufferPointer) -> [Header]? {
        if bytes.isEmpty { return [] }
        var index = 0
        guard let count = readVarint(bytes, &index), count <= UInt64(bytes.count) else { return nil }
        var headers: [Header] = []
        headers.reserveCapacity(Int(count))
        for _ in 0..<count {
            guard let keyLength = readVarint(bytes, &index), keyLength <= UInt64(bytes.count - index) else { return nil }
            let keyEnd = index + Int(keyLength)
            guard let key = String(validating: bytes[index..<keyEnd], as: UTF8.self) else { return nil }
            index = keyEnd
            guard let valueLength = readVarint(bytes, &index), valueLength <= UInt64(bytes.count - index) else { return nil }
            let valueEnd = index + Int(valueLength)
            headers.append(Header(key, Array(bytes[index..<valueEnd])))
            index = valueEnd
        }
        return index == bytes.count ? headers : nil
    }

    /// Visits each header of the stored form without copying; `false` when the bytes are not a
    /// valid encoding (headers visited before the fault have been seen).
    @discardableResult
    public static func forEach(
        _ bytes: UnsafeRawBufferPointer, _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> Void
    ) rethrows -> Bool {
        if bytes.isEmpty { return true }
        var index = 0
        guard let count = readVarint(bytes, &index), count <= UInt64(bytes.count) else { return false }
        for _ in 0..<count {
            guard let keyLength = readVarint(bytes, &index), keyLength <= UInt64(bytes.count - index) else { return false }
            let key = UnsafeRawBufferPointer(rebasing: bytes[index..<(index + Int(keyLength))])
            index += Int(keyLength)
            guard let valueLength = readVarint(bytes, &index), valueLength <= UInt64(bytes.count - index) else { return false }
            let value = UnsafeRawBufferPointer(rebasing: bytes[index..<(index + Int(valueLength))])
            index += Int(valueLength)
            try body(key, value)
        }
        return index == bytes.count
    }

    public static func decode(_ bytes: [UInt8]) -> [Header]? {
        bytes.withUnsafeBytes { decode($0) }
    }

    static func varintSize(_ value: UInt64) -> Int {
        var value = value
        var size = 1
        while value >= 0x80 {
            value >>= 7
            size += 1
        }
        return size
    }

    static func appendVarint(_ value: UInt64, to out: inout [UInt8]) {
        var value = value
        while value >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        out.append(UInt8(value))
    }

    static func readVarint(_ bytes: UnsafeRawBufferPointer, _ index: inout Int) -> UInt64? {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while index < bytes.count, shift < 64 {
            let byte = bytes[index]
            index += 1
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return result }
            shift += 7
        }
        return nil
    }
}
