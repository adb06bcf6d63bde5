import BrookModel
import BrookWire
import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing

func buffer(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }
func buffer(_ bytes: [UInt8]) -> ByteBuffer { ByteBuffer(bytes: bytes) }

func frame(_ line: String, _ items: [ByteBuffer] = []) -> FrameEvent {
    .frame(Frame(line: Line(line), items: items))
}

struct FrameDecoderTests {
    /// Every case is fed whole, byte by byte, and split at every position by the verifier.
    @Test func linesSplitOnSpaceAndTabBytesAndOptionsAtTheFirstEquals() {
        let line = Line("PRODUCE \t t\u{00F3}pico  acks=all key= x=a=b \u{00E9}t\u{00E9}=\u{65E5}\u{672C}\t")
        #expect(line.words == ["PRODUCE", "t\u{00F3}pico"])
        #expect(line.options.map { [$0.name, $0.value] } == [["acks", "all"], ["key", ""], ["x", "a=b"], ["\u{00E9}t\u{00E9}", "\u{65E5}\u{672C}"]])
        #expect(line.verb == "PRODUCE")
        #expect(Line("").words.isEmpty && Line(" \t ").options.isEmpty)
    }

    @Test func decodesLinesAndCountedItemsHoweverTheBytesArrive() throws {
        let binary: [UInt8] = [0, 13, 10, 255, 13, 10]
        var withBinary = buffer("PRODUCE t key=6 value=2\r\n")
        withBinary.writeBytes(binary)
        withBinary.writeString("\r\nhi\r\n")
        try ByteToMessageDecoderVerifier.verifyDecoder(
            inputOutputPairs: [
                (buffer("PING\r\n"), [frame("PING")]),
                (buffer("PING x\n"), [frame("PING x")]),
                (buffer("\r\n\nPING\n"), [frame("PING")]),
                (buffer("PRODUCE t key=2 value=5\r\nu1\r\nhello\r\n"), [frame("PRODUCE t key=2 value=5", [buffer("u1"), buffer("hello")])]),
                (buffer("PRODUCE t value=5 key=2\nhello\nu1\n"), [frame("PRODUCE t value=5 key=2", [buffer("hello"), buffer("u1")])]),
                (buffer("PRODUCE t header=1:2 value=0\r\na\r\nbc\r\n\r\n"), [frame("PRODUCE t header=1:2 value=0", [buffer("a"), buffer("bc"), buffer("")])]),
                (withBinary, [frame("PRODUCE t key=6 value=2", [buffer(binary), buffer("hi")])]),
                (buffer("SQL SELECT * FROM t WHERE value=5 AND key=3\r\n"), [frame("SQL SELECT * FROM t WHERE value=5 AND key=3")]),
                (buffer("SQL bytes=8\r\nSELECT 1\r\n"), [frame("SQL bytes=8", [buffer("SELECT 1")])]),
                (buffer("ERR X text with key=9 inside\r\n"), [frame("ERR X text with key=9 inside")]),
                (buffer("PING\r\nPING\r\n"), [frame("PING"), frame("PING")]),
            ],
            decoderFactory: { FrameDecoder() })
    }

    @Test func oversizeDataIsDrainedAndRefusedKeepingSync() throws {
        var limits = WireLimits()
        limits.maxRecordBytes = 4
        limits.maxRequestBytes = 6
        let refusedItem = BrookError(.messageTooLarge, "data item of 5 bytes exceeds max_record_bytes 4; it was discarded")
        let refusedTotal = BrookError(.messageTooLarge, "request data of 8 bytes exceeds max_request_bytes 6; it was discarded")
        try ByteToMessageDecoderVerifier.verifyDecoder(
            inputOutputPairs: [
                (buffer("PRODUCE t value=5\r\n12345\r\nPING\r\n"), [.refused(Line("PRODUCE t value=5"), refusedItem), frame("PING")]),
                (buffer("PRODUCE t key=4 value=4\r\nkkkk\r\nvvvv\nPING\n"), [.refused(Line("PRODUCE t key=4 value=4"), refusedTotal), frame("PING")]),
            ],
            decoderFactory: { FrameDecoder(limits: limits) })
    }

