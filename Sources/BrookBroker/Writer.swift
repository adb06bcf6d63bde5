import BrookModel
import BrookStore
import Foundation
import Logging

/// The one thread that owns the write connection. It drains every pending request and commits
/// consecutive appends and offset commits in one transaction (group commit), then completes each
/// request and reports the partitions it touched.
final class Writer: @unchecked Sendable {
    /// One request for the writer.
    struct Job: Sendable {
        enum Kind: Sendable {
            /// Runs inside a shared group-commit transaction. It must throw ``BrookError`` only
            /// before writing anything; any other error aborts the whole group.
            case grouped
            /// Runs alone, managing its own transaction (topic admin, retention).
            case exclusive
        }

        var kind: Kind
        /// The commit must be fsynced before the job completes (acks=all).
        var durable: Bool
        /// Approximate bytes, to bound a group's size.
        var bytes: Int
        var run: @Sendable (LogWriter) throws -> Void
        /// Called once, after COMMIT (nil) or on failure.
        var finish: @Sendable (Error?) -> Void
    }

    /// Largest group-commit transaction, in bytes of records; more waits for the next one.
    static let maxGroupBytes = 16 * 1_048_576

    private let condition = NSCondition()
    // Guarded by `condition`.
    private var queue: [Job] = []
    private var counters = WriterStatistics()
    private var stopping = false
    private var stopped = false
    /// Set once the database path stopped reaching the file the writer opened; every write is
    /// refused with it from then on.
    private var fault: BrookError?

    private let log: LogWriter
    private let logger: Logger
    private let meters: BrokerMeters?
    /// Publishes committed counters (to the broker's state and fetch waiters); writer thread only.
    private let onCommit: @Sendable ([PartitionChange]) -> Void
    /// Asked after a commit whether the WAL needs a checkpoint.
    private let onWALGrowth: @Sendable (Int) -> Void
    /// Asked after a commit whether a background checkpoint has just run on a long WAL, leaving
    /// the writer the frames committed during it to copy.
    private let finishCheckpoint: @Sendable () -> Bool
    /// WAL pages past which the writer itself truncates the WAL between transactions.
    private let walTruncatePages: Int
    /// Checkpoints fail after every commit while the disk is full: logged once a minute.
    private let checkpointFailures: RepeatedFailureLog
    private let truncationFailures: RepeatedFailureLog

    init(
        log: LogWriter, logger: Logger, meters: BrokerMeters? = nil, walTruncatePages: Int,
        onCommit: @escaping @Sendable ([PartitionChange]) -> Void,
        finishCheckpoint: @escaping @Sendable () -> Bool,
        onWALGrowth: @escaping @Sendable (Int) -> Void
    ) {
        self.log = log
        self.logger = logger
        self.meters = meters
        self.walTruncatePages = walTruncatePages
        checkpointFailures = RepeatedFailureLog("WAL checkpoint failed", logger: logger)
        truncationFailures = RepeatedFailureLog("WAL truncation failed", logger: logger)
        self.onCommit = onCommit
        self.finishCheckpoint = finishCheckpoint
        self.onWALGrowth = onWALGrowth
        let thread = Thread { [self] in self.loop() }
        thread.name = "brook-writer"
        thread.start()
    }

    /// Queues a job; throws `BROKER_NOT_AVAILABLE` once shutdown has begun.
    func submit(_ job: Job) throws(BrookError) {
        condition.lock()
        defer { condition.unlock() }
        if stopping { throw BrookError(.brokerNotAvailable, "the broker is shutting down") }
        queue.append(job)
        condition.signal()
    }

    /// Runs `body` on the writer thread as one job and returns its result after the commit.
    func perform<T: Sendable>(
        _ kind: Job.Kind, durable: Bool = false, bytes: Int = 0,
        _ body: @escaping @Sendable (LogWriter) throws -> T
    ) async throws -> T {
        let box = ResultBox<T>()
        return try await withCheckedThrowingContinuation { continuation in
            let job = Job(
                kind: kind, durable: durable, bytes: bytes,
                run: { log in box.value = try body(log) },
                finish: { error in
                    if let error {
                        continuation.resume(throwing: error)
                    } else {
                        continuation.resume(returning: box.value!)
                    }
                })
            do {
                try submit(job)
            } catch {
                continuation.resume(throwing: error)
            }
        }
    }

    var statistics: WriterStatistics {
        condition.lock()
        defer { condition.unlock() }
        return counters
    }

