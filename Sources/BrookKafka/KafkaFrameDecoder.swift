import NIOCore

/// What the Kafka decoder reads off a connection.
enum KafkaFrameEvent: Sendable {
    /// A request Brook serves, decoded.
    case request(KafkaRequestHeader, KafkaRequest, size: Int)
    /// A well-framed request of an API or version Brook does not serve.
    case unsupported(KafkaRequestHeader, size: Int)
    /// The bytes cannot be read as Kafka requests (bad length, truncated or garbled request):
    /// the connection is closed.
    case lost(KafkaDecodingError)
}

/// Kafka's framing: an int32 size, then a request header and body of exactly that size. A size
/// that is negative or over `maxRequestBytes`, or a request that does not fill its frame exactly,
/// loses the connection's framing; everything after it is discarded.
struct KafkaFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = KafkaFrameEvent

    let maxRequestBytes: Int
    private var lost = false
    /// Bare SASL tokens still to come after a SaslHandshake v0 (Kafka's legacy framing: a size
    /// and the token, no request header): one for PLAIN, two for SCRAM.
    private var bareTokens = 0

    init(maxRequestBytes: Int) {
        self.maxRequestBytes = maxRequestBytes
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let event = try decode(buffer: &buffer) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(event))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        try decode(context: context, buffer: &buffer)
    }

    /// The next event in `buffer`, or nil when it needs more bytes.
    mutating func decode(buffer: inout ByteBuffer) throws -> KafkaFrameEvent? {
        if lost {
            buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
            return nil
        }
        guard let size = buffer.getInteger(at: buffer.readerIndex, as: Int32.self) else { return nil }
        if size < 0 || Int(size) > maxRequestBytes {
            lost = true
            buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
            let reason = size < 0 ? "is negative" : "exceeds the maximum request size of \(maxRequestBytes) bytes"
            return .lost(KafkaDecodingError("request size \(size) \(reason)"))
        }
        guard buffer.readableBytes >= 4 + Int(size) else { return nil }
        buffer.moveReaderIndex(forwardBy: 4)
        let frame = buffer.readSlice(length: Int(size))!
        if bareTokens > 0 {
            bareTokens -= 1
            return .request(Self.bareTokenHeader, .saslAuthenticate(frame), size: Int(size))
        }
        do {
            let event = try Self.decodeFrame(frame)
            if case .request(let header, .saslHandshake(let mechanism), _) = event, header.apiVersion == 0 {
                bareTokens = mechanism == "PLAIN" ? 1 : mechanism.hasPrefix("SCRAM-") ? 2 : 0
            }
            return event
        } catch let error as KafkaDecodingError {
            lost = true
            buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
            return .lost(error)
        }
    }

    /// Marks a bare SASL token: it has no header, and its answer is a bare token too.
    static let bareTokenHeader = KafkaRequestHeader(apiKey: KafkaAPI.saslAuthenticate.rawValue, apiVersion: -1, correlationID: -1, clientID: nil)

    /// One request frame (without its size): its header, then its body if Brook serves it.
    static func decodeFrame(_ frame: ByteBuffer) throws -> KafkaFrameEvent {
        var reader = KafkaReader(frame)
        let size = frame.readableBytes
        let apiKey = try reader.int16()
        let apiVersion = try reader.int16()
        let correlationID = try reader.int32()
        let clientID = try reader.nullableString()
        let header = KafkaRequestHeader(apiKey: apiKey, apiVersion: apiVersion, correlationID: correlationID, clientID: clientID)
        guard let api = KafkaAPI(rawValue: apiKey), api.versions.contains(apiVersion) else {
            return .unsupported(header, size: size)
        }
        let request = try KafkaRequest.decode(api, version: apiVersion, body: &reader)
        return .request(header, request, size: size)
    }
}
