import BrookModel
import BrookStore
import Synchronization

/// A fetch over one or more partitions from its start until its one answer, with no task of its
/// own: the broker's one fetch engine, under the line server's FETCH, a group's POLL (total
/// limits, ``FetchRequest/answersOnWake``) and the embedded ``Broker/fetch(_:into:)``.
///
/// It reads what is there on a reader thread, all partitions in one job, handing each record to
/// the partition's sink while it is still in SQLite's buffers. Short of `minBytes`, it waits on
/// all its partitions at once: a commit to any of them, a retention pass, a topic's deletion, an
/// explicit wake and shutdown wake it to look again. A commit that appended the records a
/// partition waits for hands them over, and they go into the sink on the caller's executor
/// without being read back. The broker's ``BrokerClock`` ends the wait at `maxWait`; the
/// caller may end it sooner with ``answerNow()``.
///
/// Errors of one partition (unknown topic or partition, offset out of range) are answered in its
/// entry and answer the fetch at once, as Kafka's do; the other partitions answer what they have.
public final class PendingFetch<Sink: FetchSink>: @unchecked Sendable {
    // Threads: `progress` and the counters below it belong to whoever moved `state.phase` to
    // `.busy` (the starting caller, a waking thread, a reader, the executor or the deadline),
    // and to no one else until it moves on; the lock guards only `state`.

    private enum Phase {
        /// Checking, reading or registering its wait.
        case busy
        /// Registered under a wait id (for ``BrokerState/unwatch(_:)``) and its own token (to
        /// tell a stale wake from the current one).
        case waiting(id: UInt64, token: UInt64)
        case answered
    }

    private struct State {
        var phase = Phase.busy
        /// A wake came while busy: look again before waiting.
        var missedWake = false
        /// That wake was an explicit one (``BrokerState/wake(partitionIDs:)``).
        var missedExplicitWake = false
        /// The deadline passed, or the asker wants the answer, while busy.
        var due = false
        var deadline: (any ScheduledDeadline)?
    }

    /// What one partition has gathered so far.
    private struct Progress {
        let request: FetchRequest.Partition
        /// Taken out (nil) while records go into it, so that the per-record call works on a
        /// local value, not on an element of an array of a generic type.
        var sink: Sink? = Sink()
        var position: Int64
        var records = 0
        var bytes = 0
        var partitionID: Int64 = 0
        var highWatermark: Int64 = -1
        var logStartOffset: Int64 = -1
        var error: BrookError?
        /// Its limits (or the fetch's) are reached, or its next record did not fit: no more.
        var full = false

        init(_ request: FetchRequest.Partition) {
            self.request = request
            position = request.offset
        }

        var isOpen: Bool { error == nil && !full }
    }

    private let broker: Broker
    private let minBytes: Int
    private let maxBytes: Int
    private let maxRecords: Int
    private let answersOnWake: Bool
    /// When a wait must end; nil when it may not wait.
    private let deadline: ContinuousClock.Instant?
    private let executor: @Sendable (@escaping @Sendable () -> Void) -> Void
    /// Where this fetch takes its chunk from, and prepares the next one in.
    private let readAhead: FetchReadAhead<Sink>?
    private let readAheadKey: FetchReadAhead<Sink>.Key?
    private let deliver: @Sendable (Result<FetchResponse<Sink>, Error>) -> Void
    private let state = Mutex(State())

    // Owned by the busy phase.
    private var progress: [Progress]
    private var gatheredRecords = 0
    private var gatheredBytes = 0
    /// A partition has failed: answer as soon as what is readable is read.
    private var hasFailed = false
    private var nextToken: UInt64 = 0
    private var deadlineScheduled = false

    init(
        broker: Broker, request: FetchRequest, readAhead: FetchReadAhead<Sink>? = nil,
        executor: @escaping @Sendable (@escaping @Sendable () -> Void) -> Void,
        deliver: @escaping @Sendable (Result<FetchResponse<Sink>, Error>) -> Void
    ) {
        self.readAhead = readAhead
        readAheadKey = readAhead == nil ? nil : FetchReadAhead<Sink>.Key(request)
        self.broker = broker
        minBytes = request.minBytes
        maxBytes = request.maxBytes
        maxRecords = request.maxRecords
        answersOnWake = request.answersOnWake
        deadline = request.maxWait > .zero ? broker.options.clock.now.advanced(by: request.maxWait) : nil
        self.executor = executor
        self.deliver = deliver
        progress = request.partitions.map(Progress.init)
    }

    /// Whether its answer is given.
    public var isAnswered: Bool {
        state.withLock { if case .answered = $0.phase { true } else { false } }
    }