    private func count(requests: Int, durable: Bool) {
        condition.lock()
        counters.transactions += 1
        counters.requests += requests
        if durable { counters.durableTransactions += 1 }
        condition.unlock()
    }

    /// Completes the queued jobs, then stops the thread and checkpoints the WAL into the file.
    func shutdown() {
        condition.lock()
        stopping = true
        condition.broadcast()
        while !stopped { condition.wait() }
        condition.unlock()
    }

    /// Closes the write connection and gives up the file, after ``shutdown()`` and after the
    /// broker's other connections to the file are closed (see `FileLock`).
    func closeFile() {
        condition.lock()
        precondition(stopped, "closeFile() follows shutdown()")
        condition.unlock()
        log.close()
    }

    private func loop() {
        while true {
            condition.lock()
            while queue.isEmpty && !stopping {
                guard log.hasUnsavedCounters else {
                    // Idle: look at the file each second, so that one deleted or replaced under
                    // an idle broker is noticed (and reported by `Broker.health`) before a write.
                    if !condition.wait(until: Date(timeIntervalSinceNow: 1)) && queue.isEmpty {
                        condition.unlock()
                        _ = checkFile()
                        condition.lock()
                    }
                    continue
                }
                // Idle with counters' rows trailing their logs: save them once the interval
                // passes with nothing to do, so SQL sees them current (see LogWriter.commit()).
                let interval = log.counterSaveInterval.components
                let seconds = Double(interval.seconds) + Double(interval.attoseconds) * 1e-18
                if !condition.wait(until: Date(timeIntervalSinceNow: seconds)) && queue.isEmpty {
                    condition.unlock()
                    saveCounters()
                    condition.lock()
                }
            }
            if queue.isEmpty {
                condition.unlock()
                break
            }
            let jobs = queue
            queue.removeAll(keepingCapacity: true)
            condition.unlock()
            process(jobs)
        }
        saveCounters()
        do {
            try log.checkpoint(.truncate)
        } catch {
            logger.warning("final checkpoint failed", metadata: ["error": "\(error)"])
        }
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    private func saveCounters() {
        do {
            try log.saveCounters()
        } catch {
            // Nothing is lost: the next open recovers them from the logs.
            logger.warning("saving partition counters failed", metadata: ["error": "\(error)"])
        }
    }

    /// Why writes are refused: the database path no longer reaches the file this writer opened
    /// (deleted with its directory, renamed, replaced). Nil while it does. A `stat` and an
    /// `fstat`, about a microsecond, so the writer checks before every transaction: a commit of
    /// one acks=all record costs tens of microseconds and more. Safe from any thread.
    func checkFile() -> BrookError? {
        condition.lock()
        let known = fault
        condition.unlock()
        if let known { return known }
        guard let change = log.fileChange() else { return nil }
        let found = BrookError(
            .storageError,
            "the database '\(log.path)' is no longer the file this broker opened: \(change). Writes are refused, so that nothing is acknowledged into a file that no restart would open; restart the server on the right file")
        condition.lock()
        fault = fault ?? found
        condition.unlock()
        logger.critical("the database file changed under the broker; refusing writes", metadata: ["path": "\(log.path)", "change": "\(change)"])
        return found
    }

    private func process(_ jobs: [Job]) {
        var index = 0
        while index < jobs.count {
            if let fault = checkFile() {
                for job in jobs[index...] { job.finish(fault) }
                return
            }
            if jobs[index].kind == .exclusive {
                runExclusive(jobs[index])
                index += 1
                continue
            }
            var end = index
            var bytes = 0
            while end < jobs.count, jobs[end].kind == .grouped, end == index || bytes + jobs[end].bytes <= Self.maxGroupBytes {
                bytes += jobs[end].bytes
                end += 1
            }
            runGroup(jobs[index..<end])
            index = end
        }
    }

    private func runExclusive(_ job: Job) {
        do {
            try job.run(log)
            job.finish(nil)
        } catch {
            job.finish(error)
        }
        afterCommit()
    }

    /// Background checkpoints copy the WAL into the file, but SQLite starts the WAL over only
    /// when a write begins after a complete checkpoint, which a busy writer never leaves room
    /// for: it commits more while the checkpointer copies. So when the broker asks (after a
    /// background checkpoint, once the WAL is long), the writer copies the few frames committed
    /// meanwhile itself, between transactions (PASSIVE: it never waits), and its next
    /// transaction starts the WAL over. Past the hard limit (readers kept it from starting over)
    /// the writer truncates the WAL, waiting at most 20 ms for readers (else next time).
    private func afterCommit() {
        if finishCheckpoint() {
            do {
                let started = DispatchTime.now().uptimeNanoseconds
                _ = try log.checkpoint(.passive)
                meters?.checkpointSeconds.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - started))
                checkpointFailures.succeeded()
            } catch {
                checkpointFailures.failed(error)
            }
        }
        let pages = log.walPages
        onWALGrowth(pages)
        guard pages >= walTruncatePages else { return }
        do {
            let started = DispatchTime.now().uptimeNanoseconds
            try log.checkpoint(.truncate, maxWaitMs: 20)
            meters?.checkpointSeconds.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - started))
            truncationFailures.succeeded()
        } catch {
            truncationFailures.failed(error)
        }
    }

    private func runGroup(_ group: ArraySlice<Job>) {
        // Without savepoints first: a savepoint per request costs two statements, and a request
        // fails on its own only when something outside Brook has tampered with the file.
        switch attempt(group, isolating: false) {
        case .committed: afterCommit()
        case .failed: break
        case .requestFailed:
            if attempt(group, isolating: true) == .committed { afterCommit() }
        }
    }

    private enum GroupOutcome {
        case committed
        /// Everything was rolled back and nobody answered: a failure confined to one request
        /// (see `SQLiteError.isConfinedToStatement`) hit a group run without savepoints.
        case requestFailed
        /// Every request was answered with the failure.
        case failed
    }

    /// Runs a group in one transaction. A request refused for its own reasons (``BrookError``,
    /// thrown before writing) fails alone. So does one whose statement failed in a way confined to
    /// it, when `isolating` runs each request under a savepoint; without it the group is rolled
    /// back for a second run with savepoints. Any other failure fails the whole group.
    private func attempt(_ group: ArraySlice<Job>, isolating: Bool) -> GroupOutcome {
        let durable = group.contains { $0.durable }
        var succeeded: [Job] = []
        succeeded.reserveCapacity(group.count)
        var refused: [(job: Job, error: Error)] = []
        // Jobs before `position` have run (and either succeeded or been refused alone).
        var position = group.startIndex
        do {
            try log.begin(durable: durable)
            while position < group.endIndex {
                let job = group[position]
                do {
                    if isolating {
                        try log.isolated { try job.run(log) }
                    } else {
                        try job.run(log)
                    }
                    succeeded.append(job)
                } catch let error as BrookError {
                    // Refused before writing: only this request fails.
                    refused.append((job, error))
                } catch let error as SQLiteError where error.isConfinedToStatement {
                    guard isolating else {
                        log.rollback()
                        logger.warning("a request of a group commit failed alone; running the group again with a savepoint per request", metadata: ["error": "\(error)"])
                        return .requestFailed
                    }
                    refused.append((job, BrookError(error, while: "writing one request of a group commit")))
                }
                position += 1
            }
            let started = meters == nil ? 0 : DispatchTime.now().uptimeNanoseconds
            let changes = try log.commit()
            if let meters {
                let elapsed = Int64(DispatchTime.now().uptimeNanoseconds - started)
                (durable ? meters.durableCommitSeconds : meters.commitSeconds).recordNanoseconds(elapsed)
                meters.requestsPerCommit.record(group.count)
            }
            count(requests: group.count, durable: durable)
            if !changes.isEmpty { onCommit(changes) }
            for (job, error) in refused { job.finish(error) }
            for job in succeeded { job.finish(nil) }
            return .committed
        } catch {
            log.rollback()
            let failure = (error as? SQLiteError).map { BrookError($0, while: "committing \(group.count) requests") }
                ?? BrookError(.unknownServerError, "committing \(group.count) requests: \(error)")
            logger.error("group commit failed; its requests are refused", metadata: ["error": "\(failure)"])
            for (job, error) in refused { job.finish(error) }
            for job in succeeded { job.finish(failure) }
            for job in group[position...] { job.finish(failure) }
            return .failed
        }
    }
}

/// What the writer has committed since the broker opened.
public struct WriterStatistics: Sendable, Hashable {
    /// Group-commit transactions committed.
    public var transactions = 0
    /// Produce and offset-commit requests they held.
    public var requests = 0
    /// Transactions committed with an fsync (acks=all).
    public var durableTransactions = 0
}

/// Carries a job's result from the writer thread to its continuation; written once before
/// `finish` and read once after.
final class ResultBox<T>: @unchecked Sendable {
    var value: T?
}
