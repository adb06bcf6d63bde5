/// Names and DDL of the per-partition log tables and per-topic views. Tables are named by the
/// partition's numeric id, never by user text; only the view carries the (validated) topic name.
enum LogNames {
    static func table(_ partitionID: Int64) -> String { "__brook_log_\(partitionID)" }

    /// The SQL function that only Brook's writer connection registers (``LogWriter``). Triggers
    /// on the partition logs and the retention gate call it on every INSERT, so anywhere else
    /// (the `sqlite3` shell, another program) the INSERT fails to compile with "no such function:
    /// brook_partition_logs_are_read_only_outside_brook", before it writes anything. That covers
    /// `REPLACE INTO`, whose conflict resolution would otherwise delete the old row without firing
    /// the delete trigger, and an insert into `__brook_retention_gate`, which opens the delete path.
    static let writerFunction = "brook_partition_logs_are_read_only_outside_brook"

    /// The trigger that keeps INSERT on a partition log (or the retention gate) to the writer.
    static func writerOnlyInsertTrigger(table: String) -> String {
        """
        CREATE TRIGGER "\(table)_writer_only_insert" BEFORE INSERT ON "\(table)"
        BEGIN
            SELECT \(writerFunction)();
        END;
        """
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
            CREATE TRIGGER "\(table)_append_only_update" BEFORE UPDATE ON "\(table)"
            BEGIN
                SELECT RAISE(ABORT, 'Brook partition logs are append-only: UPDATE is refused');
            END;
            CREATE TRIGGER "\(table)_append_only_delete" BEFORE DELETE ON "\(table)"
            WHEN NOT EXISTS (SELECT 1 FROM __brook_retention_gate)
            BEGIN
                SELECT RAISE(ABORT, 'Brook partition logs are append-only: only retention deletes records');
            END;
            """ + "\n" + writerOnlyInsertTrigger(table: table)
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