    @Test func lostFramesAreReportedOnceThenEverythingIsDiscarded() throws {
        var limits = WireLimits()
        limits.maxLine = 24
        for pair: (ByteBuffer, [FrameEvent]) in [
                (buffer("PRODUCE t value=2\r\nabc\r\nPING\r\n"), [.lost(BrookError(.invalidRequest, "data item of 2 bytes was not followed by CRLF (its byte count is wrong); closing the connection"))]),
                (buffer("PRODUCE t value=x\r\nPING\r\n"), [.lost(BrookError(.invalidRequest, "value=x is not a byte count; the frame is lost"))]),
                (buffer("PRODUCE t value=-1\r\n"), [.lost(BrookError(.invalidRequest, "value=-1 is not a byte count; the frame is lost"))]),
                (buffer("PRODUCE t header=3\r\n"), [.lost(BrookError(.invalidRequest, "header=3 is invalid: use header=KEYBYTES:VALUEBYTES"))]),
                (buffer("TOPIC CREATE averyveryverylongname\r\nPING\r\n"), [.lost(BrookError(.lineTooLong, "line exceeds max_line 24 bytes; closing the connection"))]),
            ]
        {
            // The verifier feeds one decoder again and again, which a terminal state cannot
            // pass; so every split point is checked here instead.
            let bytes = Array(pair.0.readableBytesView)
            for split in 0...bytes.count {
                var decoder = FrameDecoder(limits: limits)
                var events: [FrameEvent] = []
                var input = ByteBuffer()
                for part in [bytes[..<split], bytes[split...]] {
                    input.writeBytes(part)  // as ByteToMessageHandler accumulates
                    while let event = decoder.next(&input) { events.append(event) }
                }
                #expect(input.readableBytes == 0, "input after a lost frame is discarded")
                #expect(events == pair.1, "split at \(split)")
            }
        }
    }

    @Test func aLineThatNeverEndsIsCutOffAtTheLimit() throws {
        var limits = WireLimits()
        limits.maxLine = 32
        var decoder = FrameDecoder(limits: limits)
        var input = buffer(String(repeating: "A", count: 40))
        #expect(decoder.next(&input) == .lost(BrookError(.lineTooLong, "line exceeds max_line 32 bytes; closing the connection")))
    }

    @Test func streamsPassThroughInChunks() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(limits: .client)))
        try channel.writeInbound(buffer("OK integrity=ok stream=10\r\n01234"))
        try channel.writeInbound(buffer("56789\r\nOK\r\n"))
        #expect(try channel.readInbound(as: FrameEvent.self) == .streamStart(Line("OK integrity=ok stream=10"), size: 10))
        #expect(try channel.readInbound(as: FrameEvent.self) == .streamChunk(buffer("01234")))
        #expect(try channel.readInbound(as: FrameEvent.self) == .streamChunk(buffer("56789")))
        #expect(try channel.readInbound(as: FrameEvent.self) == .streamEnd)
        #expect(try channel.readInbound(as: FrameEvent.self) == frame("OK"))
        #expect(try channel.finish().isClean)
    }
}

struct RequestCodecTests {
    static var join: JoinOptions {
        var options = JoinOptions(group: "g", topics: ["a", "b"])
        options.instance = "i-1"
        options.assignment = .leader
        options.strategies = ["custom", "range"]
        options.rebalance = .cooperative
        options.autoOffsetReset = .none
        options.autoCommitMs = 100
        options.metadata = [0, 13, 10]
        return options
    }

    /// A value outside an option's choices is refused naming the value and the allowed ones.
    @Test(arguments: [
        ("JOIN g t assignment=client", "assignment=client is invalid: use coordinator, leader"),
        ("JOIN g t rebalance=lazy", "rebalance=lazy is invalid: use eager, cooperative"),
        ("JOIN g t auto_offset_reset=smallest", "auto_offset_reset=smallest is invalid: use earliest, latest, none"),
        ("GROUP RESET g t yesterday", "'yesterday' is not a target"),
    ])
    func groupChoicesOutsideTheirValuesAreInvalidRequests(_ text: String, _ expected: String) {
        var input = ByteBuffer(string: text + "\r\n")
        var decoder = FrameDecoder()
        guard case .frame(let frame)? = decoder.next(&input) else { Issue.record("no frame for \(text)"); return }
        do {
            let request = try Request.parse(frame)
            Issue.record("'\(text)' parsed as \(request)")
        } catch let error as BrookError {
            #expect(error.code == .invalidRequest)
            #expect(error.message.contains(expected), "\(error.message)")
        } catch {
            Issue.record("\(text): \(error)")
        }
    }

