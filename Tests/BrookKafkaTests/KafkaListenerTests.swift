import BrookBroker
import BrookModel
import BrookTestSupport
import NIOCore
import Testing

@testable import BrookKafka

/// The listener over real sockets: requests as a Kafka client frames them, bad input, and
/// records crossing into the broker.
struct KafkaListenerTests {
    struct BadInput: Sendable, CustomTestStringConvertible {
        let name: String
        let bytes: [UInt8]
        /// What the log line says.
        let logged: String
        var testDescription: String { name }
    }

    static func frame(_ body: [UInt8]) -> [UInt8] {
        withUnsafeBytes(of: Int32(body.count).bigEndian, Array.init) + body
    }

    static func header(api: Int16, version: Int16) -> [UInt8] {
        withUnsafeBytes(of: api.bigEndian, Array.init) + withUnsafeBytes(of: version.bigEndian, Array.init)
            + [0, 0, 0, 9] + [0, 1, UInt8(ascii: "t")]
    }

    static let badInputs: [BadInput] = [
        BadInput(name: "negative size", bytes: [0xFF, 0xFF, 0xFF, 0xF0], logged: "request size -16 is negative"),
        BadInput(name: "oversize", bytes: [0x7F, 0xFF, 0xFF, 0xFF, 1, 2, 3], logged: "request size 2147483647 exceeds the maximum request size of 1048576 bytes"),
        BadInput(name: "garbage (HTTP)", bytes: Array("GET / HTTP/1.1\r\n\r\n".utf8), logged: "exceeds the maximum request size"),
        BadInput(name: "unknown API key", bytes: frame(header(api: 999, version: 0)), logged: "unknown API key 999 v0"),
        BadInput(name: "unsupported version", bytes: frame(header(api: 3, version: 12)), logged: "Metadata v12 (Brook serves v0–8)"),
        BadInput(
            name: "truncated Metadata", bytes: frame(header(api: 3, version: 1) + [0, 0, 0, 2, 0, 3] + Array("abc".utf8)),
            logged: "request ends inside an int16"),
        BadInput(
            name: "array count over the bytes left", bytes: frame(header(api: 3, version: 1) + [0, 0, 0, 9, 0, 3] + Array("abc".utf8)),
            logged: "array count 9 exceeds the 5 bytes left"),
        BadInput(name: "shorter than a header", bytes: frame([0, 3]), logged: "request ends inside an int16"),
        BadInput(
            name: "bytes after the last field", bytes: frame(header(api: 22, version: 0) + [0xFF, 0xFF, 0, 0, 0, 1, 7, 7]),
            logged: "InitProducerId v0 request has 2 bytes after its last field"),
    ]

    @Test(arguments: badInputs)
    func badInputClosesOnlyItsConnection(_ input: BadInput) async throws {
        let server = try await KafkaTestServer.start(listener: { $0.maxRequestBytes = 1_048_576 })
        let healthy = try await server.connect()
        #expect(try await Self.apiVersions(healthy).error == KafkaErrorCode.none)

        let bad = try await server.connect()
        try await bad.send(input.bytes)
        #expect(try await bad.closesWithoutReply())
        // One clear line names the peer and the fault.
        let lines = server.log.all.filter { $0.contains("closing a Kafka connection") }
        #expect(lines.count == 1)
        #expect(lines.first?.contains(input.logged) == true, "\(lines)")
        #expect(lines.first?.contains("peer=127.0.0.1:") == true, "\(lines)")
        // The other connection still answers; nothing was written.
        #expect(try await Self.apiVersions(healthy).error == KafkaErrorCode.none)
        #expect(try server.broker.listTopics().isEmpty)
        await server.stop()
    }

    @Test func apiVersionsAboveBrooksGetsUnsupportedVersionWithTheList() async throws {
        let server = try await KafkaTestServer.start()
        let connection = try await server.connect()
        let current = try await Self.apiVersions(connection, version: 2)
        let newer = try await Self.apiVersions(connection, version: 3)
        #expect(current.error == KafkaErrorCode.none)
        #expect(newer.error == KafkaErrorCode.unsupportedVersion)
        #expect(newer.apis == current.apis)
        // The exact versions librdkafka 2.0.2 (kcat) checks for.
        for (api, version) in [(18, 0), (2, 1), (0, 3), (0, 7), (1, 4), (1, 10), (22, 0)] as [(Int16, Int16)] {
            #expect(current.apis[api]?.contains(version) == true, "API \(api) v\(version)")
        }
        await server.stop()
    }

