import BrookBroker
import BrookHTTP
import BrookModel
import BrookTestSupport
import Foundation
import Testing

@Suite struct ConsoleTests {
    @Test func theTopicPageFiltersWithSQLAndEscapesWhatTheLogHolds() async throws {
        let test = try TestBroker("http-console-topic")
        let http = try await startHTTP(test.broker)
        defer { Task { await test.stop(serving: http.task) } }
        _ = try await test.broker.createTopic("shop")
        try await test.broker.produce(topic: "shop", records: [
            ProducerRecord(key: "u1", value: #"{"total": 3}"#),
            ProducerRecord(key: "<b>u2</b>", value: #"{"total": 9, "note": "<script>x()</script>"}"#, headers: [Header("src", Array("a&b".utf8))]),
            ProducerRecord(key: "u1", value: #"{"total": 12}"#),
        ])
        let all = try await HTTPExchange.send("/topics/shop", port: http.port)
        #expect(all.status == 200)
        #expect(all.body.contains("&lt;b&gt;u2&lt;/b&gt;"))
        #expect(all.body.contains("&lt;script&gt;x()&lt;/script&gt;"))
        #expect(all.body.contains("src: a&amp;b"))
        #expect(!all.body.contains("<b>u2</b>"))
        #expect(!all.body.contains("<script>x()"))

        // Encoded as a browser's GET form does: spaces as '+', '+' itself as %2B.
        let filter = HTTPExchange.formEncoded("key = 'u1' AND json_extract(value, '$.total') > 5 + 0").replacingOccurrences(of: "%20", with: "+")
        let filtered = try await HTTPExchange.send("/topics/shop?where=\(filter)", port: http.port)
        let offsets = filtered.body.matches(of: /<td class="offset">(\d+)<\/td>/).map { String($0.1) }
        #expect(offsets == ["2"])
        #expect(filtered.body.contains("{\n  &quot;total&quot;: 12\n}"))
    }

    @Test func theProduceFormAppendsARecord() async throws {
        let test = try TestBroker("http-console-produce")
        let http = try await startHTTP(test.broker)
        defer { Task { await test.stop(serving: http.task) } }
        _ = try await test.broker.createTopic("shop", partitions: 2)
        let answer = try await HTTPExchange.send(
            "/topics/shop/produce", method: "POST", port: http.port,
            form: [("key", "k"), ("partition", "1"), ("headers", "src: form\ntrace: t1"), ("value", "hello")])
        #expect(answer.status == 303)
        #expect(answer.headers["location"] == "/topics/shop?produced=1:0")
        let records = try await test.broker.fetch(topic: "shop", partition: 1, offset: 0).records
        #expect(records.map(\.value) == [Array("hello".utf8)])
        #expect(records.map(\.key) == [Array("k".utf8)])
        #expect(records[0].headers == [Header("src", Array("form".utf8)), Header("trace", Array("t1".utf8))])

        let refused = try await HTTPExchange.send("/topics/shop/produce", method: "POST", port: http.port, form: [("partition", "5"), ("value", "x")])
        #expect(refused.status == 400)
        #expect(refused.body.contains("UNKNOWN_PARTITION"))
    }

    @Test func theGroupPageShowsLagAndResetsAnEmptyGroup() async throws {
        let test = try TestBroker("http-console-group")
        let http = try await startHTTP(test.broker)
        defer { Task { await test.stop(serving: http.task) } }
        _ = try await test.broker.createTopic("shop")
        try await test.broker.produce(topic: "shop", records: (0..<5).map { ProducerRecord(key: nil, value: "r\($0)") })
        try await test.broker.commitOffsets(group: "readers", [OffsetCommit(topic: "shop", partition: 0, offset: 2)])
        let page = try await HTTPExchange.send("/groups/readers", port: http.port)
        #expect(page.body.contains(#"<b id="total-lag">3</b>"#))
        let reset = try await HTTPExchange.send("/groups/readers/reset", method: "POST", port: http.port, form: [("topic", "shop"), ("target", "latest")])
        #expect(reset.status == 303)
        let after = try await HTTPExchange.send("/groups/readers", port: http.port)
        #expect(after.body.contains(#"<b id="total-lag">0</b>"#))
    }

    @Test func topicsAreCreatedAndDeletedFromTheOverview() async throws {
        let test = try TestBroker("http-console-topics")
        let http = try await startHTTP(test.broker)
        defer { Task { await test.stop(serving: http.task) } }
        let created = try await HTTPExchange.send("/topics", method: "POST", port: http.port, form: [("name", "made"), ("partitions", "3")])
        #expect(created.status == 303)
        #expect(try test.broker.describeTopic("made").partitions.count == 3)
        let overview = try await HTTPExchange.send("/", port: http.port)
        #expect(overview.body.contains(#"<a href="/topics/made">made</a>"#))
        let invalid = try await HTTPExchange.send("/topics", method: "POST", port: http.port, form: [("name", "bad name!"), ("partitions", "1")])
        #expect(invalid.status == 400)
        #expect(invalid.body.contains("INVALID_TOPIC"))
        let deleted = try await HTTPExchange.send("/topics/made/delete", method: "POST", port: http.port)
        #expect(deleted.status == 303)
        #expect(try test.broker.listTopics().isEmpty)
    }
}
