/// Names and DDL of the per-partition log tables and per-topic views. Tables are named by the
/// partition's numeric id, never by user text; only the view carries the (validated) topic name.
enum LogNames {
    static func table(_ partitionID: Int64) -> String { "__brook_log_\(partitionID)" }

    static func createTable(_ partitionID: Int64) -> String {
        let table = table(partitionID)
        return """
            CREATE TABLE "\(table)" (
                offset    INTEGER PRIMARY KEY,
                timestamp INTEGER NOT NULL,
                key       BLOB,
                headers   BLOB,
                value     BLOB
            );
            CREATE TRIGGER "\(table)_append_only_update" BEFORE UPDATE ON "\(table)"
            BEGIN
                SELECT RAISE(ABORT, 'Brook partition logs are append-only: UPDATE is refused');
            END;
            CREATE TRIGGER "\(table)_append_only_delete" BEFORE DELETE ON "\(table)"
            WHEN NOT EXISTS (SELECT 1 FROM __brook_retention_gate)
            BEGIN
                SELECT RAISE(ABORT, 'Brook partition logs are append-only: only retention deletes records');
            END;
            """
    }

    static func dropTable(_ partitionID: Int64) -> String {
        "DROP TABLE IF EXISTS \"\(table(partitionID))\";"
    }

    /// SQLite allows at most 500 terms in one compound SELECT, so topics with more partitions
    /// get a union of sub-unions.
    static let maxCompoundTerms = 500

    /// The read-only view named after the topic: every partition's records with a `partition`
    /// column.
    static func createView(topic: String, partitionIDs: [Int64]) -> String {
        let arms = partitionIDs.enumerated().map { index, id in
            "SELECT \(index) AS partition, offset, timestamp, key, headers, value FROM \"\(table(id))\""
        }
        let body: String
        if arms.count <= maxCompoundTerms {
            body = arms.joined(separator: "\nUNION ALL ")
        } else {
            body = stride(from: 0, to: arms.count, by: maxCompoundTerms).map { start in
                "SELECT * FROM (" + arms[start..<min(start + maxCompoundTerms, arms.count)].joined(separator: " UNION ALL ") + ")"
            }.joined(separator: "\nUNION ALL ")
        }
        return "CREATE VIEW \(quoteIdentifier(topic)) AS\n\(body);"
    }

    static func dropView(topic: String) -> String {
        "DROP VIEW IF EXISTS \(quoteIdentifier(topic));"
    }
}
