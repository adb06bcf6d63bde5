import BrookModel
import BrookStore
import BrookTestSupport
import Testing

/// A query confined to one topic reads that topic's view, and nothing else however it names it.
struct SQLConfinementTests {
    /// Topics `orders` (two records) and `secrets` (one), and the confinement to `orders`.
    static func fixture() throws -> (TemporaryDirectory, ReadOnlySQL, LogWriter, SQLConfinement) {
        let dir = TemporaryDirectory()
        let writer = try LogWriter(path: dir.file("t.db"))
        let orders = try writer.createTopic("orders", partitions: 1, config: TopicConfig())
        _ = try writer.createTopic("secrets", partitions: 1, config: TopicConfig())
        try append(writer, "orders", 0, [
            ProducerRecord(key: "u1", value: #"{"total": 3, "tags": ["a"]}"#), ProducerRecord(key: "u2", value: #"{"total": 9, "tags": []}"#),
        ])
        try append(writer, "secrets", 0, [ProducerRecord(key: "s", value: "hidden")])
        return (dir, try ReadOnlySQL(path: dir.file("t.db")), writer, SQLConfinement(topic: "orders", topicID: orders.id))
    }

    @Test func aConfinedFilterReadsItsTopic() throws {
        let (dir, sql, writer, orders) = try Self.fixture()
        defer { withExtendedLifetime((dir, writer)) {} }
        let filtered = try sql.query(
            #"SELECT offset FROM "orders" WHERE (json_extract(value, '$.total') > 5 OR json_array_length(value, '$.tags') > 0)"#
                + " ORDER BY offset",
            confinedTo: orders)
        #expect(filtered.rows == [[.integer(0)], [.integer(1)]])
        let selfJoin = try sql.query(#"SELECT count(*) FROM "orders" WHERE key IN (SELECT key FROM "orders" WHERE key = 'u2')"#, confinedTo: orders)
        #expect(selfJoin.rows == [[.integer(1)]])
    }

    @Test(arguments: [
        #"SELECT * FROM "orders" WHERE (key IN (SELECT key FROM "secrets"))"#,
        #"SELECT * FROM "orders" WHERE (1) UNION ALL SELECT * FROM "secrets" --)"#,
        #"SELECT * FROM "orders" WHERE ((SELECT count(*) FROM sqlite_master) > 0)"#,
        #"SELECT * FROM "orders" WHERE ((SELECT count(*) FROM __brook_topics) > 0)"#,
        #"SELECT * FROM "orders" WHERE (key IN (WITH orders AS (SELECT key FROM "secrets") SELECT key FROM orders))"#,
        #"SELECT * FROM "orders" WHERE (key IN (WITH "orders" AS (SELECT principal AS key FROM __brook_acls) SELECT key FROM "orders"))"#,
    ])
    func aConfinedQueryReadsNothingElse(_ statement: String) throws {
        let (dir, sql, writer, orders) = try Self.fixture()
        defer { withExtendedLifetime((dir, writer)) {} }
        #expect {
            _ = try sql.query(statement, confinedTo: orders)
        } throws: { error in
            (error as? BrookError)?.code == .notAuthorized
                && (error as? BrookError)?.message.contains("may read only topic 'orders'") == true
        }
    }

    @Test func aConfinedQueryReadsNoPragma() throws {
        let (dir, sql, writer, orders) = try Self.fixture()
        defer { withExtendedLifetime((dir, writer)) {} }
        #expect(try sql.query("PRAGMA table_info(secrets)").rows.count == 6)
        #expect(throws: BrookError.self) { _ = try sql.query("PRAGMA table_info(secrets)", confinedTo: orders) }
        #expect(throws: BrookError.self) { _ = try sql.query("PRAGMA user_version", confinedTo: orders) }
    }

    @Test func theSameConnectionIsUnconfinedAfterwards() throws {
        let (dir, sql, writer, orders) = try Self.fixture()
        defer { withExtendedLifetime((dir, writer)) {} }
        _ = try? sql.query(#"SELECT * FROM "secrets""#, confinedTo: orders)
        #expect(try sql.query(#"SELECT value FROM "secrets""#).rows == [[.text("hidden")]])
    }
}
