import Logging
import Synchronization

/// Logs a failure that may repeat on every commit (a WAL checkpoint while the disk is full) at
/// most once per interval, with how many went unlogged since, and once more when it stops
/// failing: one line a minute instead of one per commit.
final class RepeatedFailureLog: Sendable {
    private struct State {
        var lastLogged: ContinuousClock.Instant?
        var unlogged = 0
        var failing = false
    }

    private let message: String
    private let logger: Logger
    private let interval: Duration
    private let state = Mutex(State())

    init(_ message: String, logger: Logger, interval: Duration = .seconds(60)) {
        self.message = message
        self.logger = logger
        self.interval = interval
    }

    func failed(_ error: any Error) {
        let now = ContinuousClock.now
        let unlogged: Int? = state.withLock { state in
            state.failing = true
            if let last = state.lastLogged, now - last < interval {
                state.unlogged += 1
                return nil
            }
            defer { state.unlogged = 0 }
            state.lastLogged = now
            return state.unlogged
        }
        guard let unlogged else { return }
        var metadata: Logger.Metadata = ["error": "\(error)"]
        if unlogged > 0 { metadata["unlogged_failures"] = "\(unlogged)" }
        metadata["next_log_in_s"] = "\(interval.components.seconds)"
        logger.warning("\(message)", metadata: metadata)
    }

    func succeeded() {
        let unlogged: Int? = state.withLock { state in
            guard state.failing else { return nil }
            defer { state = State() }
            return state.unlogged
        }
        guard let unlogged else { return }
        logger.notice("\(message) before; it succeeds again", metadata: ["unlogged_failures": "\(unlogged)"])
    }
}
