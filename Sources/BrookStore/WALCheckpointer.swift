import BrookModel
import CSQLite

/// A connection of its own that copies WAL pages back into the database file, so checkpoints run
/// beside the writer instead of inside a commit. Not thread-safe: one thread at a time.
public final class WALCheckpointer {
    let db: Connection
    private var sawWAL = false

    public init(path: String) throws(BrookError) {
        do {
            db = try Connection(path: path, mode: .readWrite)
            try db.execute("PRAGMA busy_timeout = 10000; PRAGMA wal_autocheckpoint = 0;")
        } catch {
            throw BrookError(error, while: "opening the checkpoint connection on '\(path)'")
        }
    }

    /// Runs a PASSIVE checkpoint (never waits for readers or the writer); returns the WAL's frame
    /// count and how many of them are now in the database file.
    @discardableResult
    public func checkpoint() throws(BrookError) -> (walFrames: Int, checkpointed: Int) {
        if !sawWAL {
            // A connection that has not read the file does not know it is in WAL mode, and a
            // checkpoint on it silently does nothing; reading the header also parses the schema,
            // so it is done here, on the checkpointer's thread, not at start.
            do {
                let mode = try db.scalarString("PRAGMA journal_mode")
                guard mode?.lowercased() == "wal" else {
                    throw BrookError(.storageError, "the database is in journal mode '\(mode ?? "?")', not WAL; cannot checkpoint")
                }
                sawWAL = true
            } catch let error as BrookError {
                throw error
            } catch let error as SQLiteError {
                throw BrookError(error, while: "reading the journal mode")
            } catch {
                throw BrookError(.unknownServerError, "reading the journal mode: \(error)")
            }
        }
        var logFrames: Int32 = 0
        var checkpointed: Int32 = 0
        let code = sqlite3_wal_checkpoint_v2(db.handle, nil, SQLITE_CHECKPOINT_PASSIVE, &logFrames, &checkpointed)
        if code != SQLITE_OK && code != SQLITE_BUSY {
            throw BrookError(SQLiteError(connection: db.handle, code: code), while: "checkpointing the WAL")
        }
        if logFrames < 0 {
            throw BrookError(.storageError, "the checkpoint connection does not see the database in WAL mode")
        }
        return (Int(logFrames), Int(checkpointed))
    }
}
