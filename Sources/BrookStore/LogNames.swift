/// Names and DDL of the per-topic log tables and views. Tables are named by the topic's numeric
/// id, never by user text; only the view carries the (validated) topic name.
///
/// One table holds every partition of a topic. Its `INTEGER PRIMARY KEY` (the rowid) packs the
/// partition and the offset, `position = partition << 49 | offset`, so a partition's records are
/// one contiguous, offset-ordered range of the table's B-tree: a range read, an append at the end
/// of a partition and retention's delete from its head are rowid range operations, as they were
/// with a table per partition, while creating or growing a topic changes no schema but a row per
/// partition (see docs/storage.md for the measurements behind this layout).
enum LogNames {
    /// Bits of ``position(partition:offset:)`` that hold the offset: partitions up to 16,383
    /// (Brook allows 10,000) and offsets below 2^49 (5.6 × 10^14) fit a positive Int64.
    static let offsetBits: Int64 = 49
    /// One past the largest offset a partition can hold.
    static let offsetLimit: Int64 = 1 << offsetBits
    static let offsetMask: Int64 = offsetLimit - 1

    /// The packed key of a record: partition in the high bits, offset in the low. An offset of
    /// ``offsetLimit`` gives the next partition's first position (an exclusive bound).
    @inline(__always)
    static func position(partition: Int, offset: Int64) -> Int64 {
        Int64(partition) << offsetBits + offset
    }

    /// The first position of a partition's range; its end is the next partition's first.
    @inline(__always)
    static func firstPosition(partition: Int) -> Int64 {
        Int64(partition) << offsetBits
    }

    static func table(topicID: Int64) -> String { "__brook_records_\(topicID)" }

    /// Triggers that refuse every INSERT (REPLACE and upsert included), UPDATE and DELETE on a
    /// log table with a message that says what to do instead. Brook's writer runs with triggers
    /// off on its connection (``LogWriter``), so its appends and retention's deletes pay nothing
    /// per record; every other connection (the `sqlite3` shell, another program) is refused
    /// before it writes. REPLACE deletes the row it replaces without firing the delete trigger,
    /// but its INSERT trigger fires first and refuses it.
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

    /// A topic's log table and its guards. `headers` is JSON text (``HeaderJSON``), NULL for a
    /// record without headers.
    static func createTable(topicID: Int64) -> String {
        let table = table(topicID: topicID)
        return """
            CREATE TABLE "\(table)" (
                position  INTEGER PRIMARY KEY,
                timestamp INTEGER NOT NULL,
                key       BLOB,
                headers   TEXT,
                value     BLOB
            );
            """ + "\n" + guardTriggers(table: table)
    }

    static func dropTable(topicID: Int64) -> String {
        "DROP TABLE IF EXISTS \"\(table(topicID: topicID))\";"
    }

    /// The read-only view named after the topic: every partition's records, with `partition`
    /// and `offset` unpacked from the position. It does not change when partitions are added.
    static func createView(topic: String, topicID: Int64) -> String {
        """
        CREATE VIEW \(quoteIdentifier(topic)) AS
        SELECT position >> \(offsetBits) AS partition, position & \(offsetMask) AS offset, timestamp, key, headers, value
        FROM "\(table(topicID: topicID))";
        """
    }

    static func dropView(topic: String) -> String {
        "DROP VIEW IF EXISTS \(quoteIdentifier(topic));"
    }

    // MARK: Version 4 and earlier

    /// A partition's table before migration 6: one table per partition, by partition id.
    static func legacyPartitionTable(_ partitionID: Int64) -> String { "__brook_log_\(partitionID)" }
}
