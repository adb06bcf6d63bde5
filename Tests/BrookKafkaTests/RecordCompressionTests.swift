import BrookModel
import NIOCore
import CSnappy
import CZlib
import Testing

@testable import BrookKafka

/// The codecs' framings that the real-client checks do not reach: snappy as Java's xerial framing
/// writes it, concatenated gzip members, and bombs.
struct RecordCompressionTests {
    static let text = Array(String(repeating: "brook records ", count: 500).utf8)

    static func snappy(_ input: [UInt8]) -> [UInt8] {
        var length = snappy_max_compressed_length(input.count)
        var output = [UInt8](repeating: 0, count: length)
        let status = input.withUnsafeBytes { source in
            output.withUnsafeMutableBytes { destination in
                snappy_compress(
                    source.bindMemory(to: CChar.self).baseAddress, input.count, destination.bindMemory(to: CChar.self).baseAddress, &length)
            }
        }
        precondition(status == SNAPPY_OK)
        return Array(output[..<length])
    }

    static func gzip(_ input: [UInt8]) -> [UInt8] {
        var stream = z_stream()
        precondition(deflateInit2_(&stream, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK)
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(input.count))) + 32)
        var input = input
        let written = input.withUnsafeMutableBytes { source in
            output.withUnsafeMutableBytes { destination in
                stream.next_in = source.bindMemory(to: Bytef.self).baseAddress
                stream.avail_in = uInt(source.count)
                stream.next_out = destination.bindMemory(to: Bytef.self).baseAddress
                stream.avail_out = uInt(destination.count)
                precondition(deflate(&stream, Z_FINISH) == Z_STREAM_END)
                return destination.count - Int(stream.avail_out)
            }
        }
        return Array(output[..<written])
    }

    @Test func xerialFramedSnappyDecodesBlockByBlock() throws {
        let first = Array(Self.text[..<3_000])
        let second = Array(Self.text[3_000...])
        var framed: [UInt8] = [0x82, 0x53, 0x4E, 0x41, 0x50, 0x50, 0x59, 0x00, 0, 0, 0, 1, 0, 0, 0, 1]
        for block in [Self.snappy(first), Self.snappy(second)] {
            framed += withUnsafeBytes(of: Int32(block.count).bigEndian, Array.init) + block
        }
        #expect(try framed.withUnsafeBytes { try RecordCompression.decompress(2, $0) } == Self.text)
        let raw = Self.snappy(Self.text)
        #expect(try raw.withUnsafeBytes { try RecordCompression.decompress(2, $0) } == Self.text)
    }

    @Test func concatenatedGzipMembersDecodeAsOne() throws {
        let joined = Self.gzip(Array(Self.text[..<100])) + Self.gzip(Array(Self.text[100...]))
        #expect(try joined.withUnsafeBytes { try RecordCompression.decompress(1, $0) } == Self.text)
    }

    @Test func aBatchInflatingPastTheLimitIsRefused() throws {
        let bomb = Self.gzip([UInt8](repeating: 0, count: 1_000_000))
        do {
            _ = try bomb.withUnsafeBytes { try RecordCompression.decompress(1, $0, limit: 100_000) }
            Issue.record("a gzip bomb was inflated")
        } catch {
            #expect((error as? BrookError)?.code == .recordListTooLarge)
        }
    }

    @Test func aCompressedBatchRoundTripsThroughTheBatchDecoder() throws {
        // A batch whose records section is gzip-compressed, as a producer with compression.type=gzip sends it.
        let records = (0..<20).map { Record(offset: Int64($0), timestamp: 1_000 + Int64($0), key: bytes("k\($0)"), value: bytes("v\($0)")) }
        let plain = RecordBatchCodec.encode(records)
        let recordsSection = Array(plain.readableBytesView.dropFirst(RecordBatchCodec.headerBytes))
        var compressed = Array(plain.readableBytesView.prefix(RecordBatchCodec.headerBytes)) + Self.gzip(recordsSection)
        compressed.replaceSubrange(8..<12, with: withUnsafeBytes(of: Int32(compressed.count - 12).bigEndian, Array.init))
        compressed.replaceSubrange(21..<23, with: [0, 1])  // attributes: gzip
        let crc = compressed[RecordBatchCodec.crcStart...].withUnsafeBytes { CRC32C.checksum($0) }
        compressed.replaceSubrange(17..<21, with: withUnsafeBytes(of: crc.bigEndian, Array.init))
        let decoded = try RecordBatchCodec.decode(ByteBuffer(bytes: compressed), partition: 0)[0]
        #expect(decoded.records.map(\.value) == records.map(\.value))
        #expect(decoded.records.map(\.key) == records.map(\.key))
    }
}