    @Test func producedRecordsFetchBackAndReachTheBroker() async throws {
        let server = try await KafkaTestServer.start()
        let connection = try await server.connect()
        let records = [
            Record(offset: 0, timestamp: 1_700_000_000_000, key: bytes("k"), headers: [Header("h", "v")], value: bytes("first")),
            Record(offset: 1, timestamp: 1_700_000_000_001, key: nil, headers: [], value: bytes("second")),
        ]
        let produced = try #require(try await Self.produce(connection, topic: "wire", batch: RecordBatchCodec.encode(records)))
        #expect(produced.error == KafkaErrorCode.none)
        #expect(produced.baseOffset == 0)
        // Auto-created, and the same rows the line protocol reads.
        let stored = try await server.broker.fetch(topic: "wire", partition: 0, offset: 0).records
        #expect(stored == records)

        let fetched = try #require(try await Self.fetch(connection, topic: "wire", offset: 0))
        #expect(fetched.error == KafkaErrorCode.none)
        #expect(fetched.highWatermark == 2)
        let batch = try #require(try RecordBatchCodec.decode(fetched.records, partition: 0).first)
        #expect(batch.records.map(\.value) == records.map(\.value))
        #expect(batch.records.map(\.key) == records.map(\.key))
        #expect(batch.records.map(\.headers) == records.map(\.headers))
        #expect(batch.records.map(\.timestamp) == records.map(\.timestamp))
        await server.stop()
    }

    /// Header values of any bytes (not text, NUL, quotes) produced over Kafka fetch back exactly,
    /// over Kafka and from the broker, though the log stores them as JSON.
    @Test func headersOfAnyBytesFetchBackExactly() async throws {
        let server = try await KafkaTestServer.start()
        let connection = try await server.connect()
        let records = [
            Record(offset: 0, timestamp: 1_700_000_000_000, key: nil, headers: [Header("bin", [0xFF, 0x00, 0xC3]), Header("text", "\"é\"\\\n\u{0}"), Header("none", [])], value: bytes("first")),
        ]
        let produced = try #require(try await Self.produce(connection, topic: "wire", batch: RecordBatchCodec.encode(records)))
        #expect(produced.error == KafkaErrorCode.none)
        #expect(try await server.broker.fetch(topic: "wire", partition: 0, offset: 0).records == records)
        let fetched = try #require(try await Self.fetch(connection, topic: "wire", offset: 0))
        let batch = try #require(try RecordBatchCodec.decode(fetched.records, partition: 0).first)
        #expect(batch.records.map(\.headers) == records.map(\.headers))
        await server.stop()
    }

    @Test func aCorruptBatchIsRefusedAndTheConnectionStays() async throws {
        let server = try await KafkaTestServer.start()
        _ = try await server.broker.createTopic("wire")
        let connection = try await server.connect()
        var batch = RecordBatchCodec.encode([Record(offset: 0, timestamp: 1, key: nil, value: bytes("x"))])
        batch.setInteger(UInt8(ascii: "y"), at: batch.writerIndex - 2)
        let produced = try #require(try await Self.produce(connection, topic: "wire", batch: batch))
        #expect(produced.error == KafkaErrorCode.corruptMessage)
        #expect(try server.broker.describeTopic("wire").partitions[0].state.nextOffset == 0)
        #expect(try await Self.apiVersions(connection).error == KafkaErrorCode.none)
        await server.stop()
    }