    /// What a client encodes, the server parses back to the same request.
    @Test(arguments: [
        Request.ping(nil), .ping("x"),
        .topicCreate("orders", TopicSettings(partitions: 3, retentionMs: 1000, retentionBytes: -1, maxMessageBytes: 2048)),
        .topicList, .topicDescribe("orders"), .topicAlter("orders", TopicSettings(partitions: 6)), .topicDelete("orders"),
        .topicCreate("stamped", TopicSettings(messageTimestampType: .logAppendTime, compressionType: .zstd)),
        .topicAlter("stamped", TopicSettings(messageTimestampType: .createTime)), .topicAlter("stamped", TopicSettings(compressionType: .producer)),
        .metadata([]), .metadata(["a", "b"]),
        .produce(topic: "t", acks: .all, records: [
            ProducerRecord(key: [0, 13, 10, 0], value: [13, 10], headers: [Header("h", [0, 1]), Header("h", "again")], timestamp: 5, partition: 2),
            ProducerRecord(key: nil, value: nil),
            ProducerRecord(key: nil, value: []),
        ]),
        .produce(topic: "t", acks: .noAck, records: [ProducerRecord(key: "k", value: "v")]),
        .fetch(topic: "t", partition: 1, offset: 42, maxRecords: 10, maxBytes: 100, maxWaitMs: 250),
        .fetchPartitions(topic: "t", offsets: [PartitionOffset(partition: 3, offset: 42), PartitionOffset(partition: 0, offset: 0)], maxRecords: 10, maxBytes: 100, maxWaitMs: 250),
        .listOffsets(topic: "t", partition: 0, .earliest), .listOffsets(topic: "t", partition: 0, .latest),
        .listOffsets(topic: "t", partition: 0, .timestamp(1_700_000_000_000)),
        .sql("SELECT *\nFROM t WHERE value = 'a=b'"), .backup, .quit,
        .join(RequestCodecTests.join), .sync(group: "g", member: "m", generation: 3, assignments: ["m": [TopicPartition("t", 0)]]),
        .heartbeat(group: "g", member: "m", generation: 3), .leave(group: "g", member: "m"),
        .commit(group: "g", member: "", generation: -1, offsets: [CommittedPosition(TopicPartition("t", 1), 5)], metadata: "note"),
        .groupReset(group: "g", topic: "t", target: .earliest), .groupReset(group: "g", topic: "t", target: .latest),
        .groupReset(group: "g", topic: "t", target: .offset(7)), .groupReset(group: "g", topic: "t", target: .timestamp(1_700_000_000_000)),
    ])
    func encodedRequestsParseBack(_ request: Request) throws {
        var bytes = ByteBuffer()
        request.encode(into: &bytes)
        var decoder = FrameDecoder()
        guard case .frame(let frame)? = decoder.next(&bytes) else {
            Issue.record("no frame for \(request)")
            return
        }
        #expect(bytes.readableBytes == 0)
        #expect(try Request.parse(frame) == request)
    }

