import NIOCore
import NIOPosix

/// Checks that a TCP address can be bound, before a server opens its database: a port in use is
/// then reported without leaving a new file behind. Every listener's check runs through here.
public enum PortProbe {
    /// Binds `host:port` and lets it go. The socket is bound but never listens: a client that
    /// connects meanwhile (one reconnecting to a restarting server) is refused and tries again,
    /// instead of being accepted by a listener that closes without answering.
    /// - Throws: the `IOError` of `socket` or `bind` (EADDRINUSE, EACCES, EADDRNOTAVAIL…).
    public static func check(host: String, port: Int) throws {
        let address = try SocketAddress.makeAddressResolvingHost(host, port: port)
        let fd = socket(address.protocol.rawValue, streamSocketType, 0)
        guard fd >= 0 else { throw IOError(errnoCode: errno, reason: "socket") }
        defer { close(fd) }
        var reuse: CInt = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<CInt>.size))
        let bound = address.withSockAddr { bind(fd, $0, socklen_t($1)) }
        guard bound == 0 else { throw IOError(errnoCode: errno, reason: "bind") }
    }

    #if canImport(Glibc)
    private static let streamSocketType = Int32(SOCK_STREAM.rawValue)
    #else
    private static let streamSocketType = SOCK_STREAM
    #endif
}
