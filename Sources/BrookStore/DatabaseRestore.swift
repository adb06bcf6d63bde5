import BrookModel
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Puts a backup in place of a database file: the one sanctioned way to go back to a copy, since
/// doing it by hand left the old file's `-wal` and `-shm` beside the new one and could swap a
/// file under a running server.
public enum DatabaseRestore {
    /// Checks `source` (a Brook database that passes `integrity_check`), copies it beside
    /// `database`, removes `database`'s `-wal` and `-shm`, and renames the copy over it — all
    /// while holding the lock a server holds, so nothing is replaced under a running server.
    /// - Returns: the check of the copy that is now the database.
    /// - Throws: `STORAGE_ERROR` while a server holds `database`; `NOT_A_BROOK_DATABASE` or
    ///   `STORAGE_ERROR` when `source` is not a sound Brook database; `INVALID_REQUEST` when the
    ///   two are the same file or `source` does not exist.
    @discardableResult
    public static func restore(from source: String, to database: String) throws(BrookError) -> BackupReport {
        var sourceInfo = stat()
        guard stat(source, &sourceInfo) == 0 else {
            throw BrookError(.invalidRequest, "backup '\(source)' does not exist")
        }
        var databaseInfo = stat()
        if stat(database, &databaseInfo) == 0, databaseInfo.st_dev == sourceInfo.st_dev, databaseInfo.st_ino == sourceInfo.st_ino {
            throw BrookError(.invalidRequest, "'\(source)' is the database file itself; restore from a backup")
        }
        let check = try LogReader(path: source)
        let applicationID = (try? check.db.scalarInt("PRAGMA application_id")) ?? 0
        guard applicationID == Int64(Schema.applicationID) else {
            throw BrookError(.notABrookDatabase, "'\(source)' is not a Brook database (application_id \(applicationID)); restore from a file brook backup wrote")
        }
        let lock = try FileLock(database: database)
        defer { lock.release() }
        let copy = database + ".restoring"
        unlink(copy)
        let report: BackupReport
        do {
            // VACUUM INTO: a consistent copy of the source, WAL included, checked with
            // integrity_check before it goes anywhere near the database's path.
            report = try check.backup(to: copy)
        } catch {
            unlink(copy)
            throw error as? BrookError ?? BrookError(.storageError, "copying '\(source)' beside '\(database)': \(error)")
        }
        for stale in [database + "-wal", database + "-shm"] where unlink(stale) != 0 && errno != ENOENT {
            unlink(copy)
            throw BrookError(.storageError, "cannot remove '\(stale)': \(String(cString: strerror(errno)))")
        }
        guard rename(copy, database) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(copy)
            throw BrookError(.storageError, "cannot move the restored copy to '\(database)': \(reason)")
        }
        return report
    }
}