    @Test func singleRecordProduceTakesItemsInTokenOrder() throws {
        var input = buffer("PRODUCE orders acks=all partition=1 timestamp=9 header=2:1 key=2 value=5\r\nh1\r\nx\r\nu1\r\nhello\r\n")
        var decoder = FrameDecoder()
        guard case .frame(let frame)? = decoder.next(&input) else { Issue.record("no frame"); return }
        #expect(try Request.parse(frame) == .produce(topic: "orders", acks: .all, records: [
            ProducerRecord(key: "u1", value: "hello", headers: [Header("h1", "x")], timestamp: 9, partition: 1),
        ]))
    }

    @Test(arguments: [
        ("BOGUS", BrookError.Code.invalidRequest), ("PING a b", .invalidRequest), ("TOPIC", .invalidRequest),
        ("TOPIC CREATE", .invalidRequest), ("TOPIC CREATE t partitions=x", .invalidRequest),
        ("TOPIC CREATE t partitions=99999999999", .invalidRequest), ("TOPIC CREATE t colour=red", .invalidRequest),
        ("TOPIC ALTER t", .invalidRequest), ("TOPIC FROB t", .invalidRequest),
        ("TOPIC CREATE t message.timestamp.type=Now", .invalidConfig), ("TOPIC ALTER t compression.type=brotli", .invalidConfig), ("FETCH t", .invalidRequest),
        ("FETCH t 0 x", .invalidRequest), ("FETCH t -1 0", .invalidRequest), ("FETCH t 0 0 max_records=0", .invalidRequest),
        ("FETCH t 0 0 max_wait_ms=300001", .invalidRequest), ("FETCH t 0 0 1", .invalidRequest),
        ("FETCH t 0 99999999999999999999", .invalidRequest), ("LISTOFFSETS t 0 soon", .invalidRequest),
        ("PRODUCE", .invalidRequest), ("PRODUCE t acks=2", .invalidRequest), ("PRODUCE t records=3", .invalidRequest),
        ("PRODUCE t records=10001 bytes=0", .recordListTooLarge), ("SQL", .invalidRequest), ("BACKUP now", .invalidRequest),
    ])
    func malformedRequestsAreRefusedWithAStableCode(_ text: String, _ code: BrookError.Code) {
        var input = buffer(text + "\r\n" + (text.hasSuffix("bytes=0") ? "\r\n" : ""))
        var decoder = FrameDecoder()
        guard case .frame(let frame)? = decoder.next(&input) else { Issue.record("no frame for \(text)"); return }
        do {
            let request = try Request.parse(frame)
            Issue.record("'\(text)' parsed as \(request)")
        } catch let error as BrookError {
            #expect(error.code == code, "\(text): \(error)")
        } catch {
            Issue.record("\(text): \(error)")
        }
    }

    @Test func batchBlocksAreCheckedAgainstTheirCount() {
        for (block, expected) in [
            ("RECORD value=1\r\na\r\n", "holds 1 records, not records=2"),
            ("RECORD value=1\r\na\r\nRECORD value=1\r\nb\r\nRECORD value=1\r\nc\r\n", "more than records=2"),
            ("RECORD value=5\r\na\r\n", "ends inside its data"),
            ("RECORD value=1\r\nab\r\n", "not followed by CRLF"),
            ("REC value=1\r\na\r\n", "does not start with RECORD"),
            ("RECORD colour=1\r\n", "unknown field"),
        ] {
            var input = buffer("PRODUCE t records=2 bytes=\(block.utf8.count)\r\n\(block)\r\n")
            var decoder = FrameDecoder()
            guard case .frame(let frame)? = decoder.next(&input) else { Issue.record("no frame"); continue }
            do {
                _ = try Request.parse(frame)
                Issue.record("accepted \(block)")
            } catch let error as BrookError {
                #expect(error.code == .invalidRequest)
                #expect(error.message.contains(expected), "\(error.message)")
            } catch {
                Issue.record("\(error)")
            }
        }
    }
}

struct ReplyCodecTests {
    func decodeOne(_ write: (inout ByteBuffer) -> Void) throws -> Frame {
        var bytes = ByteBuffer()
        write(&bytes)
        var decoder = FrameDecoder(limits: .client)
        guard case .frame(let frame)? = decoder.next(&bytes) else { throw BrookError(.invalidRequest, "no frame") }
        #expect(bytes.readableBytes == 0, "one reply is exactly one frame")
        return frame
    }

    @Test func positionsFoldRunsAndUnfoldExactly() throws {
        let positions = [
            RecordPosition(partition: 2, offset: 10), RecordPosition(partition: 2, offset: 11), RecordPosition(partition: 2, offset: 12),
            RecordPosition(partition: 0, offset: 5), RecordPosition(partition: 2, offset: 13), RecordPosition(partition: 1, offset: 0),
        ]
        let frame = try decodeOne { Reply.positions(positions, into: &$0) }
        #expect(frame.line.text == "OK 6 2:10*3 0:5 2:13 1:0")
        #expect(try Reply.positions(frame) == positions)
    }

    @Test func errorsRoundTripAsBrookErrors() throws {
        let frame = try decodeOne { Reply.error(BrookError(.unknownTopic, "topic 'x' does not exist\r\nsecond line"), into: &$0) }
        do {
            try Reply.check(frame)
            Issue.record("an ERR reply passed the check")
        } catch let error as BrookError {
            #expect(error.code == .unknownTopic)
            #expect(error.message == "topic 'x' does not exist  second line")
        }
    }

    @Test func topicDescriptionsRoundTrip() throws {
        let topic = TopicDescription(
            name: "orders", partitionCount: 2,
            config: TopicConfig(retentionMs: 5, retentionBytes: 6, maxMessageBytes: 7, messageTimestampType: .logAppendTime, compressionType: .lz4),
            partitions: [PartitionDescription(index: 0, logStartOffset: 1, nextOffset: 9, bytes: 80), PartitionDescription(index: 1, logStartOffset: 0, nextOffset: 0, bytes: 0)])
        #expect(try Reply.topics(try decodeOne { Reply.topics([topic], partitions: true, into: &$0) }) == [topic])
        var listed = topic
        listed.partitions = []
        #expect(try Reply.topics(try decodeOne { Reply.topics([topic, topic], partitions: false, into: &$0) }) == [listed, listed])
    }

