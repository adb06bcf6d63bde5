import BrookModel

/// The stored form of a record's headers in a log table: JSON text, so that `json_each(headers)`
/// and `json_extract` work in the stock `sqlite3` shell, e.g. `[["src","web"],["trace","a1"]]`.
///
/// Each header is a two-element array, in the record's order. A key or value that is valid UTF-8
/// without NUL bytes is a JSON string; any other is an object `{"base64":"…"}` holding its bytes in
/// standard base64, so the form is lossless: Brook reads back exactly the bytes written. A record
/// without headers stores NULL and pays nothing.
enum HeaderJSON {
    /// The JSON form of `headers`.
    static func encode(_ headers: [Header]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(2 + headers.reduce(0) { $0 + $1.key.utf8.count + $1.value.count + 8 })
        out.append(UInt8(ascii: "["))
        for (index, header) in headers.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "["))
            var key = header.key
            key.withUTF8 { appendItem(UnsafeRawBufferPointer($0), to: &out) }
            out.append(UInt8(ascii: ","))
            header.value.withUnsafeBytes { appendItem($0, to: &out) }
            out.append(UInt8(ascii: "]"))
        }
        out.append(UInt8(ascii: "]"))
        return out
    }

    /// The JSON form of headers in ``HeaderCodec``'s stored form (files before schema version 6);
    /// `nil` when the bytes are not a valid encoding.
    static func encode(codecForm bytes: UnsafeRawBufferPointer) -> [UInt8]? {
        var out: [UInt8] = [UInt8(ascii: "[")]
        var first = true
        let valid = HeaderCodec.forEach(bytes) { key, value in
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            out.append(UInt8(ascii: "["))
            appendItem(key, to: &out)
            out.append(UInt8(ascii: ","))
            appendItem(value, to: &out)
            out.append(UInt8(ascii: "]"))
        }
        out.append(UInt8(ascii: "]"))
        return valid ? out : nil
    }

    private static func appendItem(_ bytes: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        if UTF8Text.isPlainText(bytes) {
            out.append(UInt8(ascii: "\""))
            for byte in bytes {
                switch byte {
                case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
                case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
                case UInt8(ascii: "\n"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
                case UInt8(ascii: "\r"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
                case UInt8(ascii: "\t"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
                case 0..<0x20:
                    out.append(contentsOf: Array("\\u00".utf8))
                    out.append(hexDigits[Int(byte >> 4)])
                    out.append(hexDigits[Int(byte & 0xF)])
                default: out.append(byte)
                }
            }
            out.append(UInt8(ascii: "\""))
        } else {
            out.append(contentsOf: Array("{\"base64\":\"".utf8))
            Base64.append(bytes, to: &out)
            out.append(contentsOf: Array("\"}".utf8))
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)
}

/// Turns the JSON form back into ``HeaderCodec``'s form, which fetches and the wire codecs read,
/// reusing its buffers from record to record. One per reader; not thread-safe.
final class HeaderJSONDecoder {
    /// The last decoded headers in ``HeaderCodec``'s form.
    private(set) var codecForm: [UInt8] = []
    /// Unescaped keys and values, back to back, and where each starts and ends.
    private var text: [UInt8] = []
    private var bounds: [Int] = []

    init() {}

    /// Decodes `json` into ``codecForm``; false when it is not the JSON form of headers.
    func decode(_ json: UnsafeRawBufferPointer) -> Bool {
        codecForm.removeAll(keepingCapacity: true)
        text.removeAll(keepingCapacity: true)
        bounds.removeAll(keepingCapacity: true)
        var parser = Parser(bytes: json)
        guard parser.headers(into: &text, bounds: &bounds), parser.atEnd else { return false }
        let count = bounds.count / 2
        Self.appendVarint(UInt64(count), to: &codecForm)
        var start = 0
        for end in bounds {
            Self.appendVarint(UInt64(end - start), to: &codecForm)
            codecForm.append(contentsOf: text[start..<end])
            start = end
        }
        return true
    }

    /// ``HeaderCodec``'s length prefix: an unsigned LEB128 varint.
    private static func appendVarint(_ value: UInt64, to out: inout [UInt8]) {
        var value = value
        while value >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        out.append(UInt8(value))
    }

    /// A recursive-descent parser for exactly the shape ``HeaderJSON`` writes (whitespace allowed
    /// between tokens).
    private struct Parser {
        let bytes: UnsafeRawBufferPointer
        var index = 0

        init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

        var atEnd: Bool {
            mutating get {
                skipSpace()
                return index == bytes.count
            }
        }

        mutating func headers(into text: inout [UInt8], bounds: inout [Int]) -> Bool {
            guard take(UInt8(ascii: "[")) else { return false }
            if take(UInt8(ascii: "]")) { return true }
            repeat {
                guard take(UInt8(ascii: "[")), item(into: &text), take(UInt8(ascii: ",")) else { return false }
                bounds.append(text.count)
                guard item(into: &text), take(UInt8(ascii: "]")) else { return false }
                bounds.append(text.count)
            } while take(UInt8(ascii: ","))
            return take(UInt8(ascii: "]"))
        }

        /// A string, or `{"base64":"…"}`.
        private mutating func item(into text: inout [UInt8]) -> Bool {
            skipSpace()
            if take(UInt8(ascii: "{")) {
                var name: [UInt8] = []
                guard string(into: &name), name == Self.base64Name, take(UInt8(ascii: ":")) else { return false }
                var encoded: [UInt8] = []
                guard string(into: &encoded), Base64.decode(encoded, into: &text) else { return false }
                return take(UInt8(ascii: "}"))
            }
            return string(into: &text)
        }

        private static let base64Name = Array("base64".utf8)

        private mutating func string(into out: inout [UInt8]) -> Bool {
            guard take(UInt8(ascii: "\"")) else { return false }
            while index < bytes.count {
                let byte = bytes[index]
                index += 1
                switch byte {
                case UInt8(ascii: "\""):
                    return true
                case UInt8(ascii: "\\"):
                    guard index < bytes.count else { return false }
                    let escape = bytes[index]
                    index += 1
                    switch escape {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        guard var scalar = hex4() else { return false }
                        if (0xD800..<0xDC00).contains(scalar) {
                            guard take(UInt8(ascii: "\\"), skippingSpace: false), take(UInt8(ascii: "u"), skippingSpace: false),
                                  let low = hex4(), (0xDC00..<0xE000).contains(low)
                            else { return false }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else if (0xDC00..<0xE000).contains(scalar) {
                            return false
                        }
                        guard let unicode = Unicode.Scalar(scalar) else { return false }
                        out.append(contentsOf: UTF8.encode(unicode)!)
                    default:
                        return false
                    }
                default:
                    out.append(byte)
                }
            }
            return false
        }

        private mutating func hex4() -> UInt32? {
            guard index + 4 <= bytes.count else { return nil }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[index]
                index += 1
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
                default: return nil
                }
                value = value << 4 | UInt32(digit)
            }
            return value
        }

        private mutating func skipSpace() {
            while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
        }

        private mutating func take(_ byte: UInt8, skippingSpace: Bool = true) -> Bool {
            if skippingSpace { skipSpace() }
            guard index < bytes.count, bytes[index] == byte else { return false }
            index += 1
            return true
        }
    }
}

/// Standard base64 (RFC 4648, with padding).
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, byte) in alphabet.enumerated() { table[Int(byte)] = UInt8(index) }
        return table
    }()

    static func append(_ bytes: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        var index = 0
        while index + 3 <= bytes.count {
            let chunk = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            out.append(alphabet[Int(chunk >> 18 & 63)])
            out.append(alphabet[Int(chunk >> 12 & 63)])
            out.append(alphabet[Int(chunk >> 6 & 63)])
            out.append(alphabet[Int(chunk & 63)])
            index += 3
        }
        let rest = bytes.count - index
        if rest > 0 {
            let chunk = UInt32(bytes[index]) << 16 | (rest == 2 ? UInt32(bytes[index + 1]) << 8 : 0)
            out.append(alphabet[Int(chunk >> 18 & 63)])
            out.append(alphabet[Int(chunk >> 12 & 63)])
            out.append(rest == 2 ? alphabet[Int(chunk >> 6 & 63)] : UInt8(ascii: "="))
            out.append(UInt8(ascii: "="))
        }
    }

    /// Appends the decoded bytes; false for anything but canonical padded base64.
    static func decode(_ text: [UInt8], into out: inout [UInt8]) -> Bool {
        guard text.count % 4 == 0 else { return false }
        var index = 0
        while index < text.count {
            let padding = index + 4 == text.count ? (text[index + 3] == UInt8(ascii: "=") ? (text[index + 2] == UInt8(ascii: "=") ? 2 : 1) : 0) : 0
            var chunk: UInt32 = 0
            for offset in 0..<4 {
                let byte = text[index + offset]
                let value: UInt8
                if offset >= 4 - padding {
                    value = 0
                } else {
                    value = values[Int(byte)]
                    if value == 0xFF { return false }
                }
                chunk = chunk << 6 | UInt32(value)
            }
            out.append(UInt8(chunk >> 16 & 0xFF))
            if padding < 2 { out.append(UInt8(chunk >> 8 & 0xFF)) }
            if padding < 1 { out.append(UInt8(chunk & 0xFF)) }
            index += 4
        }
        return true
    }
}
