import BrookModel
import BrookStore
import BrookTestSupport
import Foundation
import Testing

/// Writes a Brook file as schema version 3 left it, with plain SQL and that version's DDL: one
/// table per partition (`__brook_log_<partition id>`, offset as the rowid, headers in
/// ``HeaderCodec``'s form), its three guard triggers, and a view per topic that unions them.
enum LegacyFile {
    struct Topic {
        var name: String
        /// Each partition's records, at offsets 0, 1, 2, …
        var partitions: [[Record]]
    }

    static func write(_ path: String, topics: [Topic]) {
        let plain = PlainSQLite(path)
        for migration in Schema.migrations where migration.version <= 3 {
            #expect(plain.exec(migration.sql) == nil, "\(migration.fileName)")
        }
        #expect(plain.exec("PRAGMA user_version = 3; PRAGMA journal_mode = WAL") == nil)
        plain.impersonateBrooksWriter()
        for topic in topics {
            #expect(plain.exec("""
                INSERT INTO __brook_topics (name, retention_ms, retention_bytes, max_message_bytes, created_ms)
                VALUES ('\(topic.name)', -1, -1, 1048576, 0)
                """) == nil)
            let topicID = plain.rows("SELECT id FROM __brook_topics WHERE name = '\(topic.name)'")[0][0]
            var arms: [String] = []
            for (index, records) in topic.partitions.enumerated() {
                let bytes = records.reduce(0) { $0 + $1.size }
                #expect(plain.exec("""
                    INSERT INTO __brook_partitions (topic_id, partition, next_offset, bytes) VALUES (\(topicID), \(index), \(records.count), \(bytes))
                    """) == nil)
                let id = plain.rows("SELECT id FROM __brook_partitions WHERE topic_id = \(topicID) AND partition = \(index)")[0][0]
                let table = "__brook_log_\(id)"
                #expect(plain.exec("""
                    CREATE TABLE "\(table)" (offset INTEGER PRIMARY KEY, timestamp INTEGER NOT NULL, key BLOB, headers BLOB, value BLOB);
                    CREATE TRIGGER "\(table)_writer_only_insert" BEFORE INSERT ON "\(table)"
                    BEGIN SELECT RAISE(ABORT, 'Brook partition logs are written only by Brook: produce records with brook produce or a client'); END;
                    CREATE TRIGGER "\(table)_append_only_update" BEFORE UPDATE ON "\(table)"
                    BEGIN SELECT RAISE(ABORT, 'Brook partition logs are append-only and written only by Brook'); END;
                    CREATE TRIGGER "\(table)_append_only_delete" BEFORE DELETE ON "\(table)"
                    BEGIN SELECT RAISE(ABORT, 'Brook partition logs are append-only and written only by Brook'); END;
                    """) == nil)
                for chunk in stride(from: 0, to: records.count, by: 500) {
                    let rows = records[chunk..<min(chunk + 500, records.count)].map { record in
                        let headers = record.headers.isEmpty ? "NULL" : literal(HeaderCodec.encode(record.headers))
                        return "(\(record.offset), \(record.timestamp), \(record.key.map(literal) ?? "NULL"), \(headers), \(record.value.map(literal) ?? "NULL"))"
                    }
                    #expect(plain.exec("INSERT INTO \"\(table)\" VALUES \(rows.joined(separator: ", "))") == nil)
                }
                arms.append("SELECT \(index) AS partition, offset, timestamp, key, headers, value FROM \"\(table)\"")
            }
            #expect(plain.exec("CREATE VIEW \"\(topic.name)\" AS \(arms.joined(separator: " UNION ALL "))") == nil)
        }
    }

    /// Text as Brook bound it (TEXT when it is plain UTF-8), anything else as a BLOB literal.
    private static func literal(_ bytes: [UInt8]) -> String {
        if !bytes.contains(0), bytes.allSatisfy({ $0 < 0x80 }), let text = String(bytes: bytes, encoding: .utf8) {
            return "'" + text.replacingOccurrences(of: "'", with: "''") + "'"
        }
        return "X'" + bytes.map { String(format: "%02x", $0) }.joined() + "'"
    }
}
