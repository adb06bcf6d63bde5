import BrookModel
import NIOCore
import Testing

@testable import BrookKafka

/// Kafka's record batch v2 and its checksum, against published vectors and a real client's bytes.
struct RecordBatchTests {
    /// RFC 3720 (iSCSI) appendix B.4 vectors, and the common "123456789" check value.
    @Test(arguments: [
        (Array("123456789".utf8), UInt32(0xE306_9283)),
        ([UInt8](repeating: 0, count: 32), UInt32(0x8A91_36AA)),
        ([UInt8](repeating: 0xFF, count: 32), UInt32(0x62A8_AB43)),
        ((0..<32).map { UInt8($0) }, UInt32(0x46DD_794E)),
        ((0..<32).map { UInt8(31 - $0) }, UInt32(0x113F_DB5C)),
    ])
    func crc32cMatchesKnownVectors(bytes: [UInt8], expected: UInt32) {
        #expect(CRC32C.checksum(bytes) == expected)
        #expect(bytes.withUnsafeBytes { CRC32C.softwareChecksum($0) } == expected)
    }

    /// The instruction and the tables agree on every length and alignment around the 8-byte
    /// steps, and when continuing from an earlier chunk.
    @Test func crc32cInstructionAndSoftwareAgree() {
        let bytes = (0..<300).map { UInt8(truncatingIfNeeded: $0 &* 151 &+ 7) }
        bytes.withUnsafeBytes { all in
            for start in 0..<9 {
                for end in stride(from: start, through: all.count, by: 13) {
                    let slice = UnsafeRawBufferPointer(rebasing: all[start..<end])
                    #expect(CRC32C.checksum(slice) == CRC32C.softwareChecksum(slice))
                    #expect(CRC32C.checksum(slice, continuing: 0x1234_5678) == CRC32C.softwareChecksum(slice, continuing: 0x1234_5678))
                }
            }
        }
    }