    /// Answers now with what has gathered (usually nothing): the asker gives up, or is shutting
    /// down. An answer under way (a read) is given when it is done instead. No effect once
    /// answered.
    public func answerNow() {
        let waiting = state.withLock { state -> UInt64? in
            switch state.phase {
            case .answered:
                return nil
            case .busy:
                state.due = true
                return nil
            case .waiting(let id, _):
                state.phase = .busy
                return id
            }
        }
        guard let waiting else { return }
        _ = broker.state.unwatch(waiting)
        answer()
    }

    // MARK: Moving on

    /// Starts the fetch: the caller's thread holds the busy phase. A chunk prepared for exactly
    /// this fetch is taken first (when its read is done, if it is under way).
    func start() {
        if let readAhead, let readAheadKey, readAhead.take(readAheadKey, { [self] prepared in
            if let prepared { adopt(prepared) }
            advance(nil)
        }) {
            return
        }
        advance(nil)
    }

    /// Takes a prepared chunk's records as if just read, if every partition that has records is
    /// still the one read and this fetch's offset is still at or past its log-start offset;
    /// otherwise takes nothing, and the fetch reads (and answers the errors) as usual.
    private func adopt(_ prepared: FetchResponse<Sink>) {
        guard prepared.partitions.count == progress.count else { return }
        var adopted = progress
        var records = 0
        var bytes = 0
        for index in adopted.indices {
            let entry = prepared.partitions[index]
            guard entry.error == nil, entry.recordCount > 0 else { continue }
            guard let found = try? broker.state.topic(entry.topic).partition(entry.partition), found.id == entry.partitionID,
                entry.offset == adopted[index].request.offset, entry.offset >= found.state.logStartOffset,
                entry.nextOffset <= found.state.nextOffset
            else { return }
            adopted[index].sink = entry.sink
            adopted[index].records = entry.recordCount
            adopted[index].bytes = entry.bytes
            adopted[index].position = entry.nextOffset
            adopted[index].partitionID = found.id
            adopted[index].highWatermark = found.state.nextOffset
            adopted[index].logStartOffset = found.state.logStartOffset
            // As a read leaves it: full when a limit stopped it before the high watermark it saw.
            adopted[index].full = entry.nextOffset < entry.highWatermark || entry.recordCount >= adopted[index].request.maxRecords
            records += entry.recordCount
            bytes += entry.bytes
        }
        progress = adopted
        gatheredRecords += records
        gatheredBytes += bytes
        if records > 0 { readAhead?.noteUsed() }
    }

    /// A wait registered under `token` was woken.
    private func woken(_ wake: BrokerState.Wake, token: UInt64) {
        let proceed = state.withLock { state -> Bool in
            switch state.phase {
            case .waiting(_, let current) where current == token:
                state.phase = .busy
                return true
            case .busy:
                state.missedWake = true
                if case .woken = wake { state.missedExplicitWake = true }
                return false
            case .waiting, .answered:
                return false
            }
        }
        guard proceed else { return }
        if case .woken = wake, answersOnWake { return answer() }
        advance(wake)
    }

    /// Looks at the partitions' counters and moves on: answers, hands over records a commit
    /// appended, reads on a reader thread, or waits. Runs in the busy phase.
    private func advance(_ wake: BrokerState.Wake?) {
        var wake = wake
        while true {
            let (due, explicitlyWoken) = state.withLock { state in
                defer {
                    state.missedWake = false
                    state.missedExplicitWake = false
                }
                return (state.due, state.missedExplicitWake)
            }
            if due || (explicitlyWoken && answersOnWake) { return answer() }
            var readable = false
            for index in progress.indices where progress[index].isOpen && check(index) {
                readable = readable || progress[index].position < progress[index].highWatermark
            }
            if !hasFailed, case .committed(let change) = wake, let index = handOverIndex(for: change) {
                return executor { [self] in
                    take(change, into: index)
                    gathered()
                }
            }
            wake = nil
            if readable && hasRoom {
                return read()
            }
            // An error answers at once, as Kafka's; a fetch of no partitions waits out its time.
            if hasFailed || hasGathered || (!hasRoom && gatheredRecords > 0) || deadline == nil
                || broker.closed.load(ordering: .relaxed)
            {
                return answer()
            }
            if wait() { return }
        }
    }

    /// Records gathered: answers if there are enough, else moves on.
    private func gathered() {
        if hasFailed || hasGathered || (!hasRoom && gatheredRecords > 0) || deadline == nil { return answer() }
        advance(nil)
    }

