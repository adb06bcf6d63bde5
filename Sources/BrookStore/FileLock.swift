import BrookModel
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An exclusive lock on `<database>.lock`, held by the one owner of a database's write connection,
/// so that a second Brook server (or embedded broker) on the same file is refused at start. A
/// separate file, because opening and closing another descriptor on the database itself would
/// drop SQLite's POSIX locks on it.
final class FileLock {
    let path: String
    private var descriptor: Int32

    init(database: String) throws(BrookError) {
        try Self.checkWritable(database: database)
        path = database + ".lock"
        // A local descriptor until it is locked: a class whose initialiser throws after setting
        // every property runs its deinit, which would close the descriptor a second time, and by
        // then the number may belong to another thread's file.
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw BrookError(.storageError, "cannot create the lock file '\(path)': \(String(cString: strerror(errno))); is the directory writable?")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            var holder = [UInt8](repeating: 0, count: 32)
            let count = pread(fd, &holder, holder.count, 0)
            let pid = count > 0 ? String(decoding: holder[0..<count], as: UTF8.self).trimmingWhitespace : "?"
            close(fd)
            throw BrookError(.storageError, "'\(database)' is in use by another Brook process (pid \(pid)); stop it first or use another file")
        }
        descriptor = fd
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(descriptor, 0)
        _ = pwrite(descriptor, pid, pid.count, 0)
    }

    /// Refuses a database file, or the directory of a new one, that nobody may write. The OS
    /// refuses an ordinary user by itself (opening the lock file fails), but root may write
    /// anything, so the permission bits are checked here: a file marked read-only is not Brook's
    /// to write, whoever runs it. The directory must take the `-wal` and `-shm` files too.
    static func checkWritable(database: String) throws(BrookError) {
        var info = stat()
        if stat(database, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFREG else {
                throw BrookError(.storageError, "'\(database)' is not a regular file")
            }
            guard info.st_mode & 0o222 != 0 else {
                throw BrookError(.storageError, "'\(database)' is read-only (mode \(String(info.st_mode & 0o777, radix: 8))); Brook needs to write it")
            }
        }
        let directory = database.lastIndex(of: "/").map { $0 == database.startIndex ? "/" : String(database[..<$0]) } ?? "."
        guard stat(directory, &info) == 0 else {
            throw BrookError(.storageError, "the directory '\(directory)' of '\(database)' does not exist")
        }
        guard info.st_mode & 0o222 != 0 else {
            throw BrookError(.storageError, "the directory '\(directory)' is read-only (mode \(String(info.st_mode & 0o777, radix: 8))); Brook keeps its -wal, -shm and .lock files beside '\(database)'")
        }
    }

    /// Lets another process take the file; idempotent.
    func release() {
        guard descriptor >= 0 else { return }
        flock(descriptor, LOCK_UN)
        close(descriptor)
        descriptor = -1
    }

    deinit { release() }
}

extension String {
    var trimmingWhitespace: String {
        String(unicodeScalars.filter { !$0.properties.isWhitespace }.map(Character.init))
    }
}
