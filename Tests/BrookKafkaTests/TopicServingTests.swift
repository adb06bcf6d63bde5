import BrookBroker
import Foundation
import BrookModel
import BrookTestSupport
import NIOCore
import Testing

@testable import BrookKafka

/// How fetched batches follow a topic's message.timestamp.type and compression.type, through the
/// sink and through a live listener; and the two configs through Kafka's admin names.
struct TopicServingTests {
    /// One batch's header fields a client reads before its records.
    struct BatchHeader: Equatable {
        var baseOffset: Int64
        var attributes: Int16
        var baseTimestamp: Int64
        var maxTimestamp: Int64
        var count: Int32
    }

    /// The headers of every batch in `records`, in order.
    static func headers(_ records: ByteBuffer) -> [BatchHeader] {
        var reader = records
        var headers: [BatchHeader] = []
        while reader.readableBytes >= RecordBatchCodec.headerBytes {
            let start = reader.readerIndex
            let length = reader.getInteger(at: start + 8, as: Int32.self)!
            headers.append(BatchHeader(
                baseOffset: reader.getInteger(at: start, as: Int64.self)!, attributes: reader.getInteger(at: start + 21, as: Int16.self)!,
                baseTimestamp: reader.getInteger(at: start + 27, as: Int64.self)!, maxTimestamp: reader.getInteger(at: start + 35, as: Int64.self)!,
                count: reader.getInteger(at: start + 57, as: Int32.self)!))
            reader.moveReaderIndex(forwardBy: 12 + Int(length))
        }
        return headers
    }

    static func sink(_ records: [Record]) -> KafkaBatchSink {
        var sink = KafkaBatchSink()
        for record in records {
            let headers = HeaderCodec.encode(record.headers)
            record.value!.withUnsafeBytes { value in
                headers.withUnsafeBytes { encodedHeaders in
                    sink.append(RecordView(offset: record.offset, timestamp: record.timestamp, key: nil, encodedHeaders: encodedHeaders, value: value))
                }
            }
        }
        return sink
    }

