import BrookModel
import BrookStore
import CoreMetrics
import Foundation
import Logging
import Synchronization

/// One offset a consumer group commits.
public struct OffsetCommit: Sendable, Hashable {
    public var topic: String
    public var partition: Int
    /// The next offset the group will read.
    public var offset: Int64
    public var metadata: String

    public init(topic: String, partition: Int, offset: Int64, metadata: String = "") {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.metadata = metadata
    }
}

/// What a retention pass removed.
public struct RetentionReport: Sendable, Hashable {
    public var deletedRecords = 0
    public var deletedBytes: Int64 = 0
    public var partitionsPruned = 0
    public var chunks = 0
}

/// Settings of an embedded broker.
public struct BrokerOptions: Sendable {
    /// Read-only connections serving fetches, each on its own thread.
    public var readerCount = 4
    /// How often retention runs (`retention.check.interval.ms`); 0 turns the scheduler off.
    public var retentionCheckIntervalMs: Int64 = 300_000
    /// Records deleted per retention transaction, so writers never wait long.
    public var retentionChunkRecords = 5_000
    /// The most records one produce request may carry.
    public var maxBatchRecords = 10_000
    /// The most bytes (sum of record sizes) one produce request may carry.
    public var maxBatchBytes = 16 * 1_048_576
    /// The most records one fetch may ask for.
    public var maxFetchRecords = FetchDefaults.maxRecordsLimit
    /// The longest a fetch may wait for data.
    public var maxFetchWaitMs = FetchDefaults.maxWaitLimitMs
    /// The time limit of a read-only SQL query.
    public var sqlTimeoutMs: Int64 = 5_000
    /// The most rows a SQL query returns.
    public var sqlMaxRows = 10_000
    /// The longest SQL statement, the most bytes of one result, and how many queries may wait
    /// or run at once (they run one at a time).
    public var sqlLimits = SQLLimits()
    /// The largest the database file may grow, in bytes; writes beyond it fail with
    /// `STORAGE_ERROR` (disk full). `nil`: only the disk limits it.
    public var maxDatabaseBytes: Int64?
    /// WAL pages after which the checkpointer copies the WAL into the database file (4096: 16 MiB
    /// with 4 KiB pages); at four times this, the writer truncates the WAL between transactions.
    public var checkpointWALPages = 4_096
    /// How long a partition's counters' row in `__brook_partitions` may trail its log while the
    /// broker runs (its exact counters are in memory; opening the file recovers the row).
    public var counterSaveInterval: Duration = .seconds(1)
    /// The broker's time: long-poll deadlines, the group coordinator's timers, auto-commit
    /// intervals. Tests pass one they advance by hand.
    public var clock: any BrokerClock = SystemClock.shared
    public var logger = Logger(label: "brook.broker")
    /// The group coordinator's settings (`group.initial.rebalance.delay.ms`, session limits).
    public var groups = GroupCoordinator.Options()
    /// Whether the front-ends enforce ACLs: set when connections have identities (`--auth` or
    /// client certificates).
    public var enforceACLs = false
    /// Users who pass every ACL check besides those the file marks super (`--super-user`).
    public var superUsers: Set<String> = []
    /// Where the broker's counters and timers go (records and bytes per topic, commit and
    /// checkpoint durations); nil records none, at no cost on the produce path.
    public var metrics: (any MetricsFactory)?

    public init() {}
}

/// The embedded Brook broker: Kafka's semantics over one SQLite file, in-process, with no
/// server. A Swift program can open a file and produce and fetch directly; the line server (and a
/// later Kafka front-end) call the same API.
///
/// Threads: one writer owns the write connection and group-commits all pending requests; a pool
/// of read-only connections serves fetches; a checkpointer copies the WAL back beside the writer.
/// Every method may be called from any task.
public final class Broker: Sendable {
    public let path: String
    public let options: BrokerOptions
    /// What opening the file found and did (schema migrations, WAL recovery, recovered counters).
    public let openReport: OpenReport

    let state: BrokerState
    private let writer: Writer
    let readers: ThreadPool<LogReader>
    private let sql: ThreadPool<ReadOnlySQL>
    /// SQL queries waiting for or running on `sql`.
    private let sqlQueued = Atomic<Int>(0)
    private let checkpointer: ThreadPool<WALCheckpointer>
    private let checkpointPending = Flag()
    let closed = Atomic<Bool>(false)
    private let retentionTask = Mutex<Task<Void, Never>?>(nil)
    private let offsetStore: StoredOffsets
    let meters: BrokerMeters?

    /// The consumer-group coordinator of this broker.
    public let groups: GroupCoordinator
    private var logger: Logger { options.logger }
    /// Who may authenticate, as the file said when the broker opened.
    public let users: UserDirectory
    /// The ACL rules and super users in force.
    public let access: AccessControl