    @Test func rowsRoundTripEveryType() throws {
        let result = QueryResult(
            columns: ["a", "b b", "c"],
            rows: [[.integer(-3), .real(1.5), .text("x\r\ny")], [.null, .blob([0, 13, 10]), .text("")]], truncated: true)
        #expect(try Reply.rows(try decodeOne { Reply.rows(result, into: &$0) }) == result)
    }

    /// The fetched-record writer fills reserved space by hand: its bytes must be exactly the
    /// protocol's, at the extremes of every number too.
    @Test func fetchedRecordFramesAreExactAtTheExtremes() throws {
        let headers = HeaderCodec.encode([Header("a", []), Header("bc", "xyz")])
        var block = ByteBuffer()
        headers.withUnsafeBytes { encoded in
            [UInt8]().withUnsafeBytes { emptyKey in
                Array("value".utf8).withUnsafeBytes { value in
                    RecordFrames.write(offset: .max, timestamp: .min, key: emptyKey, encodedHeaders: encoded, value: value, into: &block)
                }
            }
            RecordFrames.write(offset: 0, timestamp: -1, key: nil, encodedHeaders: UnsafeRawBufferPointer(start: nil, count: 0), value: nil, into: &block)
            Array(repeating: UInt8(7), count: 1234).withUnsafeBytes { value in
                RecordFrames.write(offset: 10, timestamp: 1_700_000_000_000, key: nil, encodedHeaders: UnsafeRawBufferPointer(start: nil, count: 0), value: value, into: &block)
            }
        }
        let expected = "RECORD offset=9223372036854775807 timestamp=-9223372036854775808 key=0 header=1:0 header=2:3 value=5\r\n"
            + "\r\na\r\n\r\nbc\r\nxyz\r\nvalue\r\n"
            + "RECORD offset=0 timestamp=-1\r\n"
            + "RECORD offset=10 timestamp=1700000000000 value=1234\r\n" + String(repeating: "\u{07}", count: 1234) + "\r\n"
        #expect(block.readString(length: block.readableBytes) == expected)
    }

    /// Producer and POLL record frames, written by hand into reserved space: exactly the
    /// protocol's bytes, header keys counted in UTF-8 bytes.
    @Test func producerAndPollRecordFramesAreExact() throws {
        var record = ProducerRecord(
            key: Array("clé".utf8), value: nil, headers: [Header("ключ", [0, 13, 10]), Header("", [])], timestamp: -5, partition: 3)
        record.sequence = 7
        var block = ByteBuffer()
        RecordFrames.write(record, into: &block)
        RecordFrames.write(ProducerRecord(key: nil, value: []), into: &block)
        RecordFrames.write(Record(offset: 12, timestamp: 34, key: nil, headers: [Header("h", "v")], value: Array("ok".utf8)), topic: "t", partition: 2, into: &block)
        let expected = "RECORD partition=3 timestamp=-5 sequence=7 key=4 header=8:3 header=0:0\r\n"
            + "clé\r\nключ\r\n\u{0}\r\n\r\n\r\n\r\n"
            + "RECORD value=0\r\n\r\n"
            + "RECORD topic=t partition=2 offset=12 timestamp=34 header=1:1 value=2\r\nh\r\nv\r\nok\r\n"
        #expect(block.readString(length: block.readableBytes) == expected)
    }

    @Test func fetchedRecordsRoundTripFromStoredBuffers() throws {
        let headers = HeaderCodec.encode([Header("trace", [0, 13, 10]), Header("k", "v")])
        var block = ByteBuffer()
        headers.withUnsafeBytes { encoded in
            [UInt8](arrayLiteral: 0, 10, 13).withUnsafeBytes { key in
                RecordFrames.write(offset: 7, timestamp: 99, key: key, encodedHeaders: encoded, value: nil, into: &block)
            }
            RecordFrames.write(offset: 8, timestamp: 100, key: nil, encodedHeaders: UnsafeRawBufferPointer(start: nil, count: 0), value: UnsafeRawBufferPointer(start: nil, count: 0), into: &block)
        }
        let frame = try decodeOne { bytes in
            var copy = block
            Reply.fetchHead(records: 2, highWatermark: 9, logStart: 0, nextOffset: 9, blockBytes: copy.readableBytes, into: &bytes)
            bytes.writeBuffer(&copy)
            bytes.writeString("\r\n")
        }
        let fetched = try Reply.fetched(frame)
        #expect(fetched.highWatermark == 9)
        #expect(fetched.records == [
            Record(offset: 7, timestamp: 99, key: [0, 10, 13], headers: [Header("trace", [0, 13, 10]), Header("k", "v")], value: nil),
            Record(offset: 8, timestamp: 100, key: nil, headers: [], value: []),
        ])
    }
}