    /// Under LogAppendTime a client gives every record its batch's max timestamp, so each run of
    /// one append time is its own batch, flagged; the records and their timestamps come back whole.
    @Test func logAppendTimeSplitsBatchesByAppendTimeAndFlagsThem() throws {
        let timestamps: [Int64] = [5_000, 5_000, 7_000, 7_000, 7_000, 9_000]
        let records = timestamps.enumerated().map { index, time in
            Record(offset: 40 + Int64(index), timestamp: time, key: nil, headers: index == 3 ? [Header("h", "v")] : [], value: bytes("value-\(index)"))
        }
        var out = ByteBuffer()
        Self.sink(records).write(into: &out, logAppendTime: true)
        #expect(Self.headers(out) == [
            BatchHeader(baseOffset: 40, attributes: 0x08, baseTimestamp: 5_000, maxTimestamp: 5_000, count: 2),
            BatchHeader(baseOffset: 42, attributes: 0x08, baseTimestamp: 7_000, maxTimestamp: 7_000, count: 3),
            BatchHeader(baseOffset: 45, attributes: 0x08, baseTimestamp: 9_000, maxTimestamp: 9_000, count: 1),
        ])
        let decoded = try RecordBatchCodec.decode(out, partition: 0).flatMap(\.records)
        #expect(decoded.map(\.value) == records.map(\.value))
        #expect(decoded.map(\.headers) == records.map(\.headers))
        #expect(decoded.map(\.timestamp) == timestamps)

        var plain = ByteBuffer()
        Self.sink(records).write(into: &plain)
        #expect(Self.headers(plain) == [BatchHeader(baseOffset: 40, attributes: 0, baseTimestamp: 5_000, maxTimestamp: 9_000, count: 6)])
    }

    @Test(arguments: [(Int16(1), "gzip"), (2, "snappy"), (3, "lz4"), (4, "zstd")])
    func compressedBatchesCarryTheirCodecAndDecodeBack(codec: Int16, name: String) throws {
        let records = (0..<300).map { Record(offset: Int64($0), timestamp: 1_000 + Int64($0 / 100), key: nil, value: bytes("record \($0) " + String(repeating: "x", count: 80))) }
        var uncompressed = ByteBuffer()
        Self.sink(records).write(into: &uncompressed)
        for logAppendTime in [false, true] {
            var out = ByteBuffer()
            Self.sink(records).write(into: &out, logAppendTime: logAppendTime, codec: codec)
            let headers = Self.headers(out)
            #expect(headers.count == (logAppendTime ? 3 : 1))
            #expect(headers.allSatisfy { $0.attributes == codec | (logAppendTime ? 0x08 : 0) }, "\(name): \(headers)")
            #expect(out.readableBytes < uncompressed.readableBytes / 2, "\(name) did not compress")
            let decoded = try RecordBatchCodec.decode(out, partition: 0).flatMap(\.records)
            #expect(decoded.map(\.value) == records.map(\.value))
            #expect(decoded.map(\.timestamp) == records.map(\.timestamp))
        }
    }

    @Test func kafkaAdminNamesSetDescribeAndResetBothConfigs() throws {
        var config = TopicConfig()
        try TopicConfigs.apply([("message.timestamp.type", "LogAppendTime"), ("compression.type", "zstd")], to: &config)
        #expect(config == TopicConfig(messageTimestampType: .logAppendTime, compressionType: .zstd))
        let entries = Dictionary(uniqueKeysWithValues: TopicConfigs.entries(config).map { ($0.name, $0) })
        #expect(entries["message.timestamp.type"]?.value == "LogAppendTime")
        #expect(entries["message.timestamp.type"]?.isDefault == false)
        #expect(entries["compression.type"]?.value == "zstd")
        #expect(entries["compression.type"]?.readOnly == false)

        let reset = try TopicConfigs.alter(
            [AlterConfigsRequest.Config(name: "compression.type", operation: AlterConfigsRequest.Operation.delete.rawValue, value: nil)],
            incremental: true, of: config)
        #expect(reset == TopicConfig(messageTimestampType: .logAppendTime))
        for (name, value) in [("message.timestamp.type", "Now"), ("compression.type", "brotli")] {
            let error = #expect(throws: BrookError.self) { try TopicConfigs.apply([(name, value)], to: &config) }
            #expect(error?.code == .invalidConfig)
        }
    }

    // MARK: Through a live listener

    /// A Produce v8 answer: error, base offset and log_append_time_ms.
    static func produce(_ connection: KafkaRawConnection, topic: String, batch: ByteBuffer) async throws -> (error: Int16, baseOffset: Int64, logAppendTime: Int64)? {
        guard var body = try await connection.roundTrip(api: 0, version: 8, body: { body in
            body.writeKafkaString(nil)
            body.writeInteger(Int16(-1))
            body.writeInteger(Int32(5_000))
            body.writeKafkaArrayCount(1)
            body.writeKafkaString(topic)
            body.writeKafkaArrayCount(1)
            body.writeInteger(Int32(0))
            body.writeKafkaBytes(batch)
        }) else { return nil }
        _ = body.readInteger(as: Int32.self)
        let name = body.readInteger(as: Int16.self)!
        _ = body.readString(length: Int(name))
        _ = body.readInteger(as: Int32.self)
        _ = body.readInteger(as: Int32.self)
        let error = body.readInteger(as: Int16.self)!
        return (error, body.readInteger(as: Int64.self)!, body.readInteger(as: Int64.self)!)
    }

    @Test func aLogAppendTimeTopicStampsRecordsAnswersTheTimeAndFlagsFetchedBatches() async throws {
        let server = try await KafkaTestServer.start()
        try await server.broker.createTopic("stamped", config: TopicConfig(messageTimestampType: .logAppendTime))
        try await server.broker.createTopic("created")
        let connection = try await server.connect()
        let sent = [
            Record(offset: 0, timestamp: 1_000, key: nil, value: bytes("a")), Record(offset: 1, timestamp: 1_001, key: nil, value: bytes("b")),
        ]
        let before = WallClock.nowMillis()
        let first = try #require(try await Self.produce(connection, topic: "stamped", batch: RecordBatchCodec.encode(sent)))
        let second = try #require(try await Self.produce(connection, topic: "stamped", batch: RecordBatchCodec.encode(sent)))
        let after = WallClock.nowMillis()
        #expect(first.error == KafkaErrorCode.none && second.error == KafkaErrorCode.none)
        #expect((before...after).contains(first.logAppendTime) && (before...after).contains(second.logAppendTime))

        let stored = try await server.broker.fetch(topic: "stamped", partition: 0, offset: 0).records.map(\.timestamp)
        #expect(stored == [first.logAppendTime, first.logAppendTime, second.logAppendTime, second.logAppendTime])
        let fetched = try #require(try await KafkaListenerTests.fetch(connection, topic: "stamped", offset: 0))
        let headers = Self.headers(fetched.records)
        #expect(headers.allSatisfy { $0.attributes & RecordBatchCodec.Attribute.logAppendTime != 0 })
        #expect(headers.count == Set(stored).count)
        #expect(headers.map(\.maxTimestamp) == Array(Set(stored)).sorted())
        #expect(try RecordBatchCodec.decode(fetched.records, partition: 0).flatMap(\.records).map(\.timestamp) == stored)

        // CreateTime: the producer's timestamps, -1 for the append time, no flag.
        let created = try #require(try await Self.produce(connection, topic: "created", batch: RecordBatchCodec.encode(sent)))
        #expect(created.logAppendTime == -1)
        let plain = try #require(try await KafkaListenerTests.fetch(connection, topic: "created", offset: 0))
        #expect(Self.headers(plain.records).map(\.attributes) == [0])
        #expect(try RecordBatchCodec.decode(plain.records, partition: 0).flatMap(\.records).map(\.timestamp) == [1_000, 1_001])
        await server.stop()
    }

    @Test func fetchesFollowTheTopicsCompressionTypeAsItIsAltered() async throws {
        let server = try await KafkaTestServer.start()
        try await server.broker.createTopic("squeezed", config: TopicConfig(compressionType: .gzip))
        let connection = try await server.connect()
        let sent = (0..<50).map { Record(offset: Int64($0), timestamp: 1_000, key: nil, value: bytes("record \($0) " + String(repeating: "y", count: 60))) }
        #expect(try await Self.produce(connection, topic: "squeezed", batch: RecordBatchCodec.encode(sent))?.error == KafkaErrorCode.none)

        for (type, codec) in [(CompressionType.gzip, Int16(1)), (.zstd, 4), (.producer, 0), (.uncompressed, 0), (.lz4, 3), (.snappy, 2)] {
            try await server.broker.alterTopic("squeezed", config: TopicConfig(compressionType: type))
            let fetched = try #require(try await KafkaListenerTests.fetch(connection, topic: "squeezed", offset: 0))
            #expect(Self.headers(fetched.records).map(\.attributes) == [codec], "\(type)")
            #expect(try RecordBatchCodec.decode(fetched.records, partition: 0).flatMap(\.records).map(\.value) == sent.map(\.value))
        }
        await server.stop()
    }

    /// A long poll answered by the commit that appended its records is answered on the event
    /// loop; a compressed topic's batches are compressed off it (debug builds check that), and
    /// come out as any other fetch's.
    @Test(arguments: [CompressionType.gzip, .zstd])
    func aLongPollOnACompressedTopicIsAnsweredWithCompressedRecords(type: CompressionType) async throws {
        let server = try await KafkaTestServer.start()
        try await server.broker.createTopic("tailed", config: TopicConfig(compressionType: type))
        let connection = try await server.connect()
        try await KafkaListenerTests.sendFetch(connection, topic: "tailed", offset: 0, maxWaitMs: 30_000, minBytes: 1)
        #expect(try await eventually { server.broker.waitingFetches == 1 })
        let values = (0..<40).map { "tailed \($0) " + String(repeating: "z", count: 60) }
        _ = try await server.broker.produce(topic: "tailed", records: values.map { ProducerRecord(key: nil, value: $0) })
        let fetched = try #require(try await KafkaListenerTests.fetchResponse(connection))
        #expect(fetched.error == KafkaErrorCode.none)
        #expect(Self.headers(fetched.records).map(\.attributes) == [type == .gzip ? 1 : 4])
        #expect(try RecordBatchCodec.decode(fetched.records, partition: 0).flatMap(\.records).map(\.value) == values.map { bytes($0) })
        await server.stop()
    }

    /// Kafka answers a retried idempotent batch with its first append's log_append_time_ms.
    @Test func aRetriedIdempotentBatchAnswersItsFirstAppendTime() async throws {
        let server = try await KafkaTestServer.start()
        try await server.broker.createTopic("stamped", config: TopicConfig(messageTimestampType: .logAppendTime))
        try await server.broker.createTopic("created")
        let connection = try await server.connect()
        var body = try #require(try await connection.roundTrip(api: 22, version: 1) { body in
            body.writeKafkaString(nil)  // transactional id
            body.writeInteger(Int32(60_000))
        })
        _ = body.readInteger(as: Int32.self)  // throttle
        #expect(body.readInteger(as: Int16.self) == KafkaErrorCode.none)
        let producerID = body.readInteger(as: Int64.self)!
        let epoch = body.readInteger(as: Int16.self)!
        func batch(_ values: [String], sequence: Int32) -> ByteBuffer {
            RecordBatchCodec.encode(
                values.enumerated().map { Record(offset: Int64($0), timestamp: 5, key: nil, value: bytes($1)) },
                producerID: producerID, producerEpoch: epoch, baseSequence: sequence)
        }
        let first = try #require(try await Self.produce(connection, topic: "stamped", batch: batch(["a", "b"], sequence: 0)))
        #expect(first.error == KafkaErrorCode.none && first.logAppendTime > 0)
        // A later append, so the clock has moved on when the retry comes.
        let before = WallClock.nowMillis()
        #expect(try await eventually { WallClock.nowMillis() > first.logAppendTime })
        let second = try #require(try await Self.produce(connection, topic: "stamped", batch: batch(["c"], sequence: 2)))
        #expect(second.logAppendTime >= before && second.logAppendTime > first.logAppendTime)
        let retry = try #require(try await Self.produce(connection, topic: "stamped", batch: batch(["a", "b"], sequence: 0)))
        #expect(retry.error == KafkaErrorCode.none && retry.baseOffset == 0)
        #expect(retry.logAppendTime == first.logAppendTime)
        let stored = try await server.broker.fetch(topic: "stamped", partition: 0, offset: 0).records
        #expect(stored.map(\.timestamp) == [first.logAppendTime, first.logAppendTime, second.logAppendTime])

        // Under CreateTime a retry, like the first append, answers -1.
        let created = try #require(try await Self.produce(connection, topic: "created", batch: batch(["x"], sequence: 0)))
        let createdRetry = try #require(try await Self.produce(connection, topic: "created", batch: batch(["x"], sequence: 0)))
        #expect(created.logAppendTime == -1 && createdRetry.logAppendTime == -1)
        #expect(createdRetry.baseOffset == created.baseOffset)
        await server.stop()
    }

    /// A backlog larger than one reply reads back whole and in order through one connection,
    /// whose next chunk is read ahead; records deleted past the next offset meanwhile answer
    /// OFFSET_OUT_OF_RANGE, not the chunk.
    @Test func consecutiveFetchesReadABacklogWholeAndDeletedRecordsAreOutOfRange() async throws {
        let server = try await KafkaTestServer.start()
        try await server.broker.createTopic("backlog")
        let values = (0..<25_000).map { String(format: "%08d", $0) + String(repeating: "v", count: 92) }
        for chunk in stride(from: 0, to: values.count, by: 5_000) {
            _ = try await server.broker.produce(topic: "backlog", records: values[chunk..<chunk + 5_000].map { ProducerRecord(key: nil, value: $0) })
        }
        let connection = try await server.connect()
        var offset: Int64 = 0
        var read: [[UInt8]?] = []
        var fetches = 0
        while offset < Int64(values.count) {
            let fetched = try #require(try await KafkaListenerTests.fetch(connection, topic: "backlog", offset: offset))
            #expect(fetched.error == KafkaErrorCode.none)
            let records = try RecordBatchCodec.decode(fetched.records, partition: 0).flatMap(\.records)
            read += records.map(\.value)
            offset += Int64(records.count)
            fetches += 1
        }
        #expect(fetches > 1, "the backlog takes more than one reply")
        #expect(read == values.map { bytes($0) })

        let again = try #require(try await KafkaListenerTests.fetch(connection, topic: "backlog", offset: 0))
        let next = Int64(try RecordBatchCodec.decode(again.records, partition: 0).flatMap(\.records).count)
        _ = try await server.broker.deleteRecords(topic: "backlog", partition: 0, before: next + 1)
        let deleted = try #require(try await KafkaListenerTests.fetch(connection, topic: "backlog", offset: next))
        #expect(deleted.error == KafkaErrorCode.offsetOutOfRange)
        await server.stop()
    }
}
