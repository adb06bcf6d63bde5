import BrookModel
import NIOCore

/// A line and the data items it declared, in order.
public struct Frame: Hashable, Sendable {
    public var line: Line
    public var items: [ByteBuffer]

    public init(line: Line, items: [ByteBuffer] = []) {
        self.line = line
        self.items = items
    }
}

/// What the decoder delivers.
public enum FrameEvent: Hashable, Sendable {
    /// A whole frame.
    case frame(Frame)
    /// A frame whose data broke a size limit: it was read and discarded; answer the error and go on.
    case refused(Line, BrookError)
    /// Framing is lost (line too long, a count that is not a number, data without CRLF): answer the
    /// error and close; the decoder discards everything after it.
    case lost(BrookError)
    /// A `stream=N` item begins (its line), continues (a chunk), ends.
    case streamStart(Line, size: Int)
    case streamChunk(ByteBuffer)
    case streamEnd
}

/// Splits a byte stream into protocol frames: a line, then the counted data items the line
/// declares, each followed by CRLF or LF. Memory stays bounded by the limits: a line is at most
/// `maxLine`, data over `maxRecordBytes`/`maxRequestBytes` is skipped as it arrives, and streams
/// pass through in chunks.
public struct FrameDecoder: ByteToMessageDecoder, Sendable {
    public typealias InboundOut = FrameEvent

    private enum Phase: Sendable {
        case line
        case items(Pending)
        case failed
    }

    private struct Pending: Sendable {
        var line: Line
        var specs: [DataItem]
        var index = 0
        var items: [ByteBuffer] = []
        /// Bytes of the current item still to skip or stream; nil while collecting it whole.
        var remaining: Int?
        var refusal: BrookError?
        var streaming = false
    }

    public let limits: WireLimits
    private var phase: Phase = .line

    public init(limits: WireLimits = WireLimits()) {
        self.limits = limits
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let event = next(&buffer) else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(event))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while let event = next(&buffer) {
            context.fireChannelRead(wrapInboundOut(event))
        }
        // A partial frame at EOF is dropped: the peer is gone.
        buffer.moveReaderIndex(to: buffer.writerIndex)
        return .needMoreData
    }

    /// Decodes the next event from `buffer`, or `nil` when more bytes are needed.
    public mutating func next(_ buffer: inout ByteBuffer) -> FrameEvent? {
        switch phase {
        case .failed:
            buffer.moveReaderIndex(to: buffer.writerIndex)
            return nil
        case .line:
            return readLine(&buffer)
        case .items(var pending):
            let event = readItems(&buffer, &pending)
            if case .items = phase { phase = .items(pending) }
            return event
        }
    }

    private mutating func readLine(_ buffer: inout ByteBuffer) -> FrameEvent? {
        let view = buffer.readableBytesView
        guard let newline = view.firstIndex(of: UInt8(ascii: "\n")) else {
            if view.count > limits.maxLine { return lose(BrookError.lineTooLong(limits.maxLine)) }
            return nil
        }
        let length = newline - view.startIndex
        if length + 1 > limits.maxLine { return lose(BrookError.lineTooLong(limits.maxLine)) }
        var bytes = buffer.readSlice(length: length)!
        buffer.moveReaderIndex(forwardBy: 1)
        if bytes.readableBytesView.last == UInt8(ascii: "\r") { bytes = bytes.getSlice(at: bytes.readerIndex, length: length - 1)! }
        let line = Line(String(decoding: bytes.readableBytesView, as: UTF8.self))
        if line.words.isEmpty && line.options.isEmpty {
            return readLine(&buffer)  // blank lines are ignored, as a person may press Enter twice
        }
        let specs: [DataItem]
        do {
            specs = try line.dataItems()
        } catch {
            return lose(error)
        }
        if specs.isEmpty { return .frame(Frame(line: line)) }
        var pending = Pending(line: line, specs: specs)
        let total = specs.reduce(0) { $0 + $1.size }
        if let largest = specs.filter({ !$0.stream }).map(\.size).max(), largest > limits.maxRecordBytes {
            pending.refusal = BrookError(.messageTooLarge, "data item of \(largest) bytes exceeds max_record_bytes \(limits.maxRecordBytes); it was discarded")
        } else if total > limits.maxRequestBytes {
            pending.refusal = BrookError(.messageTooLarge, "request data of \(total) bytes exceeds max_request_bytes \(limits.maxRequestBytes); it was discarded")
        }
        phase = .items(pending)
        if specs[0].stream && pending.refusal == nil {
            pending.remaining = specs[0].size
            pending.streaming = true
            phase = .items(pending)
            return .streamStart(line, size: specs[0].size)
        }
        return next(&buffer)
    }

    private mutating func readItems(_ buffer: inout ByteBuffer, _ pending: inout Pending) -> FrameEvent? {
        while pending.index < pending.specs.count {
            let spec = pending.specs[pending.index]
            let passThrough = pending.refusal != nil || spec.stream
            if passThrough {
                var remaining = pending.remaining ?? spec.size
                if remaining > 0 {
                    let take = min(remaining, buffer.readableBytes)
                    if take == 0 { return nil }
                    remaining -= take
                    pending.remaining = remaining
                    if pending.refusal == nil {
                        return .streamChunk(buffer.readSlice(length: take)!)
                    }
                    buffer.moveReaderIndex(forwardBy: take)
                    if remaining > 0 { return nil }
                }
                switch terminator(buffer, at: 0) {
                case .needMore: return nil
                case .missing: return lose(BrookError.missingTerminator(spec.size))
                case .length(let length): buffer.moveReaderIndex(forwardBy: length)
                }
                pending.remaining = nil
                pending.index += 1
                if spec.stream && pending.refusal == nil {
                    phase = .line
                    return .streamEnd
                }
            } else {
                guard buffer.readableBytes > spec.size else { return nil }
                switch terminator(buffer, at: spec.size) {
                case .needMore: return nil
                case .missing: return lose(BrookError.missingTerminator(spec.size))
                case .length(let length):
                    pending.items.append(buffer.readSlice(length: spec.size)!)
                    buffer.moveReaderIndex(forwardBy: length)
                }
                pending.index += 1
            }
        }
        phase = .line
        if let refusal = pending.refusal { return .refused(pending.line, refusal) }
        return .frame(Frame(line: pending.line, items: pending.items))
    }

    private enum Terminator {
        case needMore
        case missing
        case length(Int)
    }

    private func terminator(_ buffer: ByteBuffer, at offset: Int) -> Terminator {
        guard let first = buffer.getInteger(at: buffer.readerIndex + offset, as: UInt8.self) else { return .needMore }
        if first == UInt8(ascii: "\n") { return .length(1) }
        guard first == UInt8(ascii: "\r") else { return .missing }
        guard let second = buffer.getInteger(at: buffer.readerIndex + offset + 1, as: UInt8.self) else { return .needMore }
        return second == UInt8(ascii: "\n") ? .length(2) : .missing
    }

    private mutating func lose(_ error: BrookError) -> FrameEvent {
        phase = .failed
        return .lost(error)
    }
}

extension BrookError.Code {
    /// A request line over `max_line`.
    public static let lineTooLong = BrookError.Code(rawValue: "LINE_TOO_LONG")
}

extension BrookError {
    static func lineTooLong(_ limit: Int) -> BrookError {
        BrookError(.lineTooLong, "line exceeds max_line \(limit) bytes; closing the connection")
    }

    static func missingTerminator(_ size: Int) -> BrookError {
        BrookError(.invalidRequest, "data item of \(size) bytes was not followed by CRLF (its byte count is wrong); closing the connection")
    }
}
