#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// The process's open-file limit (RLIMIT_NOFILE), which caps how many connections a server can
/// accept: past it `accept` fails with EMFILE.
public enum DescriptorLimit {
    /// Descriptors kept free beyond those open at start: SQL sorts and temporary files, a backup's
    /// copy and stream, log files, a second listener.
    public static let reserve = 32

    /// Raises the soft limit to the hard one, as servers that hold many sockets do (Go's runtime
    /// does the same). Idempotent.
    /// - Returns: the soft limit before and after; equal when it could not be raised.
    @discardableResult
    public static func raiseToHard() -> (before: Int, after: Int) {
        var limit = rlimit()
        guard getrlimit(resource, &limit) == 0 else { return (0, 0) }
        let before = Int(clamping: limit.rlim_cur)
        // An unlimited hard limit is not a valid soft one everywhere (macOS caps it at OPEN_MAX).
        let target = limit.rlim_max >= rlim_t(Int64.max) ? rlim_t(1 << 20) : limit.rlim_max
        guard limit.rlim_cur < target else { return (before, before) }
        var raised = limit
        raised.rlim_cur = target
        if setrlimit(resource, &raised) == 0 { return (before, Int(clamping: target)) }
        return (before, before)
    }

    #if os(Linux)
    private static let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #else
    private static let resource = RLIMIT_NOFILE
    #endif

    /// The soft limit now.
    public static var current: Int {
        var limit = rlimit()
        guard getrlimit(resource, &limit) == 0 else { return Int.max }
        return Int(clamping: limit.rlim_cur)
    }

    /// Descriptors this process has open now.
    public static var open: Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/dev/fd").count) ?? 0
    }

    /// How many connections fit under the soft limit, beside what is open now and ``reserve``;
    /// at least 1.
    public static var connectionsThatFit: Int {
        max(1, current - open - reserve)
    }
}