    @Test func withoutAutoCreateAnUnknownTopicIsUnknown() async throws {
        let server = try await KafkaTestServer.start(listener: { $0.autoCreateTopics = false })
        let connection = try await server.connect()
        var body = try #require(try await connection.roundTrip(api: 3, version: 4) { body in
            body.writeKafkaArrayCount(1)
            body.writeKafkaString("nope")
            body.writeKafkaBool(true)
        })
        _ = body.readInteger(as: Int32.self)  // throttle
        _ = body.readInteger(as: Int32.self)  // brokers
        _ = body.readInteger(as: Int32.self)  // node id
        let host = body.readInteger(as: Int16.self)!
        #expect(body.readString(length: Int(host)) == "127.0.0.1")
        #expect(body.readInteger(as: Int32.self) == Int32(server.port))
        _ = body.readInteger(as: Int16.self)  // rack: null
        let cluster = body.readInteger(as: Int16.self)!
        _ = body.readString(length: Int(cluster))
        _ = body.readInteger(as: Int32.self)  // controller
        #expect(body.readInteger(as: Int32.self) == 1)
        #expect(body.readInteger(as: Int16.self) == KafkaErrorCode.unknownTopicOrPartition)
        #expect(try server.broker.listTopics().isEmpty)
        await server.stop()
    }

    @Test func anIdempotentRetryAnswersItsFirstOffsetsAndAGapIsRefused() async throws {
        let server = try await KafkaTestServer.start()
        _ = try await server.broker.createTopic("idem")
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
        let first = try #require(try await Self.produce(connection, topic: "idem", batch: batch(["a", "b"], sequence: 0)))
        let second = try #require(try await Self.produce(connection, topic: "idem", batch: batch(["c"], sequence: 2)))
        let retry = try #require(try await Self.produce(connection, topic: "idem", batch: batch(["a", "b"], sequence: 0)))
        let gap = try #require(try await Self.produce(connection, topic: "idem", batch: batch(["e"], sequence: 9)))
        #expect(first.error == KafkaErrorCode.none && first.baseOffset == 0)
        #expect(second.error == KafkaErrorCode.none && second.baseOffset == 2)
        #expect(retry.error == KafkaErrorCode.none && retry.baseOffset == 0)
        #expect(gap.error == KafkaErrorCode.outOfOrderSequenceNumber)
        let stored = try await server.broker.fetch(topic: "idem", partition: 0, offset: 0).records
        #expect(stored.map(\.value) == [bytes("a"), bytes("b"), bytes("c")])
        await server.stop()
    }

    /// A large produce is decoded off the event loop; one pipelined behind it still commits after it.
    @Test func pipelinedProducesCommitInRequestOrderWhateverTheirSize() async throws {
        let server = try await KafkaTestServer.start()
        _ = try await server.broker.createTopic("order")
        let connection = try await server.connect()
        let large = RecordBatchCodec.encode((0..<200).map {
            Record(offset: Int64($0), timestamp: 1, key: nil, value: [UInt8](repeating: UInt8($0 % 256), count: 1_024))
        })
        #expect(large.readableBytes > KafkaConnection.inlineProduceBytes)
        let small = RecordBatchCodec.encode([Record(offset: 0, timestamp: 1, key: nil, value: bytes("after"))])
        for batch in [large, small] {
            try await connection.send(api: 0, version: 3) { body in
                body.writeKafkaString(nil)
                body.writeInteger(Int16(1))
                body.writeInteger(Int32(5_000))
                body.writeKafkaArrayCount(1)
                body.writeKafkaString("order")
                body.writeKafkaArrayCount(1)
                body.writeInteger(Int32(0))
                body.writeKafkaBytes(batch)
            }
        }
        var baseOffsets: [Int64] = []
        for _ in 0..<2 {
            var body = try #require(try await connection.response())
            _ = body.readInteger(as: Int32.self)  // correlation id
            _ = body.readInteger(as: Int32.self)  // topics
            let name = body.readInteger(as: Int16.self)!
            _ = body.readString(length: Int(name))
            _ = body.readInteger(as: Int32.self)  // partitions
            _ = body.readInteger(as: Int32.self)  // index
            #expect(body.readInteger(as: Int16.self) == KafkaErrorCode.none)
            baseOffsets.append(body.readInteger(as: Int64.self)!)
        }
        #expect(baseOffsets == [0, 200])
        let last = try await server.broker.fetch(topic: "order", partition: 0, offset: 200).records
        #expect(last.map(\.value) == [bytes("after")])
        await server.stop()
    }

    /// The broker's clock never advances here, so only a commit (or shutdown) can answer the wait.
    @Test(.timeLimit(.minutes(1)))
    func aWaitingFetchAnswersWhenAnotherConnectionProduces() async throws {
        let server = try await KafkaTestServer.start(broker: { $0.clock = ManualClock() })
        _ = try await server.broker.createTopic("poll")
        let consumer = try await server.connect()
        let producer = try await server.connect()
        try await Self.sendFetch(consumer, topic: "poll", offset: 0, maxWaitMs: 30_000, minBytes: 1)
        while server.broker.waitingFetches == 0 { try await Task.sleep(for: .milliseconds(5)) }
        let record = Record(offset: 0, timestamp: 7, key: bytes("k"), value: bytes("woke"))
        #expect(try await Self.produce(producer, topic: "poll", batch: RecordBatchCodec.encode([record]))?.error == KafkaErrorCode.none)
        let answer = try #require(try await Self.fetchResponse(consumer))
        #expect(answer.error == KafkaErrorCode.none)
        #expect(try RecordBatchCodec.decode(answer.records, partition: 0).first?.records.map(\.value) == [bytes("woke")])
        await server.stop()
    }

    @Test(.timeLimit(.minutes(1)))
    func shutdownAnswersAWaitingFetchAndCloses() async throws {
        let server = try await KafkaTestServer.start(broker: { $0.clock = ManualClock() })
        _ = try await server.broker.createTopic("quiet")
        let consumer = try await server.connect()
        try await Self.sendFetch(consumer, topic: "quiet", offset: 0, maxWaitMs: 30_000, minBytes: 1)
        while server.broker.waitingFetches == 0 { try await Task.sleep(for: .milliseconds(5)) }
        server.task.cancel()  // graceful stop: quiesce
        let answer = try #require(try await Self.fetchResponse(consumer))
        #expect(answer.error == KafkaErrorCode.none)
        #expect(answer.records.readableBytes == 0)
        #expect(try await consumer.closesWithoutReply())
        await server.stop()
    }

    @Test func invalidAcksWriteNothing() async throws {
        let server = try await KafkaTestServer.start()
        _ = try await server.broker.createTopic("acks")
        let connection = try await server.connect()
        var body = try #require(try await connection.roundTrip(api: 0, version: 3) { body in
            body.writeKafkaString(nil)
            body.writeInteger(Int16(2))  // acks=2: not 0, 1 or -1
            body.writeInteger(Int32(5_000))
            body.writeKafkaArrayCount(1)
            body.writeKafkaString("acks")
            body.writeKafkaArrayCount(1)
            body.writeInteger(Int32(0))
            body.writeKafkaBytes(RecordBatchCodec.encode([Record(offset: 0, timestamp: 1, key: nil, value: bytes("x"))]))
        })
        _ = body.readInteger(as: Int32.self)
        let name = body.readInteger(as: Int16.self)!
        _ = body.readString(length: Int(name))
        _ = body.readInteger(as: Int32.self)
        _ = body.readInteger(as: Int32.self)
        #expect(body.readInteger(as: Int16.self) == KafkaErrorCode.invalidRequiredAcks)
        #expect(try server.broker.describeTopic("acks").partitions[0].state.nextOffset == 0)
        await server.stop()
    }

    @Test func aTransactionalProducerIsRefused() async throws {
        let server = try await KafkaTestServer.start()
        let connection = try await server.connect()
        var body = try #require(try await connection.roundTrip(api: 22, version: 1) { body in
            body.writeKafkaString("tx-1")
            body.writeInteger(Int32(60_000))
        })
        _ = body.readInteger(as: Int32.self)
        #expect(body.readInteger(as: Int16.self) == KafkaErrorCode.invalidRequest)
        let transactional = RecordBatchCodec.encode([Record(offset: 0, timestamp: 1, key: nil, value: bytes("x"))], attributes: 0x10)
        let produced = try #require(try await Self.produce(connection, topic: "tx", batch: transactional))
        #expect(produced.error == KafkaErrorCode.invalidRecord)
        #expect(try server.broker.describeTopic("tx").partitions[0].state.nextOffset == 0)
        await server.stop()
    }

    // MARK: Requests as a client sends them

    static func apiVersions(_ connection: KafkaRawConnection, version: Int16 = 2) async throws -> (error: Int16, apis: [Int16: ClosedRange<Int16>]) {
        var body = try #require(try await connection.roundTrip(api: 18, version: version) { _ in })
        let error = body.readInteger(as: Int16.self)!
        var apis: [Int16: ClosedRange<Int16>] = [:]
        for _ in 0..<body.readInteger(as: Int32.self)! {
            let key = body.readInteger(as: Int16.self)!
            apis[key] = body.readInteger(as: Int16.self)!...body.readInteger(as: Int16.self)!
        }
        return (error, apis)
    }

    static func produce(_ connection: KafkaRawConnection, topic: String, batch: ByteBuffer) async throws -> (error: Int16, baseOffset: Int64)? {
        guard var body = try await connection.roundTrip(api: 0, version: 8, body: { body in
            body.writeKafkaString(nil)  // transactional id
            body.writeInteger(Int16(-1))  // acks=all
            body.writeInteger(Int32(5_000))
            body.writeKafkaArrayCount(1)
            body.writeKafkaString(topic)
            body.writeKafkaArrayCount(1)
            body.writeInteger(Int32(0))
            body.writeKafkaBytes(batch)
        }) else { return nil }
        _ = body.readInteger(as: Int32.self)  // topics
        let name = body.readInteger(as: Int16.self)!
        _ = body.readString(length: Int(name))
        _ = body.readInteger(as: Int32.self)  // partitions
        _ = body.readInteger(as: Int32.self)  // index
        let error = body.readInteger(as: Int16.self)!
        return (error, body.readInteger(as: Int64.self)!)
    }

    static func fetch(
        _ connection: KafkaRawConnection, topic: String, offset: Int64, maxWaitMs: Int32 = 0, minBytes: Int32 = 0
    ) async throws -> (error: Int16, highWatermark: Int64, records: ByteBuffer)? {
        try await sendFetch(connection, topic: topic, offset: offset, maxWaitMs: maxWaitMs, minBytes: minBytes)
        return try await fetchResponse(connection)
    }

    static func sendFetch(_ connection: KafkaRawConnection, topic: String, offset: Int64, maxWaitMs: Int32, minBytes: Int32) async throws {
        try await connection.send(api: 1, version: 11) { body in
            body.writeInteger(Int32(-1))  // replica
            body.writeInteger(maxWaitMs)
            body.writeInteger(minBytes)
            body.writeInteger(Int32(1_048_576))
            body.writeInteger(Int8(0))  // isolation
            body.writeInteger(Int32(0))  // session id
            body.writeInteger(Int32(-1))  // session epoch
            body.writeKafkaArrayCount(1)
            body.writeKafkaString(topic)
            body.writeKafkaArrayCount(1)
            body.writeInteger(Int32(0))
            body.writeInteger(Int32(-1))  // current leader epoch
            body.writeInteger(offset)
            body.writeInteger(Int64(-1))  // log start offset
            body.writeInteger(Int32(1_048_576))
            body.writeKafkaArrayCount(0)  // forgotten topics
            body.writeKafkaString("")  // rack
        }
    }

    static func fetchResponse(_ connection: KafkaRawConnection) async throws -> (error: Int16, highWatermark: Int64, records: ByteBuffer)? {
        guard var body = try await connection.response() else { return nil }
        _ = body.readInteger(as: Int32.self)  // correlation id
        _ = body.readInteger(as: Int32.self)  // throttle
        _ = body.readInteger(as: Int16.self)  // error
        _ = body.readInteger(as: Int32.self)  // session
        _ = body.readInteger(as: Int32.self)  // topics
        let name = body.readInteger(as: Int16.self)!
        _ = body.readString(length: Int(name))
        _ = body.readInteger(as: Int32.self)  // partitions
        _ = body.readInteger(as: Int32.self)  // index
        let error = body.readInteger(as: Int16.self)!
        let highWatermark = body.readInteger(as: Int64.self)!
        _ = body.readInteger(as: Int64.self)  // last stable offset
        _ = body.readInteger(as: Int64.self)  // log start offset
        _ = body.readInteger(as: Int32.self)  // aborted transactions
        _ = body.readInteger(as: Int32.self)  // preferred read replica
        let size = body.readInteger(as: Int32.self)!
        return (error, highWatermark, body.readSlice(length: Int(size))!)
    }
}
