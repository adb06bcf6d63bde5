import BrookModel

/// A protocol line split into tokens: words (the verb and positional arguments) and
/// `name=value` options, in order.
public struct Line: Hashable, Sendable, CustomStringConvertible {
    public struct Option: Hashable, Sendable {
        public var name: String
        public var value: String
    }

    public var words: [String]
    public var options: [Option]
    /// The line as received, without its terminator (used by `SQL <statement>`).
    public var text: String

    /// Splits on space and tab bytes, and an option at its first `=` byte. Working on the UTF-8
    /// bytes rather than Characters is what the protocol means (bytes 0x20, 0x09, 0x3D never occur
    /// inside a multi-byte sequence) and avoids grapheme breaking on every request.
    public init(_ text: String) {
        self.text = text
        words = []
        options = []
        let bytes = text.utf8
        var index = bytes.startIndex
        while index < bytes.endIndex {
            while index < bytes.endIndex, bytes[index] == 0x20 || bytes[index] == 0x09 { index = bytes.index(after: index) }
            guard index < bytes.endIndex else { break }
            let start = index
            var equals: String.Index?
            while index < bytes.endIndex, bytes[index] != 0x20, bytes[index] != 0x09 {
                if equals == nil, bytes[index] == 0x3D { equals = index }
                index = bytes.index(after: index)
            }
            if let equals {
                options.append(Option(
                    name: String(decoding: bytes[start..<equals], as: UTF8.self),
                    value: String(decoding: bytes[bytes.index(after: equals)..<index], as: UTF8.self)))
            } else {
                words.append(String(decoding: bytes[start..<index], as: UTF8.self))
            }
        }
    }

    /// The first word in upper case: verbs are accepted in any case, as Redis accepts them.
    public var verb: String { words.first.map(Self.upperCased) ?? "" }

    /// `word` with ASCII letters in upper case; `word` itself, without a copy, when it has none
    /// in lower case (the common case, on every request).
    static func upperCased(_ word: String) -> String {
        word.utf8.contains { $0 >= 0x61 && $0 <= 0x7A } ? String(decoding: word.utf8.map { $0 >= 0x61 && $0 <= 0x7A ? $0 - 0x20 : $0 }, as: UTF8.self) : word
    }

    /// Positional argument `index` in upper case (a subcommand such as `TOPIC create`).
    public func subcommand(_ index: Int, _ what: @autoclosure () -> String) throws(BrookError) -> String {
        Self.upperCased(try word(index, what()))
    }
    public var description: String { text }

    /// The first option of that name.
    public func option(_ name: String) -> String? {
        options.first { $0.name == name }?.value
    }

    /// An integer option, or `nil` when absent.
    /// - Throws: `INVALID_REQUEST` naming the option when it is not an integer in `range`.
    public func int(_ name: String, in range: ClosedRange<Int64> = Int64.min...Int64.max) throws(BrookError) -> Int64? {
        guard let text = option(name) else { return nil }
        guard let value = Int64(text), range.contains(value) else {
            throw BrookError(.invalidRequest, "\(name)=\(Self.printable(text)) is invalid: use an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    /// Positional argument `index` (0 is the verb), or `INVALID_REQUEST` naming what is missing.
    /// `what` is built only for the error: callers interpolate a usage text into it, which would
    /// otherwise be concatenated on every request.
    public func word(_ index: Int, _ what: @autoclosure () -> String) throws(BrookError) -> String {
        guard index < words.count else {
            throw BrookError(.invalidRequest, "\(verb) needs \(what())")
        }
        return words[index]
    }

    /// Refuses options other than `allowed` and more than `maxWords` words.
    public func expect(maxWords: Int, options allowed: Set<String>, usage: String) throws(BrookError) {
        if words.count > maxWords {
            throw BrookError(.invalidRequest, "\(verb) takes at most \(maxWords - 1) arguments: \(usage)")
        }
        for option in options where !allowed.contains(option.name) {
            throw BrookError(.invalidRequest, "\(verb) does not take \(Self.printable(option.name))=: \(usage)")
        }
    }

    /// A bounded, control-character-free rendering of client text for error messages.
    public static func printable(_ text: String, limit: Int = 64) -> String {
        var out = ""
        for scalar in text.unicodeScalars.prefix(limit) {
            out += scalar.value < 0x20 || scalar.value == 0x7F ? scalar.escaped(asASCII: true) : String(scalar)
        }
        return text.unicodeScalars.count > limit ? out + "…" : out
    }

    /// The data items this line declares, in order (see docs/protocol.md, "Framing").
    /// - Throws: `INVALID_REQUEST` when a count is not a non-negative integer: the frame is lost.
    func dataItems() throws(BrookError) -> [DataItem] {
        let verb = verb
        if verb == "ERR" || verb == "HELLO" { return [] }
        if verb == "SQL", options.first?.name != "bytes" || text.split(separator: " ").count != 2 {
            return []
        }
        var items: [DataItem] = []
        for option in options {
            switch option.name {
            case "value" where option.value == "null" && verb == "PRODUCE":
                // The explicit null value of a one-record PRODUCE: no data follows.
                continue
            case "key", "value", "bytes", "text", "blob", "metadata":
                items.append(DataItem(size: try Self.count(option), stream: false))
            case "stream":
                items.append(DataItem(size: try Self.count(option), stream: true))
            case "header":
                let parts = option.value.split(separator: ":", omittingEmptySubsequences: false)
                guard parts.count == 2 else {
                    throw BrookError(.invalidRequest, "header=\(Self.printable(option.value)) is invalid: use header=KEYBYTES:VALUEBYTES")
                }
                items.append(DataItem(size: try Self.count(Option(name: "header", value: String(parts[0]))), stream: false))
                items.append(DataItem(size: try Self.count(Option(name: "header", value: String(parts[1]))), stream: false))
            default:
                continue
            }
        }
        return items
    }

    private static func count(_ option: Option) throws(BrookError) -> Int {
        let digits = option.value.utf8
        guard !digits.isEmpty, digits.count <= 15, digits.allSatisfy({ $0 >= 48 && $0 <= 57 }), let value = Int(option.value) else {
            throw BrookError(.invalidRequest, "\(option.name)=\(printable(option.value)) is not a byte count; the frame is lost")
        }
        return value
    }
}

/// One counted data item a line declares.
struct DataItem: Hashable, Sendable {
    var size: Int
    /// Delivered in chunks as it arrives instead of whole.
    var stream: Bool
}
