/// Whether a broker can do its work, for a readiness check (a front-end's `/readyz`, say). Not
/// ready once it is closed, or once its database path no longer reaches the file it opened: the
/// file was deleted (with its directory, say), renamed or replaced while it ran. Writes are then
/// refused with `STORAGE_ERROR` until the server is restarted on the right file.
public struct BrokerHealth: Sendable, Hashable {
    /// Why the broker is not ready; nil when it is.
    public var reason: String?

    public var isReady: Bool { reason == nil }

    public init() {}

    public init(notReady reason: String) {
        self.reason = reason
    }
}
