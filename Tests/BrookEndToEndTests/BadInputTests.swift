import BrookBroker
import BrookClient
import BrookModel
import BrookTestSupport
import Foundation
import Testing

/// Hostile and broken input, end to end against a real server: each case gets its stable error
/// code, the connection stays usable wherever the framing allows, nothing is written, and other
/// connections never notice.
struct BadInputTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let bytes: [UInt8]
        /// The reply line's start.
        let reply: String
        /// Whether the same connection still answers afterwards.
        let keeps: Bool
        var testDescription: String { name }

        init(_ name: String, _ text: String, _ reply: String, keeps: Bool = true) {
            self.init(name, Array(text.utf8), reply, keeps: keeps)
        }

        init(_ name: String, _ bytes: [UInt8], _ reply: String, keeps: Bool = true) {
            self.name = name
            self.bytes = bytes
            self.reply = reply
            self.keeps = keeps
        }
    }

    static let cases: [Case] = [
        Case("unknown verb", "BOGUS\r\n", "ERR INVALID_REQUEST unknown command 'BOGUS'"),
        Case("missing argument", "FETCH t\r\n", "ERR INVALID_REQUEST FETCH needs a partition"),
        Case("extra argument", "PING a b\r\n", "ERR INVALID_REQUEST PING takes at most 1 arguments"),
        Case("non-numeric partition", "FETCH t x 0\r\n", "ERR INVALID_REQUEST partition 'x' is invalid"),
        Case("non-numeric offset", "FETCH t 0 ten\r\n", "ERR INVALID_REQUEST offset 'ten' is not an integer"),
        Case("overflowing offset", "FETCH t 0 99999999999999999999\r\n", "ERR INVALID_REQUEST offset '99999999999999999999' is not an integer"),
        Case("negative max records", "FETCH t 0 0 max_records=-5\r\n", "ERR INVALID_REQUEST max_records=-5 is invalid"),
        Case("unknown option", "TOPIC CREATE x colour=red\r\n", "ERR INVALID_REQUEST TOPIC does not take colour="),
        Case("negative byte count", "PRODUCE t value=-1\r\n", "ERR INVALID_REQUEST value=-1 is not a byte count", keeps: false),
        Case("overflowing byte count", "PRODUCE t value=99999999999999999999\r\n", "ERR INVALID_REQUEST value=99999999999999999999 is not a byte count", keeps: false),
        Case("byte count too small", "PRODUCE t value=2\r\nabc\r\n", "ERR INVALID_REQUEST data item of 2 bytes was not followed by CRLF", keeps: false),
        Case("no CRLF after data", "PRODUCE t value=3\r\nabcXY", "ERR INVALID_REQUEST data item of 3 bytes was not followed by CRLF", keeps: false),
        Case("over-long line", String(repeating: "A", count: 70_000) + "\r\n", "ERR LINE_TOO_LONG line exceeds max_line 65536 bytes", keeps: false),
        Case("NUL in a topic name", "TOPIC CREATE a\u{0}b\r\n", "ERR INVALID_TOPIC"),
        Case("CR in a topic name", "TOPIC CREATE a\rb\r\n", "ERR INVALID_TOPIC"),
        Case("invalid UTF-8 in a topic name", Array("TOPIC CREATE ".utf8) + [0xFF, 0xFE, 0x41] + [13, 10], "ERR INVALID_TOPIC"),
        Case("SQL in a topic name", "TOPIC CREATE x\";DROP\r\n", "ERR INVALID_TOPIC"),
        Case("quote in a topic name", "TOPIC CREATE it's\r\n", "ERR INVALID_TOPIC"),
        Case("dot-dot topic", "TOPIC CREATE ..\r\n", "ERR INVALID_TOPIC"),
        Case("reserved prefix", "TOPIC CREATE __brook_topics\r\n", "ERR INVALID_TOPIC"),
        Case("record over max.message.bytes", "PRODUCE t value=101\r\n" + String(repeating: "x", count: 101) + "\r\n", "ERR MESSAGE_TOO_LARGE record of 101 bytes exceeds max.message.bytes 100"),
        Case("batch over the maximum", "PRODUCE t records=10001 bytes=0\r\n\r\n", "ERR RECORD_LIST_TOO_LARGE batch of 10001 records exceeds max_batch_records 10000"),
        Case("data over max_record_bytes (drained)", "PRODUCE t value=67108865\r\n" + String(repeating: "y", count: 67_108_865) + "\r\n", "ERR MESSAGE_TOO_LARGE data item of 67108865 bytes exceeds max_record_bytes 67108864"),
        Case("partition out of range (fetch)", "FETCH t 9 0\r\n", "ERR UNKNOWN_PARTITION partition 9 of topic 't' does not exist"),
        Case("partition out of range (produce)", "PRODUCE t partition=9 value=1\r\nx\r\n", "ERR UNKNOWN_PARTITION partition 9 of topic 't' does not exist"),
        Case("offset above the high watermark", "FETCH t 0 999\r\n", "ERR OFFSET_OUT_OF_RANGE offset 999 is out of range for t-0"),
        Case("offset below the log start", "FETCH pruned 0 1\r\n", "ERR OFFSET_OUT_OF_RANGE offset 1 is out of range for pruned-0: the log starts at 5"),
        Case("unknown topic", "PRODUCE nope value=1\r\nx\r\n", "ERR UNKNOWN_TOPIC topic 'nope' does not exist"),
        Case("SQL that writes", "SQL DELETE FROM __brook_topics\r\n", "ERR NOT_AUTHORIZED"),
        Case("SQL that attaches", "SQL ATTACH DATABASE '/tmp/evil.db' AS evil\r\n", "ERR NOT_AUTHORIZED"),
        Case("SQL that changes a pragma", "SQL PRAGMA query_only = 0\r\n", "ERR NOT_AUTHORIZED"),
        Case("SQL that runs forever", "SQL WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n\r\n", "ERR REQUEST_TIMED_OUT"),
        Case("SQL with a huge reply", "SQL WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n LIMIT 100) SELECT zeroblob(10000000) FROM n\r\n", "ERR RESULT_TOO_LARGE SQL result exceeds max_sql_result_bytes=16777216 after 1 rows"),
        Case("SQL with one value over the reply limit", "SQL SELECT zeroblob(20000000)\r\n", "ERR RESULT_TOO_LARGE SQL result exceeds max_sql_result_bytes=16777216 after 0 rows"),
        Case("SQL statement over max_sql_bytes", "SQL bytes=2000000\r\nSELECT 1 " + String(repeating: " ", count: 2_000_000 - 9) + "\r\n", "ERR MESSAGE_TOO_LARGE SQL statement of 2000000 bytes exceeds max_sql_bytes=1048576"),
        Case("SQL reading a library address", "SQL SELECT hex(fts3_tokenizer('simple'))\r\n", "ERR NOT_AUTHORIZED"),
        Case("SQL registering a tokenizer address", "SQL SELECT fts3_tokenizer('simple', x'0000000000000000')\r\n", "ERR NOT_AUTHORIZED"),
        Case("two SQL statements", "SQL bytes=\("SELECT 1; DELETE FROM __brook_topics".utf8.count)\r\nSELECT 1; DELETE FROM __brook_topics\r\n", "ERR INVALID_SQL SQL holds more than one statement"),
    ]

    @Test(arguments: cases)
    func hostileInputIsRefusedAndWritesNothing(_ input: Case) async throws {
        let server = try await TestServer.start(broker: { $0.sqlTimeoutMs = 200 })
        let client = try await server.client()
        try await client.createTopic("t", partitions: 2, config: TopicConfig(maxMessageBytes: 100))
        try await client.createTopic("pruned", config: TopicConfig(retentionMs: 1_000))
        try await client.produce(topic: "t", records: [ProducerRecord(key: nil, value: "keep", partition: 0)])
        try await client.produce(topic: "pruned", records: (0..<5).map { _ in ProducerRecord(key: nil, value: "old", timestamp: 1) })
        try await server.broker.runRetention()
        let before = try await client.listTopics().map(\.name)

        let raw = try await RawConnection(port: server.address.port)
        _ = try await raw.line()
        try await raw.send(input.bytes)
        let reply = try #require(try await raw.line(), "no reply to \(input.name)")
        #expect(reply.hasPrefix(input.reply), "\(input.name): \(reply)")
        if input.keeps {
            try await raw.send("PING after\r\n")
            #expect(try await raw.line() == "OK PONG after", "\(input.name): the connection is still in sync")
        } else {
            #expect(try await raw.isClosedByServer(), "\(input.name): a lost frame closes the connection")
        }

        // Nothing was written, and other connections never noticed.
        try await client.ping()
        #expect(try await client.listTopics().map(\.name) == before)
        let t = try await client.describeTopic("t")
        #expect(t.partitions.map(\.recordCount) == [1, 0], "\(input.name) wrote nothing")
        #expect(!FileManager.default.fileExists(atPath: "/tmp/evil.db"))
        await client.close()
        await server.stop()
    }

    @Test func aClientVanishingMidFrameWritesNothing() async throws {
        let server = try await TestServer.start()
        let client = try await server.client()
        try await client.createTopic("t")
        let raw = try await RawConnection(port: server.address.port)
        _ = try await raw.line()
        // A byte count larger than what arrives, then the client goes away.
        try await raw.send("PRODUCE t value=10\r\nabc")
        try await raw.finishSending()
        #expect(try await raw.isClosedByServer())
        try await Task.sleep(for: .milliseconds(100))
        #expect(try await client.describeTopic("t").partitions[0].recordCount == 0)
        await client.close()
        await server.stop()
    }
}
