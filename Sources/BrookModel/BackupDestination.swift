#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Where a backup is to be written, checked before any byte is copied.
public enum BackupDestination {
    /// Refuses a path that exists or whose directory does not, naming what to fix (a missing
    /// directory was reported as a bare "Not found" or an SQLite open error).
    /// - Throws: `INVALID_REQUEST` naming the path or its directory.
    public static func check(_ path: String) throws(BrookError) {
        if access(path, F_OK) == 0 {
            throw BrookError(.invalidRequest, "backup destination '\(path)' already exists; choose a new path")
        }
        let directory = path.lastIndex(of: "/").map { index in index == path.startIndex ? "/" : String(path[..<index]) } ?? "."
        var status = stat()
        guard stat(directory, &status) == 0 else {
            throw BrookError(.invalidRequest, "backup directory '\(directory)' does not exist; create it first (mkdir -p '\(directory)')")
        }
        guard (status.st_mode & S_IFMT) == S_IFDIR else {
            throw BrookError(.invalidRequest, "backup destination '\(path)': '\(directory)' is not a directory")
        }
    }
}
