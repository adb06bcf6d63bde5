import NIOCore

extension SocketAddress {
    /// This machine talking to itself: a loopback address or a Unix domain socket. Only there
    /// may a front-end take a mechanism that sends a password itself (SASL PLAIN).
    public var isLoopback: Bool {
        guard let ip = ipAddress else { return true }  // a Unix domain socket has no IP
        return ip == "::1" || ip.hasPrefix("127.") || ip.hasPrefix("::ffff:127.")
    }
}
