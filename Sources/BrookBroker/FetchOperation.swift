import BrookModel
import BrookStore
import Synchronization

/// One fetch, answered exactly once through a callback and with no task of its own, for
/// front-ends that run on event loops (and under ``Broker/fetch(topic:partition:offset:maxRecords:maxBytes:maxWait:into:)``).
///
/// Records at `offset` are read on a reader thread. At the high watermark a long poll registers
/// a wait on the partition: the writer's commit wakes it, and the read follows from there. The
/// broker keeps no timer for it: the asker calls ``expire()`` at its deadline (or when it gives up),
/// which answers with no records unless a read has begun.
public final class FetchOperation<Sink: FetchSink>: Sendable {
    public typealias Fetched = (sink: Sink, highWatermark: Int64, logStartOffset: Int64)

    private struct State {
        /// The registered wait, while there is one.
        var waiter: UInt64?
        /// The answer is given or a read is under way: nothing else may answer.
        var answered = false
    }

    private let broker: Broker
    private let topic: String
    private let partition: Int
    private let offset: Int64
    private let maxRecords: Int
    private let maxBytes: Int
    private let waits: Bool
    /// Where to build an answer from records a commit hands over (the asker's thread), instead
    /// of on the writer's.
    private let executor: @Sendable (@escaping @Sendable () -> Void) -> Void
    private let deliver: @Sendable (Result<Fetched, Error>) -> Void
    private let state = Mutex(State())

    init(
        broker: Broker, topic: String, partition: Int, offset: Int64, maxRecords: Int, maxBytes: Int, waits: Bool,
        executor: @escaping @Sendable (@escaping @Sendable () -> Void) -> Void,
        deliver: @escaping @Sendable (Result<Fetched, Error>) -> Void
    ) {
        self.executor = executor
        self.broker = broker
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.maxRecords = maxRecords
        self.maxBytes = maxBytes
        self.waits = waits
        self.deliver = deliver
    }

    /// Whether its answer is given or a read for it is under way.
    public var isAnswered: Bool { state.withLock { $0.answered } }

    /// Reads if there are records at the offset, else waits (or answers empty if it may not).
    /// Runs at the start and again each time the wait is woken, on the waking thread; a commit
    /// that woke it hands over the records it appended, which answer a fetch at the old end
    /// without reading them back.
    func attempt(_ woken: PartitionChange? = nil) {
        guard state.withLock({ state -> Bool in
            state.waiter = nil
            return !state.answered
        }) else { return }
        while true {
            let partitionID: Int64
            let counters: PartitionState
            do {
                let found = try broker.state.topic(topic).partition(partition)
                partitionID = found.id
                counters = found.state
            } catch {
                return answer(.failure(error))
            }
            guard offset >= counters.logStartOffset, offset <= counters.nextOffset else {
                return answer(.failure(BrookError(
                    .offsetOutOfRange,
                    "offset \(offset) is out of range for \(topic)-\(partition): the log starts at \(counters.logStartOffset) and the high watermark is \(counters.nextOffset)")))
            }
            if offset == counters.nextOffset {
                guard waits, !broker.closed.load(ordering: .relaxed) else {
                    return answer(.success((Sink(), counters.nextOffset, counters.logStartOffset)))
                }
                let watch = BrokerState.Watch(topic: topic, index: partition, partitionID: partitionID, offset: offset)
                // Data that arrived since the check: look again.
                guard let id = broker.state.watch(watch, wake: { [self] change in self.attempt(change) }) else { continue }
                let kept = state.withLock { state -> Bool in
                    guard !state.answered else { return false }
                    state.waiter = id
                    return true
                }
                // Expired meanwhile: it has answered; withdraw the wait.
                if !kept { _ = broker.state.unwatch(id) }
                return
            }
            if let woken, woken.partitionID == partitionID, woken.state.nextOffset <= counters.nextOffset,
                woken.appended(contains: offset)
            {
                return answer(from: woken, logStartOffset: counters.logStartOffset)
            }
            return read(partitionID: partitionID, highWatermark: counters.nextOffset)
        }
    }

    /// Answers from the records a commit appended, with a read's limits: up to `maxRecords`, and
    /// within `maxBytes` except that the first record always comes.
    private func answer(from change: PartitionChange, logStartOffset: Int64) {
        guard claim() else { return }
        let (offset, maxRecords, maxBytes, deliver) = (offset, maxRecords, maxBytes, deliver)
        executor {
            var sink = Sink()
            var count = 0
            var bytes = 0
            _ = change.visitAppended(from: offset) { record in
                let size = record.size
                guard count < maxRecords, count == 0 || bytes + size <= maxBytes else { return false }
                sink.append(record)
                count += 1
                bytes += size
                return true
            }
            deliver(.success((sink, change.state.nextOffset, logStartOffset)))
        }
    }

    /// Ends a wait with no records: its deadline passed, or the asker gave up (cancelled, gone,
    /// shutting down). No effect once a read has begun or the answer is given.
    public func expire() {
        let claimed = state.withLock { state -> (Bool, UInt64?) in
            guard !state.answered else { return (false, nil) }
            state.answered = true
            defer { state.waiter = nil }
            return (true, state.waiter)
        }
        guard claimed.0 else { return }
        if let id = claimed.1 { _ = broker.state.unwatch(id) }
        deliver(Result {
            let counters = try broker.state.topic(topic).partition(partition).state
            return (Sink(), counters.nextOffset, counters.logStartOffset)
        })
    }

    /// Takes the right to answer; false if something else already has.
    private func claim() -> Bool {
        state.withLock { state -> Bool in
            defer { state.answered = true }
            return !state.answered
        }
    }

    private func answer(_ result: Result<Fetched, Error>) {
        guard claim() else { return }
        deliver(result)
    }

    /// Reads on a reader thread, never past the high watermark the broker has published: a
    /// reader's snapshot may already hold a commit whose counters are not published yet, and
    /// the next fetch (checked against them) would call those offsets out of range.
    private func read(partitionID: Int64, highWatermark: Int64) {
        guard claim() else { return }
        let (offset, maxRecords, maxBytes, deliver) = (offset, maxRecords, maxBytes, deliver)
        let accepted = broker.readers.submit { reader in
            deliver(Result {
                var sink = Sink()
                let summary = try reader.read(partitionID: partitionID, from: offset, maxRecords: maxRecords, maxBytes: maxBytes, end: highWatermark) {
                    sink.append($0)
                }
                return (sink, highWatermark, summary.state.logStartOffset)
            })
        }
        if !accepted { deliver(.failure(BrookError(.brokerNotAvailable, "the broker is closed"))) }
    }
}
