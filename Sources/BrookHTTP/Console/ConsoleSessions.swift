import Crypto
import Foundation
import Synchronization

/// The console's logged-in browsers, held in memory only: a restart logs everyone out. A session
/// is a random 256-bit token in a cookie; it ends at logout, or once unused for the idle timeout.
/// The store keys sessions by the token's SHA-256, so a lookup compares digests, never the token
/// an attacker is guessing, and the tokens themselves are never kept.
public final class ConsoleSessions: Sendable {
    /// How long a session lasts without a request.
    public let idleTimeout: Duration
    /// At most this many sessions are kept; a new login past it ends the least recently used.
    public let maxSessions: Int
    private let now: @Sendable () -> ContinuousClock.Instant
    private let sessions = Mutex<[String: Session]>([:])

    private struct Session {
        var user: String
        var lastUsed: ContinuousClock.Instant
    }

    /// - Parameters:
    ///   - idleTimeout: how long an unused session lasts.
    ///   - maxSessions: how many sessions are kept at most.
    ///   - now: the clock, injected so that tests can move time.
    public init(
        idleTimeout: Duration = .seconds(30 * 60), maxSessions: Int = 10_000,
        now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }
    ) {
        self.idleTimeout = idleTimeout
        self.maxSessions = max(1, maxSessions)
        self.now = now
    }

    /// Starts a session for `user` and returns its token (64 hex digits) for the cookie.
    public func start(user: String) -> String {
        let token = SymmetricKey(size: .bits256).withUnsafeBytes { Self.hex($0) }
        let at = now()
        sessions.withLock { sessions in
            sessions = sessions.filter { at - $0.value.lastUsed < idleTimeout }
            if sessions.count >= maxSessions, let oldest = sessions.min(by: { $0.value.lastUsed < $1.value.lastUsed }) {
                sessions[oldest.key] = nil
            }
            sessions[Self.key(token)] = Session(user: user, lastUsed: at)
        }
        return token
    }

    /// The user of a live session, which this use keeps alive; nil for an unknown or expired token
    /// (an expired one is forgotten).
    public func user(for token: String) -> String? {
        let key = Self.key(token)
        let at = now()
        return sessions.withLock { sessions -> String? in
            guard var session = sessions[key] else { return nil }
            guard at - session.lastUsed < idleTimeout else {
                sessions[key] = nil
                return nil
            }
            session.lastUsed = at
            sessions[key] = session
            return session.user
        }
    }

    /// Ends a session (logout); an unknown token is ignored.
    public func end(_ token: String) {
        let key = Self.key(token)
        _ = sessions.withLock { $0.removeValue(forKey: key) }
    }

    /// Sessions held, expired ones not yet forgotten included.
    public var count: Int { sessions.withLock { $0.count } }

    private static func key(_ token: String) -> String { Self.hex(SHA256.hash(data: Data(token.utf8))) }

    private static func hex(_ bytes: some Sequence<UInt8>) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
}