    /// Enough to answer: `minBytes`, and at least one record unless `minBytes` is 0.
    private var hasGathered: Bool {
        gatheredBytes >= minBytes || (gatheredRecords > 0 && minBytes <= 1)
    }

    /// Whether any partition may take more records.
    private var hasRoom: Bool {
        gatheredRecords < maxRecords && (gatheredRecords == 0 || gatheredBytes < maxBytes)
            && progress.contains { $0.isOpen }
    }

    /// Reads the partition's published counters; false if it failed (its error is set).
    private func check(_ index: Int) -> Bool {
        let request = progress[index].request
        let position = progress[index].position
        let found: PartitionMetadata
        do {
            found = try broker.state.topic(request.topic).partition(request.partition)
        } catch {
            fail(index, error)
            return false
        }
        progress[index].partitionID = found.id
        progress[index].highWatermark = found.state.nextOffset
        progress[index].logStartOffset = found.state.logStartOffset
        guard position >= found.state.logStartOffset, position <= found.state.nextOffset else {
            fail(index, BrookError(
                .offsetOutOfRange,
                "offset \(position) is out of range for \(request.topic)-\(request.partition): the log starts at \(found.state.logStartOffset) and the high watermark is \(found.state.nextOffset)"))
            return false
        }
        return true
    }

    private func fail(_ index: Int, _ error: Error) {
        fail(&progress[index], error)
    }

    /// Sets a partition's error; what it had gathered is dropped.
    private func fail(_ entry: inout Progress, _ error: Error) {
        hasFailed = true
        gatheredRecords -= entry.records
        gatheredBytes -= entry.bytes
        if entry.records > 0 || entry.sink == nil { entry.sink = Sink() }
        entry.records = 0
        entry.bytes = 0
        entry.position = entry.request.offset
        entry.error = (error as? BrookError) ?? BrookError(.unknownServerError, "\(error)")
    }

    /// The partition a commit's change hands records to: open, waiting at the change's first
    /// appended offset, with the change published.
    private func handOverIndex(for change: PartitionChange) -> Int? {
        guard hasRoom else { return nil }
        return progress.firstIndex { entry in
            entry.isOpen && entry.partitionID == change.partitionID && change.state.nextOffset <= entry.highWatermark
                && change.appended(contains: entry.position)
        }
    }

    /// The room left in a partition: records and bytes, and whether its first record may pass
    /// the byte limit (the fetch's first record).
    private func room(_ entry: Progress) -> (records: Int, bytes: Int, firstRecordAlways: Bool) {
        (
            min(entry.request.maxRecords - entry.records, maxRecords - gatheredRecords),
            min(entry.request.maxBytes - entry.bytes, maxBytes - gatheredBytes),
            gatheredRecords == 0
        )
    }

    /// Hands a commit's appended records to the partition's sink, within the limits a read has.
    private func take(_ change: PartitionChange, into index: Int) {
        var progress: [Progress] = []
        swap(&progress, &self.progress)
        defer { swap(&progress, &self.progress) }
        let (roomRecords, roomBytes, firstRecordAlways) = room(progress[index])
        var count = 0
        var bytes = 0
        var stopped = false
        var sink = progress[index].sink.take()!
        defer { progress[index].sink = sink }
        _ = change.visitAppended(from: progress[index].position) { record in
            let size = record.size
            guard count < roomRecords, (count == 0 && firstRecordAlways) || bytes + size <= roomBytes else {
                stopped = true
                return false
            }
            sink.append(record)
            count += 1
            bytes += size
            return true
        }
        progress[index].records += count
        progress[index].bytes += bytes
        progress[index].position += Int64(count)
        progress[index].highWatermark = max(progress[index].highWatermark, change.state.nextOffset)
        progress[index].full = stopped || progress[index].records >= progress[index].request.maxRecords
        gatheredRecords += count
        gatheredBytes += bytes
    }