    /// Opens (or creates) the database at `path` and starts the broker's threads.
    /// - Throws: ``BrookError`` when the file is not Brook's, is newer than this build, is damaged
    ///   or cannot be opened.
    public init(path: String, options: BrokerOptions = BrokerOptions()) throws {
        self.path = path
        self.options = options
        let log = try LogWriter(path: path)
        log.counterSaveInterval = options.counterSaveInterval
        if let limit = options.maxDatabaseBytes { try log.limitSize(toBytes: limit) }
        openReport = log.openReport
        users = UserDirectory(try log.users())
        access = AccessControl(isEnforced: options.enforceACLs, superUsers: options.superUsers, users: users, rules: try log.acls())
        // This process holds the file's lock now, so no other server is writing one of these.
        Self.removeTemporaryBackups(of: path, logger: options.logger)
        let state = BrokerState(topics: log.topics, unavailable: log.openReport.unavailableTopics)
        self.state = state
        let meters = options.metrics.map { BrokerMeters(factory: $0) }
        self.meters = meters
        readers = try ThreadPool(name: "brook-reader", count: options.readerCount) { try LogReader(path: path) }
        sql = try ThreadPool(name: "brook-sql", count: 1) { try ReadOnlySQL(path: path) }
        checkpointer = try ThreadPool(name: "brook-checkpointer", count: 1) { try WALCheckpointer(path: path) }
        let checkpointPending = self.checkpointPending
        let checkpointCaughtUp = Flag()
        let checkpointer = self.checkpointer
        let threshold = options.checkpointWALPages
        let logger = options.logger
        let checkpointFailures = RepeatedFailureLog("WAL checkpoint failed", logger: logger)
        writer = Writer(
            log: log, logger: logger, meters: meters, walTruncatePages: 4 * threshold,
            onCommit: { changes in state.publish(changes) },
            finishCheckpoint: { checkpointCaughtUp.take() },
            onWALGrowth: { pages in
                guard pages >= threshold, checkpointPending.raise() else { return }
                let accepted = checkpointer.submit { connection in
                    do {
                        // Starting the WAL over costs the writer a pause (it copies what was
                        // committed meanwhile and syncs: 0.2–1.5 ms), so it does so only once the
                        // WAL is three thresholds long, not after every background checkpoint.
                        let started = DispatchTime.now().uptimeNanoseconds
                        let (frames, _) = try connection.checkpoint()
                        meters?.checkpointSeconds.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - started))
                        checkpointFailures.succeeded()
                        if frames >= 3 * threshold { _ = checkpointCaughtUp.raise() }
                    } catch {
                        // Once per commit while the disk is full: logged once a minute.
                        checkpointFailures.failed(error)
                    }
                    checkpointPending.lower()
                }
                if !accepted { checkpointPending.lower() }
            })
        offsetStore = StoredOffsets(state: state, writer: writer, readers: readers)
        groups = GroupCoordinator(
            offsets: offsetStore, topics: BrokerTopicCatalog(state: state, readers: readers), options: options.groups, clock: options.clock,
            logger: logger)
        logOpen()
        startRetention()
    }

    private func logOpen() {
        let report = openReport
        var metadata: Logger.Metadata = [
            "path": "\(path)", "schema": "\(Schema.currentVersion)", "topics": "\(state.topics.count)",
        ]
        if !report.appliedMigrations.isEmpty {
            metadata["migrations"] = "\(report.appliedMigrations.joined(separator: ","))"
        }
        if report.walFramesAtOpen > 0 {
            metadata["recovered_wal_frames"] = "\(report.walFramesAtOpen)"
        }
        if !report.recoveredCounters.isEmpty {
            metadata["recovered_counters"] = "\(report.recoveredCounters.count) partitions"
        }
        logger.info("opened Brook database", metadata: metadata)
        for repair in report.repairs {
            logger.notice("repaired the schema after a change outside Brook", metadata: ["repair": "\(repair)"])
        }
        for (topic, error) in report.unavailableTopics.sorted(by: { $0.key < $1.key }) {
            logger.error("left a topic out: it cannot be served", metadata: ["topic": "\(topic)", "error": "\(error)"])
        }
        for recovered in report.recoveredCounters {
            logger.debug("recovered partition counters from the log", metadata: ["partition": "\(recovered)"])
        }
    }

    private func checkOpen() throws(BrookError) {
        if closed.load(ordering: .acquiring) {
            throw BrookError(.brokerNotAvailable, "the broker is closed")
        }
    }

    /// Stops the retention scheduler, completes queued writes, wakes waiting fetches,
    /// checkpoints the WAL into the file and closes every connection. Idempotent.
    public func close() async {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let task = retentionTask.withLock { task in
            defer { task = nil }
            return task
        }
        task?.cancel()
        await task?.value
        await groups.shutdown()
        await Self.offThread { [writer] in writer.shutdown() }
        state.wakeAll()
        await Self.offThread { [readers, sql, checkpointer] in
            readers.shutdown()
            sql.shutdown()
            checkpointer.shutdown()
        }
        // Last: closing the lock's descriptor drops this process's POSIX locks on the file.
        await Self.offThread { [writer] in writer.closeFile() }
        logger.info("closed Brook database", metadata: ["path": "\(path)"])
    }

    /// Runs blocking work on a thread of its own, keeping the cooperative pool free.
    private static func offThread(_ body: @escaping @Sendable () -> Void) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            Thread {
                body()
                continuation.resume()
            }.start()
        }
    }

    /// Whether the broker takes writes; see ``BrokerHealth``.
    public var health: BrokerHealth {
        if closed.load(ordering: .acquiring) { return BrokerHealth(notReady: "the broker is closed") }
        if let fault = writer.checkFile() { return BrokerHealth(notReady: fault.message) }
        return BrokerHealth()
    }

    /// What the writer has committed: transactions, the requests they grouped, fsyncs.
    public var writerStatistics: WriterStatistics { writer.statistics }

    /// SQL queries now waiting or running (at most `sqlLimits.maxQueued`).
    public var sqlQueriesQueued: Int { sqlQueued.load(ordering: .relaxed) }

    /// Fetches now waiting for data (long-poll).
    public var waitingFetches: Int { state.waiterCount }

    // MARK: Topics

    /// Runs an admin change (users, ACLs) on the writer, in a transaction of its own.
    func performAdmin<T: Sendable>(_ body: @escaping @Sendable (LogWriter) throws -> T) async throws -> T {
        try checkOpen()
        return try await writer.perform(.exclusive, body)
    }

    /// Creates a topic; its SQL view, named after it, appears at once.
    @discardableResult
    public func createTopic(_ name: String, partitions: Int = 1, config: TopicConfig = TopicConfig()) async throws -> TopicMetadata {
        try checkOpen()
        try TopicName.validate(name)
        try TopicName.validatePartitionCount(partitions)
        try config.validate()
        return try await writer.perform(.exclusive) { [state] log in
            let topic = try log.createTopic(name, partitions: partitions, config: config)
            state.publish(topic: name, topic)
            return topic
        }
    }

    /// All topics, by name.
    public func listTopics() throws -> [TopicMetadata] {
        try checkOpen()
        return state.topics.values.sorted { $0.name < $1.name }
    }

    /// A topic's config and, per partition, its log-start offset, next offset, record count and
    /// bytes.
    public func describeTopic(_ name: String) throws -> TopicMetadata {
        try checkOpen()
        return try state.topic(name)
    }

    /// Grows a topic to `count` partitions; never fewer.
    @discardableResult
    public func addPartitions(_ name: String, count: Int) async throws -> TopicMetadata {
        try checkOpen()
        let topic = try await writer.perform(.exclusive) { [state] log in
            let topic = try log.addPartitions(name, count: count)
            state.publish(topic: name, topic)
            return topic
        }
        await groups.topicChanged(name)
        return topic
    }

    /// Changes a topic's retention and record-size settings.
    @discardableResult
    public func alterTopic(_ name: String, config: TopicConfig) async throws -> TopicMetadata {
        try checkOpen()
        return try await writer.perform(.exclusive) { [state] log in
            let topic = try log.alterConfig(name, config: config)
            state.publish(topic: name, topic)
            return topic
        }
    }

    /// Deletes a topic, its records, its view and the committed offsets on it.
    public func deleteTopic(_ name: String) async throws {
        try checkOpen()
        try await writer.perform(.exclusive) { [state] log in
            try log.deleteTopic(name)
            state.publish(topic: name, nil)
            state.forgetUnavailable(name)
        }
        meters?.forget(topic: name)
        await groups.topicChanged(name)
    }

    // MARK: Produce

    /// Appends records to a topic. Each goes to its explicit partition if it has one, else a keyed
    /// record to Kafka's murmur2 partition of its key, else all unkeyed records of this request to
    /// one partition, the next one per request (sticky per batch, round robin across batches).
    ///
    /// Requests from many producers are committed together in one transaction.
    /// - Returns: each record's partition and offset, in request order (offsets -1 for
    ///   ``Acks/noAck``).
    @discardableResult
    public func produce(topic name: String, records: [ProducerRecord], acks: Acks = .leader, producer: ProducerIdentity? = nil) async throws -> [RecordPosition] {
        try await submitProduce(topic: name, records: records, acks: acks, producer: producer).positions()
    }

    /// Issues an idempotent producer's id and epoch. With a `clientKey` already known, the same
    /// id comes back with the next epoch, fencing older instances (`PRODUCER_FENCED`).
    public func initProducer(clientKey: String? = nil) async throws -> ProducerIdentity {
        try checkOpen()
        if let clientKey, clientKey.isEmpty || clientKey.utf8.count > 255 {
            throw BrookError(.invalidRequest, "producer key of \(clientKey.utf8.count) bytes is invalid: use 1 to 255 bytes")
        }
        return try await writer.perform(.exclusive) { log in try log.initProducer(clientKey: clientKey) }
    }

    /// Validates a produce request and queues it for the writer before returning, so requests
    /// submitted one after another are committed in that order (a connection's pipelined
    /// produces keep their order). Await the ticket for the offsets.
    ///
    /// With a `producer` (an idempotent producer), every record carries its sequence number in its
    /// partition: a retried batch returns its original offsets without being written again, a gap
    /// is `OUT_OF_ORDER_SEQUENCE_NUMBER`, and an older epoch is `PRODUCER_FENCED`.
    public func submitProduce(topic name: String, records: [ProducerRecord], acks: Acks = .leader, producer: ProducerIdentity? = nil) throws -> ProduceTicket {
        try checkOpen()
        let plan = try planProduce(topic: name, records: records)
        let topicMeters = meters?.topic(name)
        let recordCount = Int64(records.count)
        let promise = Promise<[RecordPosition]>()
        let logger = self.logger
        // Per batch, its base offset and, under LogAppendTime, the time it was stamped with
        // (empty otherwise). One box for both: two allocations fewer per request.
        let appended = ResultBox<(bases: [Int64], appendTimes: [Int64?])>()
        try writer.submit(Writer.Job(
            kind: .grouped, durable: acks == .all, bytes: plan.bytes,
            run: { log in
                let now = WallClock.nowMillis()
                // Refuse before writing anything, so a group's other requests are unaffected.
                var verdicts: [SequenceVerdict] = []
                for batch in plan.batches {
                    try log.validateAppend(topic: name, topicID: plan.topicID, partition: batch.partition, records: batch.records)
                    if let producer {
                        verdicts.append(try log.checkSequence(producer, topic: name, partition: batch.partition, records: batch.records))
                    }
                }
                let stamped = log.topics[name]?.config.messageTimestampType == .logAppendTime
                // A retry answers its first append's time, as Kafka's does.
                let appendTimes: [Int64?] = !stamped ? [] : plan.batches.indices.map { index in
                    if !verdicts.isEmpty, case .duplicate(_, let appendTime) = verdicts[index] { return appendTime }
                    return now
                }
                let bases = try plan.batches.enumerated().map { index, batch in
                    if let producer {
                        if case .duplicate(let base, _) = verdicts[index] { return base }
                        let base = try log.append(topic: name, partition: batch.partition, records: batch.records, now: now)
                        try log.recordSequence(
                            producer, topic: name, partition: batch.partition, records: batch.records, baseOffset: base, appendTime: stamped ? now : nil)
                        return base
                    }
                    return try log.append(topic: name, partition: batch.partition, records: batch.records, now: now)
                }
                appended.value = (bases, appendTimes)
            },
            finish: { error in
                if error == nil, let topicMeters {
                    topicMeters.producedRecords.increment(by: recordCount)
                    topicMeters.producedBytes.increment(by: Int64(plan.bytes))
                }
                if let error {
                    if acks == .noAck { logger.debug("acks=0 produce failed", metadata: ["error": "\(error)"]) }
                    promise.complete(.failure(error))
                } else if acks != .noAck, let (bases, appendTimes) = appended.value {
                    promise.complete(.success(plan.slots.map { slot in
                        RecordPosition(
                            partition: plan.batches[slot.batch].partition, offset: bases[slot.batch] + Int64(slot.index),
                            logAppendTime: appendTimes.isEmpty ? nil : appendTimes[slot.batch])
                    }))
                }
            }))
        if acks == .noAck {
            promise.complete(.success(plan.slots.map { RecordPosition(partition: plan.batches[$0.batch].partition, offset: -1) }))
        }
        return ProduceTicket(promise: promise)
    }

    /// Records grouped by partition, and where each request record went.
    struct ProducePlan: Sendable {
        struct Batch: Sendable {
            var partition: Int
            var records: [ProducerRecord]
        }

        var topicID: Int64
        var batches: [Batch] = []
        /// Per request record: its batch and its index inside that batch.
        var slots: [(batch: Int, index: Int)] = []
        var bytes = 0
    }

    private func planProduce(topic name: String, records: [ProducerRecord]) throws(BrookError) -> ProducePlan {
        guard !records.isEmpty else {
            throw BrookError(.invalidRequest, "a produce request to '\(name)' must hold at least one record")
        }
        if records.count > options.maxBatchRecords {
            throw BrookError(.recordListTooLarge, "batch of \(records.count) records exceeds the maximum batch of \(options.maxBatchRecords) records")
        }
        let topic = try state.topic(name)
        let partitionCount = topic.partitions.count
        var plan = ProducePlan(topicID: topic.id)
        plan.slots.reserveCapacity(records.count)
        // Most requests go to one partition or a few: their batches are found by a scan, and a
        // dictionary is built only past `scannedBatches` (a produce per request is hot).
        let scannedBatches = 8
        var batchOfPartition: [Int: Int] = [:]
        var sticky: Int?
        for record in records {
            let size = record.size
            if size > topic.config.maxMessageBytes {
                throw BrookError(.messageTooLarge, "record of \(size) bytes exceeds max.message.bytes \(topic.config.maxMessageBytes) of topic '\(name)'")
            }
            plan.bytes += size
            let partition: Int
            if let explicit = record.partition {
                guard explicit >= 0, explicit < partitionCount else {
                    throw BrookError(.unknownPartition, "partition \(explicit) of topic '\(name)' does not exist: it has partitions 0 to \(partitionCount - 1)")
                }
                partition = explicit
            } else if let key = record.key {
                partition = Partitioner.partition(forKey: key, partitionCount: partitionCount)
            } else {
                if sticky == nil { sticky = state.nextStickyPartition(count: partitionCount) }
                partition = sticky!
            }
            let batch: Int
            if let existing = plan.batches.count <= scannedBatches
                ? plan.batches.firstIndex(where: { $0.partition == partition }) : batchOfPartition[partition]
            {
                batch = existing
            } else {
                batch = plan.batches.count
                plan.batches.append(ProducePlan.Batch(partition: partition, records: []))
                if plan.batches.count == scannedBatches + 1 {
                    for (index, known) in plan.batches.enumerated() { batchOfPartition[known.partition] = index }
                } else if plan.batches.count > scannedBatches {
                    batchOfPartition[partition] = batch
                }
            }
            plan.slots.append((batch, plan.batches[batch].records.count))
            // A request whose records all go to one partition hands its own array on below.
            if records.count > 1 { plan.batches[batch].records.append(record) }
        }
        if records.count == 1 { plan.batches[0].records = records }
        if plan.bytes > options.maxBatchBytes {
            throw BrookError(.recordListTooLarge, "batch of \(plan.bytes) bytes exceeds the maximum batch of \(options.maxBatchBytes) bytes")
        }
        return plan
    }

    // MARK: Fetch

    /// Reads records of one partition from `offset`: at most `maxRecords` and `maxBytes`, but at
    /// least one record when any is there. When none is (the offset is the high watermark), waits
    /// up to `maxWait` for a producer, returning as soon as one commits.
    ///
    /// - Throws: `OFFSET_OUT_OF_RANGE` below the log-start offset or above the high watermark.
    public func fetch(
        topic name: String, partition index: Int, offset: Int64,
        maxRecords: Int = FetchDefaults.maxRecords, maxBytes: Int = FetchDefaults.maxBytes, maxWait: Duration = .zero
    ) async throws -> FetchResult {
        let fetched = try await fetch(
            topic: name, partition: index, offset: offset, maxRecords: maxRecords, maxBytes: maxBytes, maxWait: maxWait,
            into: RecordArraySink.self)
        return FetchResult(records: fetched.sink.records, highWatermark: fetched.highWatermark, logStartOffset: fetched.logStartOffset)
    }

    /// The same fetch, handing each record to a `Sink` on the reader thread while it is still in
    /// SQLite's buffers, so a front-end can encode its reply in one pass with no per-record
    /// allocation.
    public func fetch<Sink: FetchSink>(
        topic name: String, partition index: Int, offset: Int64,
        maxRecords: Int = FetchDefaults.maxRecords, maxBytes: Int = FetchDefaults.maxBytes, maxWait: Duration = .zero,
        into sinkType: Sink.Type
    ) async throws -> (sink: Sink, highWatermark: Int64, logStartOffset: Int64) {
        let response = try await fetch(
            .single(topic: name, partition: index, offset: offset, maxRecords: maxRecords, maxBytes: maxBytes, maxWait: maxWait),
            into: sinkType)
        let fetched = response.partitions[0]
        if let error = fetched.error { throw error }
        return (fetched.sink, fetched.highWatermark, fetched.logStartOffset)
    }

    /// Fetches from many partitions at once (see ``FetchRequest``), copying records into
    /// ``Record`` values. Each partition answers its own error.
    /// - Throws: `INVALID_REQUEST` for limits out of range, `BROKER_NOT_AVAILABLE` once closed.
    public func fetch(_ request: FetchRequest) async throws -> FetchResponse<RecordArraySink> {
        try await fetch(request, into: RecordArraySink.self)
    }

    /// Fetches from many partitions at once, each into a `Sink` of its own. A cancelled task
    /// answers at once with what has gathered.
    public func fetch<Sink: FetchSink>(_ request: FetchRequest, into sinkType: Sink.Type) async throws -> FetchResponse<Sink> {
        let holder = Mutex<PendingFetch<Sink>?>(nil)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let fetch: PendingFetch<Sink>
                do {
                    fetch = try startFetch(request, into: sinkType, executor: { work in Task { work() } }) { result in
                        continuation.resume(with: result)
                    }
                } catch {
                    return continuation.resume(throwing: error)
                }
                holder.withLock { $0 = fetch }
                if Task.isCancelled { fetch.answerNow() }
            }
        } onCancel: {
            holder.withLock { $0 }?.answerNow()
        }
    }

    /// Starts a fetch that answers through `deliver`, exactly once, on a broker thread (or at
    /// once, on the caller's) — for front-ends that answer from an event loop with no task per
    /// request. The broker ends a long poll at its `maxWait`; the caller may end it sooner with
    /// ``PendingFetch/answerNow()``. When the commit that wakes a long poll appended the records
    /// it waits for, they are handed to the sink by `executor` (say, the asker's event loop)
    /// rather than read back on a reader thread. With a `readAhead`, the fetch takes the chunk
    /// prepared for it there and prepares the next (see ``FetchReadAhead``).
    /// - Throws: `INVALID_REQUEST` for limits out of range and `BROKER_NOT_AVAILABLE` once closed;
    ///   a partition's own errors (unknown topic, offset out of range) are in its entry.
    public func startFetch<Sink: FetchSink>(
        _ request: FetchRequest, into sinkType: Sink.Type, readAhead: FetchReadAhead<Sink>? = nil,
        executor: @escaping @Sendable (@escaping @Sendable () -> Void) -> Void,
        deliver: @escaping @Sendable (Result<FetchResponse<Sink>, Error>) -> Void
    ) throws(BrookError) -> PendingFetch<Sink> {
        try checkOpen()
        for partition in request.partitions {
            if partition.maxRecords < 1 || partition.maxRecords > options.maxFetchRecords {
                throw BrookError(.invalidRequest, "max records \(partition.maxRecords) is invalid: use 1 to \(options.maxFetchRecords)")
            }
            if partition.maxBytes < 1 {
                throw BrookError(.invalidRequest, "max bytes \(partition.maxBytes) is invalid: use at least 1")
            }
        }
        if request.maxWait < .zero || request.maxWait > .milliseconds(options.maxFetchWaitMs) {
            throw BrookError(.invalidRequest, "max wait \(request.maxWait) is invalid: use 0 to \(options.maxFetchWaitMs) ms")
        }
        if request.minBytes < 0 {
            throw BrookError(.invalidRequest, "min bytes \(request.minBytes) is invalid: use 0 or more")
        }
        if request.maxBytes < 1 {
            throw BrookError(.invalidRequest, "fetch max bytes \(request.maxBytes) is invalid: use at least 1")
        }
        if request.maxRecords < 1 {
            throw BrookError(.invalidRequest, "fetch max records \(request.maxRecords) is invalid: use at least 1")
        }
        var deliver = deliver
        if let meters {
            deliver = { [deliver] result in
                if case .success(let response) = result {
                    for partition in response.partitions where partition.recordCount > 0 {
                        let topic = meters.topic(partition.topic)
                        topic.fetchedRecords.increment(by: Int64(partition.recordCount))
                        topic.fetchedBytes.increment(by: Int64(partition.bytes))
                    }
                }
                deliver(result)
            }
        }
        let fetch = PendingFetch<Sink>(broker: self, request: request, readAhead: readAhead, executor: executor, deliver: deliver)
        fetch.start()
        return fetch
    }

    /// Kafka's ListOffsets: the earliest, the latest, or the first offset at or after a time.
    /// - Returns: `nil` for a timestamp after every record's.
    public func listOffset(topic name: String, partition index: Int, _ spec: OffsetSpec) async throws -> ListedOffset? {
        try checkOpen()
        let partition = try state.topic(name).partition(index)
        switch spec {
        case .earliest:
            return ListedOffset(offset: partition.state.logStartOffset, timestamp: nil)
        case .latest:
            return ListedOffset(offset: partition.state.nextOffset, timestamp: nil)
        case .timestamp(let time):
            let partitionID = partition.id
            return try await readers.run { reader in
                try reader.offset(forTimestamp: time, partitionID: partitionID).map {
                    ListedOffset(offset: $0.offset, timestamp: $0.timestamp)
                }
            }
        }
    }

    // MARK: Committed offsets

    /// Stores a group's next offsets to read, all in one transaction.
    public func commitOffsets(group: String, _ offsets: [OffsetCommit], durable: Bool = false) async throws {
        try checkOpen()
        try await offsetStore.commitOffsets(group: group, offsets, durable: durable)
    }

    /// Deletes every committed offset of a group.
    public func deleteCommittedOffsets(group: String) async throws {
        try checkOpen()
        try await offsetStore.deleteCommittedOffsets(group: group)
    }

    /// Groups that have committed offsets.
    public func groupsWithCommittedOffsets() async throws -> [String] {
        try checkOpen()
        return try await offsetStore.groupsWithCommittedOffsets()
    }

    /// A group's committed offsets, optionally for one topic.
    public func committedOffsets(group: String, topic: String? = nil) async throws -> [CommittedOffset] {
        try checkOpen()
        return try await offsetStore.committedOffsets(group: group, topic: topic)
    }

    static func validateGroupName(_ group: String) throws(BrookError) {
        if group.isEmpty || group.utf8.count > 255 {
            throw BrookError(.invalidRequest, "group id of \(group.utf8.count) bytes is invalid: use 1 to 255 bytes")
        }
    }

    // MARK: Retention

    /// Kafka's DeleteRecords: deletes a partition's records below `offset` (the high watermark
    /// when nil) and advances its log-start offset, in chunks as retention does, so writers never
    /// stall. Fetches below the new start then get `OFFSET_OUT_OF_RANGE`.
    /// - Returns: the partition's log-start offset afterwards.
    /// - Throws: `UNKNOWN_TOPIC`, `UNKNOWN_PARTITION`, or `OFFSET_OUT_OF_RANGE` above the high watermark.
    @discardableResult
    public func deleteRecords(topic name: String, partition index: Int, before offset: Int64?) async throws -> Int64 {
        try checkOpen()
        let partition = try state.topic(name).partition(index)
        let target = offset ?? partition.state.nextOffset
        var start = partition.state.logStartOffset
        while true {
            let result = try await writer.perform(.exclusive) { [state, chunk = options.retentionChunkRecords] log -> LogWriter.PruneResult in
                // The topic may have been deleted, or deleted and created again, between chunks.
                guard log.topics[name]?.partitions[safe: index]?.id == partition.id else { throw BrookError.unknownTopic(name) }
                let result = try log.deleteRecords(topic: name, partition: index, before: target, maxRecords: chunk)
                if let change = result.change { state.publish([change]) }
                return result
            }
            if let change = result.change { start = change.state.logStartOffset }
            if !result.mayHaveMore { break }
        }
        return max(start, try state.topic(name).partition(index).state.logStartOffset)
    }

    /// Runs one retention pass now over every topic: deletes records older than `retention.ms`
    /// or beyond `retention.bytes` from the head of each partition, in chunks of
    /// ``BrokerOptions/retentionChunkRecords`` so producers interleave between chunks.
    @discardableResult
    public func runRetention() async throws -> RetentionReport {
        try checkOpen()
        var report = RetentionReport()
        let chunk = options.retentionChunkRecords
        for topic in state.topics.values where topic.config.retentionMs >= 0 || topic.config.retentionBytes >= 0 {
            for partition in topic.partitions where partition.state.recordCount > 0 {
                var pruned = false
                while true {
                    let result = try await writer.perform(.exclusive) { [state] log -> LogWriter.PruneResult in
                        guard log.topics[topic.name]?.id == topic.id else {
                            return LogWriter.PruneResult(deletedRecords: 0, deletedBytes: 0, change: nil, mayHaveMore: false)
                        }
                        let result = try log.prune(
                            topic: topic.name, partition: partition.index, now: WallClock.nowMillis(), maxRecords: chunk)
                        if let change = result.change { state.publish([change]) }
                        return result
                    }
                    report.chunks += 1
                    report.deletedRecords += result.deletedRecords
                    report.deletedBytes += result.deletedBytes
                    if result.deletedRecords > 0 {
                        meters?.topic(topic.name).retentionDeletedRecords.increment(by: Int64(result.deletedRecords))
                    }
                    pruned = pruned || result.deletedRecords > 0
                    if !result.mayHaveMore { break }
                }
                if pruned { report.partitionsPruned += 1 }
            }
        }
        return report
    }

    private func startRetention() {
        let interval = options.retentionCheckIntervalMs
        guard interval > 0 else { return }
        let task = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(interval))
                guard let self, !Task.isCancelled else { return }
                do {
                    let report = try await self.runRetention()
                    if report.deletedRecords > 0 {
                        self.logger.info("retention pruned records", metadata: [
                            "records": "\(report.deletedRecords)", "bytes": "\(report.deletedBytes)",
                            "partitions": "\(report.partitionsPruned)",
                        ])
                    }
                } catch let error as BrookError where error.code == .brokerNotAvailable {
                    return
                } catch {
                    self.logger.error("retention pass failed", metadata: ["error": "\(error)"])
                }
            }
        }
        retentionTask.withLock { $0 = task }
    }

    // MARK: Backup and SQL

    /// Writes a consistent, compacted copy of the whole database to `destination` while producers
    /// keep writing, then checks the copy (`PRAGMA integrity_check`). The destination must not
    /// exist.
    public func backup(to destination: String) async throws -> BackupReport {
        try checkOpen()
        return try await readers.run { reader in try reader.backup(to: destination) }
    }

    /// A new path for a backup copy that a front-end streams to a client and then deletes. It is
    /// beside the database (on the same file system) under a name the next start recognises: a
    /// server killed mid-backup leaves the copy behind, and opening the database removes it.
    public func temporaryBackupPath() -> String {
        let url = URL(fileURLWithPath: path)
        return url.deletingLastPathComponent().appendingPathComponent(Self.temporaryBackupPrefix(of: url) + UUID().uuidString).path
    }

    /// `.<database file name>.brook-backup-tmp-`: hidden, and tied to one database, so that a
    /// server never removes another database's copy in the same directory.
    private static func temporaryBackupPrefix(of database: URL) -> String {
        ".\(database.lastPathComponent).brook-backup-tmp-"
    }

    /// Removes the backup copies (and SQLite's journals of them) that a server stopped mid-backup
    /// left beside the database at `path`.
    private static func removeTemporaryBackups(of path: String, logger: Logger) {
        let database = URL(fileURLWithPath: path)
        let directory = database.deletingLastPathComponent()
        let prefix = temporaryBackupPrefix(of: database)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else { return }
        for name in names where name.hasPrefix(prefix) {
            let leftover = directory.appendingPathComponent(name).path
            let bytes = (try? FileManager.default.attributesOfItem(atPath: leftover)[.size] as? Int) ?? 0
            do {
                try FileManager.default.removeItem(atPath: leftover)
                logger.notice("removed a backup copy left by a server stopped mid-backup", metadata: ["path": "\(leftover)", "bytes": "\(bytes)"])
            } catch {
                logger.warning("could not remove a backup copy left by a server stopped mid-backup", metadata: ["path": "\(leftover)", "error": "\(error)"])
            }
        }
    }

    /// Runs one read-only SQL statement over the database (each topic is a view of its name).
    public func query(_ sql: String, maxRows: Int? = nil) async throws -> QueryResult {
        try await query(sql, maxRows: maxRows, into: QueryResult.self)
    }

    /// Runs one read-only SQL statement that may read only `topic` (its view and the table under
    /// it), for a user allowed to read that topic and nothing wider: the console's filter.
    /// - Throws: `UNKNOWN_TOPIC`; `NOT_AUTHORIZED` naming what else the statement reads; and what
    ///   ``query(_:maxRows:confinedTo:into:)`` throws.
    public func query(_ sql: String, maxRows: Int? = nil, readingOnly topic: String) async throws -> QueryResult {
        let id = try describeTopic(topic).id
        return try await query(sql, maxRows: maxRows, confinedTo: SQLConfinement(topic: topic, topicID: id), into: QueryResult.self)
    }

    /// Runs one read-only SQL statement, handing its rows to a sink on the SQL thread as they are
    /// read, so that a front-end can encode its reply in one pass.
    ///
    /// Queries run one at a time, in the order they came; at most `sqlLimits.maxQueued` wait or
    /// run at once.
    /// - Throws: `MESSAGE_TOO_LARGE` for a statement over `sqlLimits.maxStatementBytes`,
    ///   `SQL_QUEUE_FULL` when the queue is full, `RESULT_TOO_LARGE` past
    ///   `sqlLimits.maxResultBytes`, and what ``ReadOnlySQL`` throws.
    public func query<Sink: SQLRowSink>(
        _ sql: String, maxRows: Int? = nil, confinedTo confinement: SQLConfinement? = nil, into: Sink.Type
    ) async throws -> Sink {
        try checkOpen()
        let limits = options.sqlLimits
        let length = sql.utf8.count
        if length > limits.maxStatementBytes {
            throw BrookError(
                .messageTooLarge, "SQL statement of \(length) bytes exceeds max_sql_bytes=\(limits.maxStatementBytes); send a shorter statement")
        }
        guard sqlQueued.add(1, ordering: .relaxed).newValue <= limits.maxQueued else {
            sqlQueued.subtract(1, ordering: .relaxed)
            throw BrookError(
                .sqlQueueFull,
                "max_sql_queued=\(limits.maxQueued) SQL queries are already waiting or running (they run one at a time); try again later")
        }
        defer { sqlQueued.subtract(1, ordering: .relaxed) }
        let limit = min(maxRows ?? options.sqlMaxRows, options.sqlMaxRows)
        let timeout = options.sqlTimeoutMs
        return try await self.sql.run { connection in
            try connection.query(
                sql, maxRows: limit, maxResultBytes: limits.maxResultBytes, timeoutMs: timeout, confinedTo: confinement, into: Sink.self)
        }
    }
}

