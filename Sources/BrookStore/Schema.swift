import BrookModel
import CSQLite

/// One numbered schema migration from the top-level `migrations/` folder.
public struct Migration: Sendable, Hashable {
    /// The number the file name starts with; `PRAGMA user_version` records the last applied.
    public let version: Int
    public let fileName: String
    public let sql: String
}

/// The schema this build of Brook writes and understands.
public enum Schema {
    /// `PRAGMA application_id` of a Brook file: 0x42524F4B, "BROK".
    public static let applicationID: Int32 = 0x4252_4F4B

    /// The embedded migrations in order, as the build plugin read them from `migrations/*.sql`.
    public static let migrations: [Migration] = EmbeddedMigrations.files.map { file in
        let digits = file.name.prefix { $0.isNumber }
        guard let version = Int(digits), version > 0 else {
            fatalError("migration file \(file.name) must start with its version number, e.g. 0001_init.sql")
        }
        return Migration(version: version, fileName: file.name, sql: file.sql)
    }.sorted { $0.version < $1.version }

    /// The newest schema version this build knows.
    public static var currentVersion: Int { migrations.last?.version ?? 0 }

    /// The steps of a migration that its SQL file cannot take, run right after it in the same
    /// transaction: those that repeat per table.
    private static func completeMigration(_ version: Int, _ db: Connection) throws(SQLiteError) {
        switch version {
        case 3:
            // 0003_writer_only_logs.sql: every existing log table's triggers become the guards
            // that refuse all outside changes (the delete trigger no longer looks at the gate).
            var tables: [String] = []
            let names = try db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name LIKE '\\_\\_brook\\_log\\_%' ESCAPE '\\'")
            while try names.step() { tables.append(names.string(0) ?? "") }
            for table in tables {
                try db.execute(LogNames.dropGuardTriggers(table: table))
                try db.execute(LogNames.guardTriggers(table: table))
            }
        case 6:
            try moveToTopicTables(db)
        default:
            break
        }
    }

    /// Records between two rows of `__brook_time_index` of a partition (see
    /// 0006_topic_tables.sql and ``LogWriter``).
    static let timeIndexInterval: Int64 = 1_000

    /// 0006_topic_tables.sql: gives each topic its table, guards and view, moves every partition
    /// table's rows into it with headers as JSON, indexes their timestamps, and drops the old
    /// tables and views. A topic with a partition table missing (dropped outside Brook) gets no
    /// table, so opening reports it unavailable, as before; its other tables are left for
    /// deleting the topic to drop.
    private static func moveToTopicTables(_ db: Connection) throws(SQLiteError) {
        var tables = Set<String>()
        let names = try db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name LIKE '\\_\\_brook\\_log\\_%' ESCAPE '\\'")
        while try names.step() { tables.insert(names.string(0) ?? "") }
        var topics: [(id: Int64, name: String)] = []
        let topicRows = try db.prepare("SELECT id, name FROM __brook_topics ORDER BY id")
        while try topicRows.step() { topics.append((topicRows.int64(0), topicRows.string(1) ?? "")) }
        var partitions: [Int64: [(id: Int64, index: Int)]] = [:]
        let partitionRows = try db.prepare("SELECT id, topic_id, partition FROM __brook_partitions ORDER BY topic_id, partition")
        while try partitionRows.step() {
            partitions[partitionRows.int64(1), default: []].append((partitionRows.int64(0), Int(partitionRows.int64(2))))
        }
        for topic in topics {
            try db.execute(LogNames.dropView(topic: topic.name))
            let topicPartitions = partitions[topic.id] ?? []
            guard topicPartitions.allSatisfy({ tables.contains(LogNames.legacyPartitionTable($0.id)) }) else { continue }
            let table = LogNames.table(topicID: topic.id)
            try db.execute(LogNames.createTable(topicID: topic.id))
            try db.execute(LogNames.createView(topic: topic.name, topicID: topic.id))
            for partition in topicPartitions {
                let old = LogNames.legacyPartitionTable(partition.id)
                try db.execute("""
                    INSERT INTO "\(table)" (position, timestamp, key, headers, value)
                    SELECT \(LogNames.firstPosition(partition: partition.index)) | offset, timestamp, key, brook_headers_json(headers), value
                    FROM "\(old)" ORDER BY offset;
                    INSERT INTO __brook_time_index (partition_id, max_timestamp, offset)
                    SELECT \(partition.id), running_max, max(offset) FROM (
                        SELECT offset, max(timestamp) OVER (ORDER BY offset ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running_max
                        FROM "\(old)")
                    WHERE offset % \(timeIndexInterval) = \(timeIndexInterval - 1)
                    GROUP BY running_max;
                    DROP TABLE "\(old)";
                    """)
            }
        }
    }

    /// Checks that the file is Brook's (or empty) and brings its schema to ``currentVersion``.
    static func prepare(_ db: Connection, path: String) throws -> OpenReport {
        let applicationID: Int64
        let version: Int64
        let objects: Int64
        do {
            applicationID = try db.scalarInt("PRAGMA application_id") ?? 0
            version = try db.scalarInt("PRAGMA user_version") ?? 0
            objects = try db.scalarInt("SELECT count(*) FROM sqlite_schema") ?? 0
        } catch where error.code == SQLITE_NOTADB {
            throw BrookError(.notABrookDatabase, "'\(path)' is not a Brook database: it is not a SQLite file (\(error.message))")
        } catch where error.code == SQLITE_CORRUPT {
            throw BrookError(.corruptDatabase, "'\(path)' is damaged: \(error.message)")
        } catch {
            throw BrookError(error, while: "opening '\(path)'")
        }
        let isBrook = applicationID == Int64(Schema.applicationID)
        let isEmpty = applicationID == 0 && version == 0 && objects == 0
        guard isBrook || isEmpty else {
            throw BrookError(
                .notABrookDatabase,
                "'\(path)' is a SQLite database that Brook did not create (application_id \(applicationID), \(objects) schema objects); refusing to touch it")
        }
        if version > Int64(currentVersion) {
            throw BrookError(
                .unsupportedVersion,
                "'\(path)' was written by a newer Brook (schema version \(version)); this build knows up to version \(currentVersion)")
        }

        var report = OpenReport(foundVersion: Int(version), appliedMigrations: [], walFramesAtOpen: 0, recoveredCounters: [])
        let pending = migrations.filter { $0.version > Int(version) }
        if !pending.isEmpty {
            try db.transaction {
                for migration in pending {
                    do {
                        try db.execute(migration.sql)
                        try completeMigration(migration.version, db)
                        try db.execute("PRAGMA user_version = \(migration.version)")
                    } catch let error as SQLiteError {
                        throw BrookError(error, while: "applying migration \(migration.fileName)")
                    }
                    report.appliedMigrations.append(migration.fileName)
                }
            }
        }
        return report
    }
}
