import BrookModel
import NIOCore

/// What a NATS server sends a client (the NATS text protocol: `INFO`, `MSG`, `HMSG`, `PING`,
/// `PONG`, `+OK`, `-ERR`). Only `brook bench nats` speaks it, to run NATS JetStream beside Brook
/// with the same load generator.
enum NatsFrame: Equatable, Sendable {
    /// The server's greeting: its JSON description.
    case info(String)
    case message(NatsMessage)
    case ping
    case pong
    case ok
    /// `-ERR 'text'`: the server's text, quotes removed.
    case error(String)
}

/// A message delivered on a subscription (`MSG`, or `HMSG` with headers). Subjects stay slices of
/// the read buffer: a load generator that keeps up with the server should not allocate a string
/// per message.
struct NatsMessage: Equatable, Sendable {
    var subject: ByteBuffer
    var sid: Int
    var replyTo: ByteBuffer?
    /// The header block of an `HMSG` (from `NATS/1.0` to the blank line), nil for `MSG`.
    var headers: ByteBuffer?
    var payload: ByteBuffer

    /// The status in an `HMSG`'s first header line (`NATS/1.0 404 No Messages`): how JetStream
    /// ends a pull request early (404, 408) or says no one answers a request (503).
    var status: Int? {
        guard let headers, let line = headers.getString(at: headers.readerIndex, length: min(headers.readableBytes, 16)) else { return nil }
        let words = line.split(separator: " ", omittingEmptySubsequences: true)
        guard words.count >= 2, words[0].hasPrefix("NATS/") else { return nil }
        return Int(words[1].prefix(3))
    }

    /// The subject's last token as a number (`_INBOX.x.p.42` → 42): the token a publisher put in
    /// the reply subject to match each acknowledgement to its send.
    var lastSubjectNumber: Int? {
        subject.withUnsafeReadableBytes { bytes -> Int? in
            var value = 0
            var multiplier = 1
            var index = bytes.count - 1
            while index >= 0, bytes[index] != UInt8(ascii: ".") {
                let digit = Int(bytes[index]) - 48
                guard (0...9).contains(digit), multiplier <= 1_000_000_000_000 else { return nil }
                value += digit * multiplier
                multiplier *= 10
                index -= 1
            }
            return multiplier == 1 ? nil : value
        }
    }
}

/// Frames the NATS text protocol: a control line ending in CRLF, and for `MSG` and `HMSG` the
/// counted payload and its CRLF. A line longer than `maximumLineLength` without a newline is an
/// error rather than a growing buffer.
struct NatsFrameDecoder: NIOSingleStepByteToMessageDecoder {
    typealias InboundOut = NatsFrame

    let maximumLineLength: Int
    let maximumPayload: Int

    init(maximumLineLength: Int = 64 * 1024, maximumPayload: Int = 64 * 1_048_576) {
        self.maximumLineLength = maximumLineLength
        self.maximumPayload = maximumPayload
    }

    mutating func decode(buffer: inout ByteBuffer) throws -> NatsFrame? {
        let start = buffer.readerIndex
        let view = buffer.readableBytesView
        guard let newline = view.firstIndex(of: UInt8(ascii: "\n")) else {
            if buffer.readableBytes > maximumLineLength { throw Self.malformed("a control line longer than \(maximumLineLength) bytes") }
            return nil
        }
        let lineLength = newline - start  // bytes before the newline
        let contentLength = lineLength > 0 && view[newline - 1] == UInt8(ascii: "\r") ? lineLength - 1 : lineLength
        let tokens = Self.tokens(view[start..<(start + contentLength)])
        guard let verb = tokens.first else {
            buffer.moveReaderIndex(forwardBy: lineLength + 1)
            return try decode(buffer: &buffer)
        }
        let lineEnd = lineLength + 1
        switch Self.verb(view, verb) {
        case .msg, .hmsg:
            let headered = Self.verb(view, verb) == .hmsg
            // MSG subject sid [reply] size; HMSG subject sid [reply] header-size total-size
            let counts = headered ? 2 : 1
            guard tokens.count == 3 + counts || tokens.count == 4 + counts else { throw Self.malformed(String(decoding: view[start..<(start + contentLength)], as: UTF8.self)) }
            guard let sid = Self.number(view, tokens[2]), let total = Self.number(view, tokens[tokens.count - 1]), total <= maximumPayload else {
                throw Self.malformed(String(decoding: view[start..<(start + contentLength)], as: UTF8.self))
            }
            let headerSize = headered ? Self.number(view, tokens[tokens.count - 2]) : 0
            guard let headerSize, headerSize <= total else { throw Self.malformed(String(decoding: view[start..<(start + contentLength)], as: UTF8.self)) }
            guard buffer.readableBytes >= lineEnd + total + 2 else { return nil }
            guard buffer.getInteger(at: start + lineEnd + total, as: UInt16.self) == 0x0D0A else { throw Self.malformed("a payload not followed by CRLF") }
            let source = buffer
            let slice = { (range: Range<Int>) in source.getSlice(at: range.lowerBound, length: range.count)! }
            let message = NatsMessage(
                subject: slice(tokens[1]), sid: sid, replyTo: tokens.count == 4 + counts ? slice(tokens[3]) : nil,
                headers: headered ? buffer.getSlice(at: start + lineEnd, length: headerSize)! : nil,
                payload: buffer.getSlice(at: start + lineEnd + headerSize, length: total - headerSize)!)
            buffer.moveReaderIndex(forwardBy: lineEnd + total + 2)
            return .message(message)
        case .ping:
            buffer.moveReaderIndex(forwardBy: lineEnd)
            return .ping
        case .pong:
            buffer.moveReaderIndex(forwardBy: lineEnd)
            return .pong
        case .ok:
            buffer.moveReaderIndex(forwardBy: lineEnd)
            return .ok
        case .info:
            let json = String(decoding: view[tokens[0].upperBound..<(start + contentLength)], as: UTF8.self).trimmingSpaces
            buffer.moveReaderIndex(forwardBy: lineEnd)
            return .info(json)
        case .error:
            var text = String(decoding: view[tokens[0].upperBound..<(start + contentLength)], as: UTF8.self).trimmingSpaces
            if text.hasPrefix("'"), text.hasSuffix("'"), text.count >= 2 { text = String(text.dropFirst().dropLast()) }
            buffer.moveReaderIndex(forwardBy: lineEnd)
            return .error(text)
        case nil:
            throw Self.malformed(String(decoding: view[start..<(start + contentLength)], as: UTF8.self))
        }
    }

    mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> NatsFrame? {
        try decode(buffer: &buffer)
    }

    /// The ranges (indices of the buffer) of the words of a line, split on spaces and tabs.
    private static func tokens(_ line: ByteBufferView.SubSequence) -> [Range<Int>] {
        var tokens: [Range<Int>] = []
        tokens.reserveCapacity(6)
        var tokenStart: Int?
        for index in line.indices {
            let byte = line[index]
            if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") {
                if let begun = tokenStart { tokens.append(begun..<index) }
                tokenStart = nil
            } else if tokenStart == nil {
                tokenStart = index
            }
        }
        if let begun = tokenStart { tokens.append(begun..<line.endIndex) }
        return tokens
    }

    private enum Verb: CaseIterable {
        case msg, hmsg, ping, pong, ok, info, error

        var spelling: StaticString {
            switch self {
            case .msg: "MSG"
            case .hmsg: "HMSG"
            case .ping: "PING"
            case .pong: "PONG"
            case .ok: "+OK"
            case .info: "INFO"
            case .error: "-ERR"
            }
        }
    }

    /// The verb a word spells, in any case (the protocol's verbs are case-insensitive), without
    /// building a string: this runs once per message.
    private static func verb(_ view: ByteBufferView, _ range: Range<Int>) -> Verb? {
        for verb in Verb.allCases where verb.spelling.utf8CodeUnitCount == range.count {
            let matches = verb.spelling.withUTF8Buffer { spelling in
                zip(spelling, view[range]).allSatisfy { expected, byte in byte == expected || (byte >= 97 && byte <= 122 && byte - 32 == expected) }
            }
            if matches { return verb }
        }
        return nil
    }

    private static func number(_ view: ByteBufferView, _ range: Range<Int>) -> Int? {
        guard !range.isEmpty, range.count <= 18 else { return nil }
        var value = 0
        for byte in view[range] {
            guard byte >= 48 && byte <= 57 else { return nil }
            value = value * 10 + Int(byte - 48)
        }
        return value
    }

    private static func malformed(_ what: String) -> BrookError {
        BrookError(.corruptMessage, "the NATS server sent \(what.prefix(200)), which is not the NATS protocol: check that --server names a nats-server")
    }
}

/// What a NATS client sends: written straight into a buffer, one allocation per command at most.
enum NatsCommand {
    /// `CONNECT {…}`: no `+OK` per command (verbose off), headers on so JetStream's statuses
    /// arrive as `HMSG`.
    static func connect(name: String, into buffer: inout ByteBuffer) {
        buffer.writeString(#"CONNECT {"verbose":false,"pedantic":false,"tls_required":false,"name":""#)
        buffer.writeString(name)
        buffer.writeString(#"","lang":"swift","version":"0","protocol":1,"headers":true,"no_responders":true}"# + "\r\n")
    }

    static func subscribe(_ subject: String, sid: Int, into buffer: inout ByteBuffer) {
        buffer.writeString("SUB \(subject) \(sid)\r\n")
    }

    /// `PUB subject [replyPrefix[token]] size\r\n payload \r\n`; the token, when given, is appended
    /// to the reply subject as its last token.
    static func publish(_ subject: String, replyTo: String?, token: Int? = nil, payload: ByteBuffer, into buffer: inout ByteBuffer) {
        buffer.writeStaticString("PUB ")
        buffer.writeString(subject)
        if let replyTo {
            buffer.writeStaticString(" ")
            buffer.writeString(replyTo)
            if let token { buffer.writeString(String(token)) }
        }
        buffer.writeStaticString(" ")
        buffer.writeString(String(payload.readableBytes))
        buffer.writeStaticString("\r\n")
        buffer.writeImmutableBuffer(payload)
        buffer.writeStaticString("\r\n")
    }

    static func ping(into buffer: inout ByteBuffer) { buffer.writeStaticString("PING\r\n") }
    static func pong(into buffer: inout ByteBuffer) { buffer.writeStaticString("PONG\r\n") }
}

extension String {
    fileprivate var trimmingSpaces: String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