/// A flag shared between threads: one raiser wins until it is lowered.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)

    /// Raises the flag; `true` if this call raised it, `false` if it was already up.
    func raise() -> Bool {
        !value.exchange(true, ordering: .acquiringAndReleasing)
    }

    func lower() {
        value.store(false, ordering: .releasing)
    }

    /// Lowers the flag; `true` if it was up.
    func take() -> Bool {
        value.exchange(false, ordering: .acquiringAndReleasing)
    }
}

extension TopicMetadata {
    /// The vocabulary form front-ends send: settings and per-partition counters.
    public var topicDescription: TopicDescription {
        TopicDescription(
            name: name, partitionCount: partitions.count, config: config,
            partitions: partitions.map {
                PartitionDescription(
                    index: $0.index, logStartOffset: $0.state.logStartOffset, nextOffset: $0.state.nextOffset, bytes: $0.state.bytes)
            })
    }
}

/// Receives fetched records on a reader thread while they are still in SQLite's buffers.
public protocol FetchSink: Sendable {
    init()
    /// Called once per record, in offset order; `record`'s buffers are valid only during the call.
    mutating func append(_ record: RecordView)
}

/// Copies fetched records into ``Record`` values.
public struct RecordArraySink: FetchSink {
    public var records: [Record] = []
    public init() {}
    public mutating func append(_ record: RecordView) { records.append(record.record) }
}
