import BrookModel
import Testing

struct TopicNameTests {
    @Test(arguments: ["orders", "a", "A.b_c-9", String(repeating: "x", count: 249), "..a", "_brook", "brook_events"])
    func acceptsKafkaLegalNames(_ name: String) throws {
        try TopicName.validate(name)
    }

    @Test(arguments: [
        "", ".", "..", String(repeating: "x", count: 250), "has space", "semi;colon", "quo\"te", "it's",
        "slash/name", "nul\u{0}byte", "new\nline", "é", "__brook_topics", "__BROOK_x", "sqlite_master", "SQLITE_x",
        "x'; DROP TABLE __brook_topics; --",
    ])
    func refusesIllegalNames(_ name: String) {
        #expect(throws: BrookError.self) { try TopicName.validate(name) }
        do {
            try TopicName.validate(name)
        } catch {
            #expect(error.code == .invalidTopic)
            #expect(!error.message.isEmpty)
        }
    }

    @Test func lengthErrorNamesTheLimit() {
        do {
            try TopicName.validate(String(repeating: "x", count: 300))
            Issue.record("a 300-character name was accepted")
        } catch {
            #expect(error.message.contains("300"))
            #expect(error.message.contains("249"))
        }
    }

    @Test func partitionCounts() throws {
        try TopicName.validatePartitionCount(1)
        try TopicName.validatePartitionCount(TopicName.maxPartitions)
        for bad in [0, -1, TopicName.maxPartitions + 1] {
            #expect(throws: BrookError.self) { try TopicName.validatePartitionCount(bad) }
        }
    }
}

struct TopicConfigTests {
    @Test func defaultsAreKafkas() throws {
        let config = TopicConfig()
        #expect(config.retentionMs == 604_800_000)
        #expect(config.retentionBytes == -1)
        #expect(config.maxMessageBytes == 1_048_576)
        #expect(config.messageTimestampType == .createTime)
        #expect(config.compressionType == .producer)
        try config.validate()
    }

    @Test func timestampTypesAndCompressionTypesParseKafkasNamesOnly() throws {
        #expect(try MessageTimestampType(parsing: "CreateTime") == .createTime)
        #expect(try MessageTimestampType(parsing: "LogAppendTime") == .logAppendTime)
        #expect(try ["producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"].map { text throws(BrookError) in try CompressionType(parsing: text) }
            == [.producer, .uncompressed, .gzip, .snappy, .lz4, .zstd])
        for text in ["createtime", "LOGAPPENDTIME", "", "NoTime"] {
            let error = #expect(throws: BrookError.self) { try MessageTimestampType(parsing: text) }
            #expect(error?.code == .invalidConfig)
            #expect(error?.message.contains("use CreateTime or LogAppendTime") == true)
        }
        for text in ["GZIP", "none", "brotli", ""] {
            let error = #expect(throws: BrookError.self) { try CompressionType(parsing: text) }
            #expect(error?.code == .invalidConfig)
            #expect(error?.message.contains("compression.type") == true)
        }
    }

    @Test func refusesNonsense() {
        for config in [
            TopicConfig(retentionMs: 0), TopicConfig(retentionMs: -2), TopicConfig(retentionBytes: 0),
            TopicConfig(retentionBytes: -5), TopicConfig(maxMessageBytes: 0),
            TopicConfig(maxMessageBytes: TopicConfig.maxMaxMessageBytes + 1),
        ] {
            do {
                try config.validate()
                Issue.record("\(config) was accepted")
            } catch {
                #expect(error.code == .invalidConfig)
            }
        }
    }
}

struct HeaderCodecTests {
    @Test func roundTripsOrderedRepeatedBinaryHeaders() {
        let headers = [
            Header("trace", "abc"), Header("bin", [0, 255, 13, 10]), Header("trace", "def"),
            Header("", []), Header("big", Array(repeating: 7, count: 300)),
        ]
        let encoded = HeaderCodec.encode(headers)
        #expect(encoded.count == HeaderCodec.encodedSize(headers))
        #expect(HeaderCodec.decode(encoded) == headers)
    }

    @Test func emptyHeadersEncodeToNothing() {
        #expect(HeaderCodec.encode([]).isEmpty)
        #expect(HeaderCodec.encodedSize([]) == 0)
        #expect(HeaderCodec.decode([]) == [])
    }

    @Test func malformedBytesDecodeToNil() {
        #expect(HeaderCodec.decode([5]) == nil)  // five headers promised, none there
        #expect(HeaderCodec.decode([1, 3, 65]) == nil)  // key length past the end
        #expect(HeaderCodec.decode([1, 0, 0, 9]) == nil)  // trailing bytes
        #expect(HeaderCodec.decode([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]) == nil)
        #expect(HeaderCodec.decode([1, 1, 0xFF, 0]) == nil)  // key is not UTF-8
    }

    @Test func recordSizeCountsKeyValueAndHeaders() {
        let record = ProducerRecord(key: [1, 2], value: [3, 4, 5], headers: [Header("k", "v")])
        #expect(record.size == 2 + 3 + HeaderCodec.encodedSize([Header("k", "v")]))
        #expect(ProducerRecord(key: nil, value: nil).size == 0)
    }
}
