/// Names and DDL of the per-partition log tables and per-topic views. Tables are named by the
/// partition's numeric id, never by user text; only the view carries the (validated) topic name.
enum LogNames {
    static func table(_ partitionID: Int64) -> String { "__brook_log_\(partitionID)" }

    /// Triggers that refuse every INSERT (REPLACE and upsert included), UPDATE and DELETE on a
    /// partition log with a message that says what to do instead. Brook's writer runs with
    /// triggers off on its connection (``LogWriter``), so its appends and retention's deletes
    /// pay nothing per record; every other connection (the `sqlite3` shell, another program) is
    /// refused before it writes. REPLACE deletes the row it replaces without firing the delete
    /// trigger, but its INSERT trigger fires first and refuses it.
    static func guardTriggers(table: String) -> String {
        """
        CREATE TRIGGER "\(table)_writer_only_insert" BEFORE INSERT ON "\(table)"
        BEGIN
            SELECT RAISE(ABORT, 'Brook partition logs are written only by Brook: produce records with brook produce or a client');
        END;
        CREATE TRIGGER "\(table)_append_only_update" BEFORE UPDATE ON "\(table)"
        BEGIN
            SELECT RAISE(ABORT, 'Brook partition logs are append-only and written only by Brook: a record cannot be changed; produce a new one with brook produce or a client');
        END;
        CREATE TRIGGER "\(table)_append_only_delete" BEFORE DELETE ON "\(table)"
        BEGIN
            SELECT RAISE(ABORT, 'Brook partition logs are append-only and written only by Brook: retention deletes old records (brook topics alter --retention-ms or --retention-bytes), brook topics delete removes a topic');
        END;
        """
    }

    /// The names of ``guardTriggers(table:)``.
    static func guardTriggerNames(table: String) -> [String] {
        ["writer_only_insert", "append_only_update", "append_only_delete"].map { "\(table)_\($0)" }
    }

    /// Drops a log table's triggers, whichever version of Brook created them.
    static func dropGuardTriggers(table: String) -> String {
        guardTriggerNames(table: table)
            .map { "DROP TRIGGER IF EXISTS \"\($0)\";" }
            .joined(separator: "\n")
    }

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
            """ + "\n" + guardTriggers(table: table)
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
