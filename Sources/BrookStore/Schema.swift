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
    /// transaction: those that repeat per partition table.
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
        default:
            break
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
