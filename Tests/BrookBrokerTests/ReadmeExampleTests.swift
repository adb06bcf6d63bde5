import BrookBroker
import BrookModel
import BrookTestSupport
import Testing

/// The README's embedded-API example, line for line but in a temporary directory, so the README
/// cannot drift from the API.
@Test func readmeExampleRuns() async throws {
    let dir = TemporaryDirectory()
    let broker = try Broker(path: dir.file("brook.db"))
    try await broker.createTopic("orders", partitions: 3, config: TopicConfig(retentionMs: 86_400_000))

    let positions = try await broker.produce(
        topic: "orders",
        records: [ProducerRecord(key: "u1", value: #"{"total": 5}"#, headers: [Header("source", "web")])],
        acks: .all)
    #expect(positions == [RecordPosition(partition: 1, offset: 0)])

    let fetched = try await broker.fetch(topic: "orders", partition: 1, offset: 0, maxWait: .seconds(5))
    #expect(fetched.records.map { String(decoding: $0.value ?? [], as: UTF8.self) } == [#"{"total": 5}"#])

    try await broker.commitOffsets(group: "billing", [OffsetCommit(topic: "orders", partition: 1, offset: 1)])

    let rows = try await broker.query("SELECT key, json_extract(value, '$.total') FROM orders")
    #expect(rows.rows == [[.text("u1"), .integer(5)]])

    let report = try await broker.backup(to: dir.file("brook-backup.db"))
    #expect(report.integrity == "ok")

    await broker.close()
}