    /// Reads every partition with records past its position, in request order, in one reader
    /// job; never past the high watermark the broker has published (a reader's snapshot may hold
    /// a commit whose counters are not published yet, and a fetch checked against them would
    /// call those offsets out of range).
    private func read() {
        let accepted = broker.readers.submit { [self] reader in
            var progress: [Progress] = []
            swap(&progress, &self.progress)
            for index in progress.indices where progress[index].isOpen && progress[index].position < progress[index].highWatermark {
                let (roomRecords, roomBytes, firstRecordAlways) = room(progress[index])
                guard roomRecords > 0, roomBytes > 0 || firstRecordAlways else {
                    progress[index].full = true
                    continue
                }
                var sink = progress[index].sink.take()!
                defer { progress[index].sink = sink }
                do {
                    let summary = try reader.read(
                        partitionID: progress[index].partitionID, from: progress[index].position, maxRecords: roomRecords,
                        maxBytes: max(roomBytes, 0), end: progress[index].highWatermark, firstRecordAlways: firstRecordAlways
                    ) { sink.append($0) }
                    progress[index].records += summary.recordCount
                    progress[index].bytes += summary.bytes
                    progress[index].position = summary.nextFetchOffset
                    progress[index].logStartOffset = summary.state.logStartOffset
                    progress[index].full = summary.nextFetchOffset < progress[index].highWatermark
                        || progress[index].records >= progress[index].request.maxRecords
                    gatheredRecords += summary.recordCount
                    gatheredBytes += summary.bytes
                } catch {
                    sink = Sink()
                    fail(&progress[index], error)
                }
            }
            swap(&progress, &self.progress)
            gathered()
        }
        if !accepted { finish(.failure(BrookError(.brokerNotAvailable, "the broker is closed"))) }
    }

    /// Registers a wait on every open partition (and the deadline, the first time). True if it
    /// now waits; false to look again (data came, or the deadline or a wake did meanwhile).
    private func wait() -> Bool {
        if !deadlineScheduled, let deadline {
            deadlineScheduled = true
            let scheduled = broker.options.clock.schedule(at: deadline) { [self] in answerNow() }
            state.withLock { $0.deadline = scheduled }
        }
        var watches: [BrokerState.Watch] = []
        watches.reserveCapacity(progress.count)
        for entry in progress where entry.isOpen {
            watches.append(BrokerState.Watch(
                topic: entry.request.topic, index: entry.request.partition, partitionID: entry.partitionID, offset: entry.position))
        }
        nextToken += 1
        let token = nextToken
        guard let id = broker.state.watch(watches, wake: { [self] wake in woken(wake, token: token) }) else { return false }
        let waiting = state.withLock { state -> Bool in
            guard !state.due, !state.missedWake else { return false }
            state.phase = .waiting(id: id, token: token)
            return true
        }
        // Withdrawn, or its wake is under way and will find this busy: look again either way.
        if !waiting { _ = broker.state.unwatch(id) }
        return waiting
    }

    // MARK: Answering

    /// Answers with what has gathered: the counters of a partition without records as they
    /// are now.
    private func answer() {
        var partitions: [FetchedPartition<Sink>] = []
        partitions.reserveCapacity(progress.count)
        for entry in progress {
            var highWatermark = entry.highWatermark
            var logStartOffset = entry.logStartOffset
            if entry.records == 0, entry.error == nil,
                let found = try? broker.state.topic(entry.request.topic).partition(entry.request.partition)
            {
                highWatermark = found.state.nextOffset
                logStartOffset = found.state.logStartOffset
            }
            partitions.append(FetchedPartition(
                topic: entry.request.topic, partition: entry.request.partition, offset: entry.request.offset, sink: entry.sink ?? Sink(),
                recordCount: entry.records, bytes: entry.bytes, nextOffset: entry.position, highWatermark: highWatermark,
                logStartOffset: logStartOffset, error: entry.error, partitionID: entry.partitionID))
        }
        prepareNext(progress)
        progress = []
        finish(.success(FetchResponse(partitions: partitions)))
    }

    /// Starts reading the chunk after this answer, before the answer goes out, if the answer has
    /// records, no error, at most ``FetchReadAhead/maxBytes``, and a partition has more records
    /// behind them now.
    private func prepareNext(_ answered: [Progress]) {
        guard let readAhead, !answered.isEmpty, gatheredRecords > 0, gatheredBytes <= FetchReadAhead<Sink>.maxBytes,
            answered.allSatisfy({ $0.error == nil }), answered.contains(where: { $0.position < $0.highWatermark }),
            !broker.closed.load(ordering: .relaxed)
        else { return }
        let next = FetchRequest(
            partitions: answered.map { entry in
                var partition = entry.request
                partition.offset = entry.position
                return partition
            },
            minBytes: 0, maxBytes: maxBytes, maxRecords: maxRecords)
        let token = readAhead.begin(FetchReadAhead<Sink>.Key(next))
        let fetch = PendingFetch(broker: broker, request: next, executor: { $0() }) { result in
            readAhead.finish(token, try? result.get())
        }
        fetch.start()
    }

    private func finish(_ result: Result<FetchResponse<Sink>, Error>) {
        let deadline = state.withLock { state -> (any ScheduledDeadline)? in
            state.phase = .answered
            defer { state.deadline = nil }
            return state.deadline
        }
        deadline?.cancel()
        deliver(result)
    }
}
