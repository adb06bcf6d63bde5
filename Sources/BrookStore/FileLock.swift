import BrookModel
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An exclusive lock on the database file itself — its inode, whatever path reaches it — held by
/// the one owner of a database's write connection, so that a second Brook server (or embedded
/// broker) is refused at start even through a hard or symbolic link. A lock on a file named after
/// the path (`<database>.lock`, as before) let a hard link reach the same file under another
/// name, and SQLite, which names its `-wal` after the path, then gave the two writers two WALs.
///
/// The lock is `flock(2)`, which Linux and macOS keep apart from the POSIX record locks SQLite
/// takes on the same file, so it changes nothing in SQLite's own locking. One care: closing any
/// descriptor of a file drops every POSIX lock the process holds on it, SQLite's included. So the
/// descriptor is opened once and closed only after the owner's connections are gone, and a second
/// open in the same process is refused by a registry of held files before it opens anything.
final class FileLock: @unchecked Sendable {
    let path: String
    /// Guarded by ``state``: the descriptor, -1 once released.
    private let state: Mutex<Int32>
    private let identity: FileIdentity

    /// Device and inode: what names a file, whatever path reaches it.
    struct FileIdentity: Hashable, Sendable {
        var device: UInt64
        var inode: UInt64

        init(_ info: stat) {
            device = UInt64(info.st_dev)
            inode = UInt64(info.st_ino)
        }
    }

    /// Files this process holds; a second open of one is refused without opening it (see above).
    private static let held = Mutex<Set<FileIdentity>>([])

    init(database: String) throws(BrookError) {
        try Self.checkWritable(database: database)
        path = database
        let (fd, identity) = try Self.held.withLock { (held: inout Set<FileIdentity>) throws(BrookError) -> (Int32, FileIdentity) in
            var info = stat()
            if stat(database, &info) == 0, held.contains(FileIdentity(info)) {
                throw Self.inUse(database, pid: "\(getpid())")
            }
            let fd = open(database, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard fd >= 0 else {
                throw BrookError(.storageError, "cannot open '\(database)': \(String(cString: strerror(errno))); is the directory writable?")
            }
            guard fstat(fd, &info) == 0, !held.contains(FileIdentity(info)) else {
                // Replaced by a held file between the two looks; not ours to close (see above).
                throw Self.inUse(database, pid: "\(getpid())")
            }
            let identity = FileIdentity(info)
            guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
                close(fd)
                throw Self.inUse(database, pid: Self.flockHolder(identity) ?? "?")
            }
            held.insert(identity)
            return (fd, identity)
        }
        self.identity = identity
        state = Mutex(fd)
    }

    private static func inUse(_ database: String, pid: String) -> BrookError {
        BrookError(.storageError, "'\(database)' is in use by another Brook process (pid \(pid)); stop it first or use another file (the lock is on the file itself, so a hard or symbolic link to it is the same file)")
    }

    /// The process holding a `flock` on the file, from Linux's `/proc/locks`
    /// (`1: FLOCK  ADVISORY  WRITE <pid> <major>:<minor>:<inode> 0 EOF`); nil elsewhere.
    private static func flockHolder(_ identity: FileIdentity) -> String? {
        guard let file = fopen("/proc/locks", "r") else { return nil }
        defer { fclose(file) }
        // glibc's major() and minor(), which Swift does not import (they are macros).
        let device = identity.device
        let major = ((device >> 8) & 0xfff) | ((device >> 32) & ~UInt64(0xfff))
        let minor = (device & 0xff) | ((device >> 12) & ~UInt64(0xff))
        let wanted = String(major, radix: 16).leftPadded(2) + ":" + String(minor, radix: 16).leftPadded(2) + ":\(identity.inode)"
        var line = [CChar](repeating: 0, count: 512)
        while fgets(&line, Int32(line.count), file) != nil {
            let fields = String(cString: line).split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6, fields[1] == "FLOCK" else { continue }
            if fields[5] == wanted { return String(fields[4]) }
        }
        return nil
    }

    /// Why the path no longer reaches the file this lock holds, or nil while it does: the file
    /// was deleted (with its directory, say), renamed or replaced. A process that kept writing
    /// would acknowledge records into a file that nobody can open again, and a second server could
    /// then start on the path.
    func fileChange() -> String? {
        state.withLock { fd -> String? in
            guard fd >= 0 else { return nil }
            var held = stat()
            guard fstat(fd, &held) == 0 else { return "the open file cannot be examined: \(String(cString: strerror(errno)))" }
            if held.st_nlink == 0 { return "the file was deleted" }
            var current = stat()
            guard stat(path, &current) == 0 else {
                return "the path no longer reaches a file (\(String(cString: strerror(errno)))): it was deleted, moved or renamed"
            }
            if FileIdentity(current) != identity { return "the path now reaches another file: it was replaced or renamed" }
            return nil
        }
    }

    /// Refuses a database file, or the directory of a new one, that nobody may write. The OS
    /// refuses an ordinary user by itself (opening the file fails), but root may write
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
            throw BrookError(.storageError, "the directory '\(directory)' is read-only (mode \(String(info.st_mode & 0o777, radix: 8))); Brook keeps its -wal and -shm files beside '\(database)'")
        }
    }

    /// Lets another process take the file; idempotent. Call it after the owner's connections to
    /// the file are closed (closing the descriptor drops the process's POSIX locks on it).
    func release() {
        state.withLock { fd in
            guard fd >= 0 else { return }
            flock(fd, LOCK_UN)
            close(fd)
            fd = -1
            _ = Self.held.withLock { $0.remove(identity) }
        }
    }

    deinit { release() }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
