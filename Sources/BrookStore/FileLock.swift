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
        path = database + ".lock"
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw BrookError(.storageError, "cannot create the lock file '\(path)': \(String(cString: strerror(errno))); is the directory writable?")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            var holder = [UInt8](repeating: 0, count: 32)
            let count = pread(descriptor, &holder, holder.count, 0)
            let pid = count > 0 ? String(decoding: holder[0..<count], as: UTF8.self).trimmingWhitespace : "?"
            close(descriptor)
            throw BrookError(.storageError, "'\(database)' is in use by another Brook process (pid \(pid)); stop it first or use another file")
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(descriptor, 0)
        _ = pwrite(descriptor, pid, pid.count, 0)
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