    @Test func crc32cContinuesAcrossChunks() {
        let bytes = (0..<1_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let whole = CRC32C.checksum(bytes)
        let first = bytes[..<333].withUnsafeBytes { CRC32C.checksum($0) }
        let both = bytes[333...].withUnsafeBytes { CRC32C.checksum($0, continuing: first) }
        #expect(both == whole)
    }

    @Test func aBatchRoundTripsKeysHeadersTimestampsAndNulls() throws {
        let records = [
            Record(offset: 40, timestamp: 1_700_000_000_000, key: bytes("k1"), headers: [Header("h", "v"), Header("h", "w")], value: bytes("one")),
            Record(offset: 41, timestamp: 1_699_999_999_000, key: nil, headers: [], value: nil),
            Record(offset: 42, timestamp: 1_700_000_000_500, key: [], headers: [Header("empty", [])], value: [UInt8](repeating: 7, count: 300)),
        ]
        let batch = RecordBatchCodec.encode(records, producerID: 9, producerEpoch: 2, baseSequence: 17)
        #expect(batch.getInteger(at: 0, as: Int64.self) == 40)
        #expect(batch.getInteger(at: 8, as: Int32.self) == Int32(batch.readableBytes - 12))
        #expect(batch.getInteger(at: 23, as: Int32.self) == 2)  // lastOffsetDelta
        #expect(batch.getInteger(at: 35, as: Int64.self) == 1_700_000_000_500)  // maxTimestamp
        let decoded = try RecordBatchCodec.decode(batch, partition: 3)
        #expect(decoded.count == 1)
        #expect(decoded[0].producerID == 9 && decoded[0].producerEpoch == 2 && decoded[0].baseSequence == 17)
        #expect(decoded[0].records.map(\.key) == records.map(\.key))
        #expect(decoded[0].records.map(\.value) == records.map(\.value))
        #expect(decoded[0].records.map(\.headers) == records.map(\.headers))
        #expect(decoded[0].records.map(\.timestamp) == records.map(\.timestamp))
        #expect(decoded[0].records.map(\.sequence) == [17, 18, 19])
        #expect(decoded[0].records.allSatisfy { $0.partition == 3 })
    }

    @Test func aFlippedBitIsCorruptMessage() throws {
        var batch = RecordBatchCodec.encode([Record(offset: 0, timestamp: 1, key: nil, value: bytes("hello"))])
        let last = batch.writerIndex - 1
        batch.setInteger(batch.getInteger(at: last, as: UInt8.self)! ^ 0x01, at: last)
        #expect(throws: BrookError.self) { try RecordBatchCodec.decode(batch, partition: 0) }
        do {
            _ = try RecordBatchCodec.decode(batch, partition: 0)
        } catch {
            #expect(error.code == .corruptMessage)
            #expect(error.message.contains("does not match its CRC-32C"))
        }
    }

    @Test(arguments: [
        (Int16(0x10), BrookError.Code.invalidRecord),  // transactional
        (Int16(0x20), BrookError.Code.invalidRecord),  // control
        (Int16(0x05), BrookError.Code.unsupportedCompressionType),  // no such codec
        (Int16(0x01), BrookError.Code.corruptMessage),  // "gzip" that is not
        (Int16(0x02), BrookError.Code.corruptMessage),  // "snappy" that is not
        (Int16(0x03), BrookError.Code.corruptMessage),  // "lz4" that is not
        (Int16(0x04), BrookError.Code.corruptMessage),  // "zstd" that is not
    ])
    func refusedBatches(attributes: Int16, code: BrookError.Code) {
        let batch = RecordBatchCodec.encode([Record(offset: 0, timestamp: 1, key: nil, value: bytes("x"))], attributes: attributes)
        do {
            _ = try RecordBatchCodec.decode(batch, partition: 0)
            Issue.record("attributes \(attributes) were accepted")
        } catch {
            #expect(error.code == code)
        }
    }

    @Test func aTruncatedBatchIsCorruptMessage() {
        let batch = RecordBatchCodec.encode([Record(offset: 0, timestamp: 1, key: nil, value: bytes("hello"))])
        let cut = batch.getSlice(at: 0, length: batch.readableBytes - 3)!
        do {
            _ = try RecordBatchCodec.decode(cut, partition: 0)
            Issue.record("a truncated batch was accepted")
        } catch {
            #expect(error.code == .corruptMessage)
        }
    }
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// A batch as kafka-python 3.0.12's `DefaultRecordBatchBuilder` wrote it (producer id 4, epoch 1,
/// base sequence 10), so the decoder is checked against bytes Brook did not write itself.
struct ClientBatchTests {
    static let kafkaPythonBatch =
        "00000000000000000000007500000000023338dc1c0000000000020000018bcfe568000000018bcfe568fa000000000000000400010000000a000000034c0000000c757365722d31187b22746f74616c223a20357d040a747261636506616263026e02311a00f40302010c7365636f6e64001c00c801040001020a656d70747900"

    static func hexBytes(_ hex: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            bytes.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        return bytes
    }

    @Test func decodesABatchAKafkaClientWrote() throws {
        let batches = try RecordBatchCodec.decode(ByteBuffer(bytes: Self.hexBytes(Self.kafkaPythonBatch)), partition: 0)
        #expect(batches.count == 1)
        let batch = batches[0]
        #expect(batch.producerID == 4 && batch.producerEpoch == 1 && batch.baseSequence == 10)
        #expect(batch.records.map(\.key) == [bytes("user-1"), nil, []])
        #expect(batch.records.map(\.value) == [bytes("{\"total\": 5}"), bytes("second"), nil])
        #expect(batch.records.map(\.headers) == [[Header("trace", "abc"), Header("n", "1")], [], [Header("empty", [])]])
        #expect(batch.records.map(\.timestamp) == [1_700_000_000_000, 1_700_000_000_250, 1_700_000_000_100])
        #expect(batch.records.map(\.sequence) == [10, 11, 12])
    }

    @Test func reEncodingTheClientsRecordsGivesTheClientsBytes() throws {
        let batch = try RecordBatchCodec.decode(ByteBuffer(bytes: Self.hexBytes(Self.kafkaPythonBatch)), partition: 0)[0]
        let records = batch.records.enumerated().map { index, record in
            Record(offset: Int64(index), timestamp: record.timestamp!, key: record.key, headers: record.headers, value: record.value)
        }
        let encoded = RecordBatchCodec.encode(records, producerID: 4, producerEpoch: 1, baseSequence: 10)
        #expect(Array(encoded.readableBytesView) == Self.hexBytes(Self.kafkaPythonBatch))
    }
}
