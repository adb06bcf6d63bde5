import BrookModel
import CSQLite

/// The one owner of the database's write connection: topic admin, appends, committed offsets and
/// retention. Not thread-safe; the broker confines it to its writer thread.
///
/// Pragmas of the write connection and what each guarantees:
/// - `journal_mode=WAL`: readers never block the writer nor the writer readers; a committed
///   transaction survives a process crash.
/// - `synchronous=NORMAL` by default: a commit reaches the WAL (survives a process crash, not
///   power loss). A transaction begun with `durable: true` runs with `synchronous=FULL`, so its
///   COMMIT fsyncs the WAL and survives power loss too.
/// - `wal_autocheckpoint=0` plus a WAL hook: checkpoints run off the commit path (see
///   ``walPages`` and ``checkpoint(_:maxWaitMs:)``), when the owner chooses.
/// - `journal_size_limit=-1`: starting the WAL over never truncates the file inside a commit.
/// - `foreign_keys=OFF`, `temp_store=MEMORY`, `cache_size` of 16 MiB, defensive mode on (no
///   writes to the schema table through SQL).
public final class LogWriter {
    public let path: String
    let db: Connection
    private let lock: FileLock
    /// Topics by name, with their partitions' committed counters.
    public private(set) var topics: [String: TopicMetadata] = [:]
    /// Topics left out at open because their log table is gone; only deleting one works.
    private var unavailable: [String: (topic: TopicMetadata, error: BrookError)] = [:]
    /// What opening the file found and did.
    public let openReport: OpenReport

    /// What the open transaction appended to a partition.
    private struct StagedPartition {
        var topic: String
        var index: Int
        var state: PartitionState
        var appended: [AppendedBatch]
        /// The largest timestamp appended, for the time index.
        var maxTimestamp: Int64
    }

    /// Staged counters of the open transaction, by partition id; published on commit.
    private var staged: [Int64: StagedPartition] = [:]
    /// Per partition id, the largest timestamp in its log so far and the offset of its last
    /// `__brook_time_index` row; loaded on a partition's first commit, updated after each.
    private var timeMarks: [Int64: TimeMark] = [:]
    /// Each topic's INSERT into its log table, by topic id: looked up by number on every append
    /// instead of building the statement's text and hashing it for the connection's cache.
    private var inserts: [Int64: Statement] = [:]

    struct TimeMark {
        var maxTimestamp: Int64
        var indexedOffset: Int64
    }
    /// Producer sequence state read so far, and what the open transaction changes.
    private var sequences: [SequenceKey: SequenceState] = [:]
    private var stagedSequences: [SequenceKey: SequenceState] = [:]
    private var producerEpochs: [Int64: Int32] = [:]
    /// Epochs a producer moved to by itself in the open transaction (see ``checkSequence``).
    private var stagedEpochs: [Int64: Int32] = [:]

    struct SequenceKey: Hashable {
        var producer: Int64
        var partition: Int64
    }
    private var stagedCommits = 0
    /// Partitions whose counters in memory are ahead of their row in `__brook_partitions`, by id;
    /// see ``commit()``.
    private var unsavedCounters: [Int64: (topic: String, index: Int)] = [:]
    private var unsavedRecords = 0
    private var countersSavedAt = ContinuousClock.now
    /// How long a partition's counters' row may trail its log; see ``commit()``.
    public var counterSaveInterval: Duration = .seconds(1)
    /// How many records the counters' rows may trail the logs by, across all partitions.
    public var counterSaveRecords = 100_000

    /// Some partition's counters' row trails its log.
    public var hasUnsavedCounters: Bool { !unsavedCounters.isEmpty }
    private var durableMode: Bool?
    private let walCounter = WALCounter()

    /// Pages in the WAL after the last commit; the owner checkpoints when it grows.
    public var walPages: Int { walCounter.pages }

    /// Opens or creates a Brook database, refusing a file that is not Brook's, is newer than this
    /// build, or is damaged, or that cannot be written or shared in WAL mode.
    /// - Parameter vfs: the SQLite VFS to open the file with; nil for the default. One without
    ///   shared memory (`unix-none`) cannot run WAL and is refused.
    public init(path: String, vfs: String? = nil) throws(BrookError) {
        self.path = path
        lock = try FileLock(database: path)
        do {
            db = try Connection(path: path, mode: .readWrite, vfs: vfs)
        } catch {
            throw BrookError(error, while: "opening '\(path)'")
        }
        // Before any statement is prepared: the partition logs' triggers refuse every change
        // (LogNames.guardTriggers); with triggers off, this connection's appends and retention's
        // deletes run none of them and pay nothing per record. Nothing else in the schema is a
        // trigger.
        var triggers: Int32 = -1
        let code = brook_sqlite3_db_config_int_result(db.handle, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, &triggers)
        guard code == SQLITE_OK, triggers == 0 else {
            throw BrookError(
                .storageError,
                "opening '\(path)': SQLite did not turn triggers off on Brook's writer connection (code \(code), triggers \(triggers)), so the partition logs' triggers would refuse every append; this SQLite library cannot run Brook")
        }
        if let change = lock.fileChange() {
            throw BrookError(.storageError, "'\(path)' changed while it was being opened (\(change)); try again")
        }
        do {
            _ = brook_sqlite3_db_config_int(db.handle, SQLITE_DBCONFIG_DEFENSIVE, 1)
            try HeaderFunctions.register(on: db.handle)
            try db.execute("PRAGMA busy_timeout = 10000")
            var report = try Schema.prepare(db, path: path)
            let mode = try db.scalarString("PRAGMA journal_mode = WAL")
            guard mode?.lowercased() == "wal" else {
                throw BrookError(.storageError, "'\(path)' cannot use WAL mode (journal_mode is '\(mode ?? "?")'): the file system must support shared memory")
            }
            try db.execute("""
                PRAGMA synchronous = NORMAL;
                PRAGMA foreign_keys = OFF;
                PRAGMA temp_store = MEMORY;
                PRAGMA cache_size = -16384;
                PRAGMA wal_autocheckpoint = 0;
                PRAGMA journal_size_limit = -1;
                """)
            durableMode = false
            report.walFramesAtOpen = try Self.walFrames(db)
            walCounter.install(on: db.handle)
            var loaded = try Self.loadTopics(db)
            let repair = try Self.repairSchema(db, &loaded)
            report.repairs = repair.repairs
            report.unavailableTopics = repair.unavailable.mapValues(\.error)
            unavailable = repair.unavailable
            report.recoveredCounters = try Self.recoverCounters(db, &loaded)
            topics = loaded
            openReport = report
        } catch let error as BrookError {
            throw error
        } catch let error as SQLiteError {
            throw error.isCorruption
                ? BrookError(.corruptDatabase, "'\(path)' is damaged: \(error.message)")
                : BrookError(error, while: "opening '\(path)'")
        } catch {
            throw BrookError(.unknownServerError, "opening '\(path)': \(error)")
        }
    }

    private static func walFrames(_ db: Connection) throws -> Int {
        // A PASSIVE checkpoint of nothing-to-do reports the WAL's frame count without blocking.
        var logFrames: Int32 = 0
        var checkpointed: Int32 = 0
        let code = sqlite3_wal_checkpoint_v2(db.handle, nil, SQLITE_CHECKPOINT_PASSIVE, &logFrames, &checkpointed)
        return code == SQLITE_OK ? Int(max(logFrames, 0)) : 0
    }

    private static func loadTopics(_ db: Connection) throws -> [String: TopicMetadata] {
        var topics: [Int64: TopicMetadata] = [:]
        let topicRows = try db.prepare(
            """
            SELECT id, name, retention_ms, retention_bytes, max_message_bytes, created_ms, message_timestamp_type, compression_type
            FROM __brook_topics
            """)
        while try topicRows.step() {
            let id = topicRows.int64(0)
            let name = topicRows.string(1) ?? ""
            let timestampType = topicRows.string(6) ?? ""
            let compressionType = topicRows.string(7) ?? ""
            guard let messageTimestampType = MessageTimestampType(rawValue: timestampType),
                let compression = CompressionType(rawValue: compressionType)
            else {
                throw BrookError(
                    .corruptDatabase,
                    "topic '\(name)' has message.timestamp.type '\(timestampType)' and compression.type '\(compressionType)' in __brook_topics, not values Brook knows: set them back with SQL to CreateTime / producer")
            }
            topics[id] = TopicMetadata(
                id: id, name: name,
                config: TopicConfig(
                    retentionMs: topicRows.int64(2), retentionBytes: topicRows.int64(3),
                    maxMessageBytes: Int(topicRows.int64(4)), messageTimestampType: messageTimestampType, compressionType: compression),
                partitions: [], createdMs: topicRows.int64(5))
        }
        let partitionRows = try db.prepare(
            "SELECT id, topic_id, partition, log_start_offset, next_offset, bytes FROM __brook_partitions ORDER BY topic_id, partition")
        while try partitionRows.step() {
            let topicID = partitionRows.int64(1)
            let index = Int(partitionRows.int64(2))
            guard topics[topicID] != nil, topics[topicID]!.partitions.count == index else {
                throw SQLiteError(code: SQLITE_CORRUPT, message: "partition rows of topic id \(topicID) are not numbered 0, 1, 2, …")
            }
            topics[topicID]!.partitions.append(
                PartitionMetadata(
                    id: partitionRows.int64(0), index: index,
                    state: PartitionState(
                        logStartOffset: partitionRows.int64(3), nextOffset: partitionRows.int64(4),
                        bytes: partitionRows.int64(5))))
        }
        return Dictionary(uniqueKeysWithValues: topics.values.map { ($0.name, $0) })
    }

    /// Puts back what was changed outside Brook, and sets aside what cannot be put back, so that
    /// one damaged topic does not keep every other from being served:
    /// - a topic whose log table is gone (dropped) is left out of `topics`, with an error naming
    ///   it; its records are lost, and deleting the topic clears it;
    /// - a log table without its three append-only triggers (recreated by hand) gets them back;
    /// - a topic's view that is gone is recreated.
    private static func repairSchema(
        _ db: Connection, _ topics: inout [String: TopicMetadata]
    ) throws -> (repairs: [String], unavailable: [String: (topic: TopicMetadata, error: BrookError)]) {
        var tables = Set<String>()
        var triggers = Set<String>()
        var views = Set<String>()
        let objects = try db.prepare("SELECT type, name FROM sqlite_schema WHERE type IN ('table', 'trigger', 'view')")
        while try objects.step() {
            let name = objects.string(1) ?? ""
            switch objects.string(0) {
            case "table": tables.insert(name)
            case "trigger": triggers.insert(name)
            default: views.insert(name.lowercased())
            }
        }
        var unavailable: [String: (topic: TopicMetadata, error: BrookError)] = [:]
        var repairs: [String] = []
        var statements: [String] = []
        for (name, topic) in topics.sorted(by: { $0.key < $1.key }) {
            let table = LogNames.table(topicID: topic.id)
            guard tables.contains(table) else {
                unavailable[name] = (topic, BrookError(
                    .corruptDatabase,
                    "topic '\(name)' is unavailable: its log table \(table) is missing (dropped outside Brook), so its records are lost; delete the topic (brook topics delete \(name)) or restore the file from a backup"))
                topics[name] = nil
                continue
            }
            if !LogNames.guardTriggerNames(table: table).allSatisfy(triggers.contains) {
                statements.append(LogNames.dropGuardTriggers(table: table) + "\n" + LogNames.guardTriggers(table: table))
                repairs.append("restored the append-only triggers of \(table) (topic '\(name)')")
            }
            if !views.contains(name.lowercased()) {
                statements.append(LogNames.createView(topic: name, topicID: topic.id))
                repairs.append("recreated the view of topic '\(name)'")
            }
        }
        if !statements.isEmpty {
            try db.transaction {
                for statement in statements { try db.execute(statement) }
            }
        }
        return (repairs, unavailable)
    }

    /// Brings each partition's counters up to date with its log. A commit does not always save
    /// them (see ``commit()``), so after an unclean stop a log may hold records at and past its
    /// saved `next_offset`: the counters then take them in. The saved row is a consistent triple
    /// of some earlier commit, so `bytes` grows by exactly those records' sizes.
    private static func recoverCounters(_ db: Connection, _ topics: inout [String: TopicMetadata]) throws -> [String] {
        // The last offset of every partition: one descending rowid seek each.
        var behind: [(topic: String, index: Int, last: Int64)] = []
        for (name, topic) in topics {
            let last = try db.prepare("""
                SELECT position FROM "\(LogNames.table(topicID: topic.id))" WHERE position >= ? AND position < ? ORDER BY position DESC LIMIT 1
                """)
            for partition in topic.partitions {
                try last.bind(LogNames.firstPosition(partition: partition.index), at: 1)
                try last.bind(LogNames.firstPosition(partition: partition.index + 1), at: 2)
                if try last.step() {
                    let offset = last.int64(0) & LogNames.offsetMask
                    if offset >= partition.state.nextOffset { behind.append((name, partition.index, offset)) }
                }
                last.reset()
            }
        }
        guard !behind.isEmpty else { return [] }
        var recovered: [String] = []
        try db.transaction {
            let update = try db.prepare("UPDATE __brook_partitions SET next_offset = ?, bytes = ? WHERE id = ?")
            for (name, index, last) in behind {
                let topic = topics[name]!
                var state = topic.partitions[index].state
                // The same measure as a record's size: key, headers (in their encoded form) and value bytes.
                let sizes = try db.prepare("""
                    SELECT coalesce(sum(coalesce(length(CAST(key AS BLOB)), 0) + brook_header_bytes(headers)
                        + coalesce(length(CAST(value AS BLOB)), 0)), 0)
                    FROM "\(LogNames.table(topicID: topic.id))" WHERE position >= ? AND position < ?
                    """)
                try sizes.bind(LogNames.position(partition: index, offset: state.nextOffset), at: 1)
                try sizes.bind(LogNames.firstPosition(partition: index + 1), at: 2)
                _ = try sizes.step()
                let added = sizes.int64(0)
                recovered.append("\(name)-\(index): next offset \(state.nextOffset) → \(last + 1), bytes \(state.bytes) → \(state.bytes + added)")
                state.nextOffset = last + 1
                state.bytes += added
                try update.bind(state.nextOffset, at: 1)
                try update.bind(state.bytes, at: 2)
                try update.bind(topic.partitions[index].id, at: 3)
                try update.run()
                topics[name]!.partitions[index].state = state
            }
        }
        return recovered
    }

    // MARK: Topics

    /// Creates a topic with its log table, triggers and SQL view, in one transaction: four schema
    /// objects and a row per partition, whatever the partition count.
    @discardableResult
    public func createTopic(_ name: String, partitions: Int, config: TopicConfig, now: Int64 = WallClock.nowMillis()) throws(BrookError) -> TopicMetadata {
        try TopicName.validate(name)
        try TopicName.validatePartitionCount(partitions)
        try config.validate()
        if let existing = topics[name] {
            throw BrookError(.topicAlreadyExists, "topic '\(existing.name)' already exists")
        }
        if let (_, error) = unavailable.first(where: { $0.key.lowercased() == name.lowercased() })?.value {
            throw error
        }
        if let clash = topics.keys.first(where: { $0.lowercased() == name.lowercased() }) {
            throw BrookError(.topicAlreadyExists, "topic '\(name)' collides with existing topic '\(clash)': SQL view names ignore case")
        }
        return try adminTransaction("creating topic '\(name)'") {
            if try db.scalarInt("SELECT count(*) FROM sqlite_schema WHERE name = \(quoteLiteral(name)) COLLATE NOCASE") != 0 {
                throw BrookError(.topicAlreadyExists, "topic name '\(name)' collides with an existing SQL object of that name")
            }
            let insert = try db.cached(
                """
                INSERT INTO __brook_topics
                    (name, retention_ms, retention_bytes, max_message_bytes, created_ms, message_timestamp_type, compression_type)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """)
            try insert.bind(name, at: 1)
            try insert.bind(config.retentionMs, at: 2)
            try insert.bind(config.retentionBytes, at: 3)
            try insert.bind(config.maxMessageBytes, at: 4)
            try insert.bind(now, at: 5)
            try insert.bind(config.messageTimestampType.rawValue, at: 6)
            try insert.bind(config.compressionType.rawValue, at: 7)
            try insert.run()
            let topicID = sqlite3_last_insert_rowid(db.handle)
            var topic = TopicMetadata(id: topicID, name: name, config: config, partitions: [], createdMs: now)
            try db.execute(LogNames.createTable(topicID: topicID))
            try db.execute(LogNames.createView(topic: name, topicID: topicID))
            try addPartitionRows(to: &topic, count: partitions)
            return topic
        } publish: { topic in
            topics[name] = topic
        }
    }

    /// Grows a topic to `count` partitions (never fewer): rows in `__brook_partitions` only, since
    /// the topic's table and view hold every partition.
    @discardableResult
    public func addPartitions(_ name: String, count: Int) throws(BrookError) -> TopicMetadata {
        guard var topic = topics[name] else { throw BrookError.unknownTopic(name) }
        try TopicName.validatePartitionCount(count)
        if count <= topic.partitions.count {
            throw BrookError(.invalidPartitions, "topic '\(name)' has \(topic.partitions.count) partitions; the new count \(count) must be larger (partitions are never removed)")
        }
        return try adminTransaction("adding partitions to '\(name)'") {
            try addPartitionRows(to: &topic, count: count - topic.partitions.count)
            return topic
        } publish: { topic in
            topics[name] = topic
        }
    }

    /// Changes a topic's retention and size settings.
    @discardableResult
    public func alterConfig(_ name: String, config: TopicConfig) throws(BrookError) -> TopicMetadata {
        guard var topic = topics[name] else { throw BrookError.unknownTopic(name) }
        try config.validate()
        return try adminTransaction("altering topic '\(name)'") {
            let update = try db.cached(
                """
                UPDATE __brook_topics
                SET retention_ms = ?, retention_bytes = ?, max_message_bytes = ?, message_timestamp_type = ?, compression_type = ?
                WHERE id = ?
                """)
            try update.bind(config.retentionMs, at: 1)
            try update.bind(config.retentionBytes, at: 2)
            try update.bind(config.maxMessageBytes, at: 3)
            try update.bind(config.messageTimestampType.rawValue, at: 4)
            try update.bind(config.compressionType.rawValue, at: 5)
            try update.bind(topic.id, at: 6)
            try update.run()
            topic.config = config
            return topic
        } publish: { topic in
            topics[name] = topic
        }
    }

    /// Deletes a topic: drops its view and log table, its time index and its committed offsets.
    public func deleteTopic(_ name: String) throws(BrookError) {
        guard let topic = topics[name] ?? unavailable[name]?.topic else { throw BrookError.unknownTopic(name) }
        try adminTransaction("deleting topic '\(name)'") {
            try db.execute(LogNames.dropView(topic: name))
            try db.execute(LogNames.dropTable(topicID: topic.id))
            // Left by migration 6 when one of the topic's partition tables was missing.
            for partition in topic.partitions where unavailable[name] != nil {
                try db.execute("DROP TABLE IF EXISTS \"\(LogNames.legacyPartitionTable(partition.id))\";")
            }
            try db.execute("DELETE FROM __brook_time_index WHERE partition_id IN (SELECT id FROM __brook_partitions WHERE topic_id = \(topic.id))")
            try db.execute("DELETE FROM __brook_producer_sequences WHERE partition_id IN (SELECT id FROM __brook_partitions WHERE topic_id = \(topic.id))")
            try db.execute("DELETE FROM __brook_partitions WHERE topic_id = \(topic.id)")
            try db.execute("DELETE FROM __brook_topics WHERE id = \(topic.id)")
            let offsets = try db.cached("DELETE FROM __brook_committed_offsets WHERE topic = ?")
            try offsets.bind(name, at: 1)
            try offsets.run()
        } publish: { _ in
            topics[name] = nil
            unavailable[name] = nil
            let dropped = Set(topic.partitions.map(\.id))
            sequences = sequences.filter { !dropped.contains($0.key.partition) }
            for id in dropped {
                unsavedCounters[id] = nil
                timeMarks[id] = nil
            }
            inserts[topic.id] = nil
            db.evictStatements(containing: "\"\(LogNames.table(topicID: topic.id))\"")
        }
    }

    private func addPartitionRows(to topic: inout TopicMetadata, count: Int) throws {
        let insert = try db.cached("INSERT INTO __brook_partitions (topic_id, partition) VALUES (?, ?)")
        for _ in 0..<count {
            let index = topic.partitions.count
            try insert.bind(topic.id, at: 1)
            try insert.bind(index, at: 2)
            try insert.run()
            let id = sqlite3_last_insert_rowid(db.handle)
            topic.partitions.append(PartitionMetadata(id: id, index: index, state: PartitionState()))
        }
    }

    /// Runs an admin change in its own transaction; `publish` updates memory only after COMMIT.
    func adminTransaction<T>(
        _ action: String, _ body: () throws -> T, publish: (T) -> Void
    ) throws(BrookError) -> T {
        precondition(!db.isInTransaction, "admin changes run outside group-commit transactions")
        do {
            let result = try db.transaction(body)
            publish(result)
            return result
        } catch let error as BrookError {
            throw error
        } catch let error as SQLiteError {
            throw BrookError(error, while: action)
        } catch {
            throw BrookError(.unknownServerError, "\(action): \(error)")
        }
    }

    // MARK: Group-commit transactions

    /// Begins a write transaction that may hold many producers' appends and offset commits.
    /// With `durable`, its COMMIT fsyncs the WAL (`synchronous=FULL`).
    public func begin(durable: Bool) throws(SQLiteError) {
        precondition(!db.isInTransaction, "a transaction is already open")
        if durableMode != durable {
            try db.execute(durable ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL")
            durableMode = durable
        }
        // Prepared once (the connection's cache), not parsed by sqlite3_exec on every group commit.
        try db.cached("BEGIN IMMEDIATE").run()
        staged.removeAll(keepingCapacity: true)
        stagedSequences.removeAll(keepingCapacity: true)
        stagedEpochs.removeAll(keepingCapacity: true)
        stagedCommits = 0
    }

    /// Runs one request's writes inside the open transaction so that, if it throws, what it wrote
    /// is undone (`ROLLBACK TO` a savepoint, and its staged counters and sequences) and the
    /// transaction goes on for the other requests. The savepoint costs two statements, so the
    /// writer uses this only to run a group again after one of its requests failed.
    public func isolated<T>(_ body: () throws -> T) throws -> T {
        precondition(db.isInTransaction, "isolated runs inside begin()/commit()")
        let saved = (staged, stagedSequences, stagedEpochs, stagedCommits)
        try db.cached("SAVEPOINT brook_request").run()
        do {
            let result = try body()
            try db.cached("RELEASE brook_request").run()
            return result
        } catch {
            try db.cached("ROLLBACK TO brook_request").run()
            try db.cached("RELEASE brook_request").run()
            (staged, stagedSequences, stagedEpochs, stagedCommits) = saved
            throw error
        }
    }

    /// Checks an append against the current catalog without writing: the topic exists (and is
    /// still the one with `topicID`, when given), the partition exists, the batch is not empty and
    /// no record exceeds `max.message.bytes`.
    /// - Returns: the batch's bytes.
    @discardableResult
    public func validateAppend(topic name: String, topicID: Int64? = nil, partition index: Int, records: [ProducerRecord]) throws(BrookError) -> Int64 {
        guard let topic = topics[name], topicID == nil || topic.id == topicID else { throw BrookError.unknownTopic(name) }
        _ = try topic.partition(index)
        guard !records.isEmpty else {
            throw BrookError(.invalidRequest, "a produce batch to '\(name)' must hold at least one record")
        }
        var bytes: Int64 = 0
        for record in records {
            let size = record.size
            if size > topic.config.maxMessageBytes {
                throw BrookError(.messageTooLarge, "record of \(size) bytes exceeds max.message.bytes \(topic.config.maxMessageBytes) of topic '\(name)'")
            }
            bytes += Int64(size)
        }
        return bytes
    }

    /// Appends records to one partition inside the open transaction and returns the first offset.
    ///
    /// Validation failures throw ``BrookError`` before anything is written, so the caller may go
    /// on with the transaction; a ``SQLiteError`` means the transaction must be rolled back.
    public func append(topic name: String, partition index: Int, records: [ProducerRecord], now: Int64) throws -> Int64 {
        precondition(db.isInTransaction, "append runs inside begin()/commit()")
        let batchBytes = try validateAppend(topic: name, partition: index, records: records)
        let topic = topics[name]!
        let partition = topic.partitions[index]
        var entry = staged[partition.id] ?? StagedPartition(topic: name, index: index, state: partition.state, appended: [], maxTimestamp: .min)
        let base = entry.state.nextOffset
        guard base + Int64(records.count) <= LogNames.offsetLimit else {
            throw BrookError(
                .storageError,
                "partition \(name)-\(index) has reached the largest offset Brook stores (\(LogNames.offsetLimit - 1)); produce to another partition or topic")
        }
        let insert: Statement
        if let known = inserts[topic.id] {
            insert = known
        } else {
            insert = try Statement(
                connection: db,
                sql: "INSERT INTO \"\(LogNames.table(topicID: topic.id))\" (position, timestamp, key, headers, value) VALUES (?, ?, ?, ?, ?)")
            inserts[topic.id] = insert
        }
        var offset = base
        // LogAppendTime: the broker's append time replaces the producer's timestamp.
        let stampsAppendTime = topic.config.messageTimestampType == .logAppendTime
        // Kept for the commit's long polls, which answer from the batch without reading it back.
        let keepHeaders = records.contains { !$0.headers.isEmpty }
        var encodedHeaders: [[UInt8]] = []
        if keepHeaders { encodedHeaders.reserveCapacity(records.count) }
        let firstPosition = LogNames.firstPosition(partition: index)
        for record in records {
            let timestamp = stampsAppendTime ? now : record.timestamp ?? now
            entry.maxTimestamp = max(entry.maxTimestamp, timestamp)
            try insert.bind(firstPosition + offset, at: 1)
            try insert.bind(timestamp, at: 2)
            if keepHeaders { encodedHeaders.append(HeaderCodec.encode(record.headers)) }
            // JSON only for records that have headers: the others store NULL.
            let headers = record.headers.isEmpty ? nil : HeaderJSON.encode(record.headers)
            try withOptionalBytes(record.key) { key in
                try withOptionalBytes(headers) { headers in
                    try withOptionalBytes(record.value) { value in
                        if let key { try insert.bindBytes(key, at: 3) } else { try insert.bindNull(at: 3) }
                        if let headers { try insert.bindText(headers, at: 4) } else { try insert.bindNull(at: 4) }
                        if let value { try insert.bindBytes(value, at: 5) } else { try insert.bindNull(at: 5) }
                        // Bound without copying: step before the buffers go out of scope.
                        try insert.run()
                    }
                }
            }
            offset += 1
        }
        entry.state.nextOffset = offset
        entry.state.bytes += batchBytes
        let batch = AppendedBatch(
            baseOffset: base, records: stampsAppendTime ? records.map { record in
                var stamped = record
                stamped.timestamp = now
                return stamped
            } : records, appendTime: now,
            encodedHeaders: encodedHeaders)
        // In place: a copy of the staged batches per append made a group's appends quadratic.
        staged[partition.id] = nil
        entry.appended.append(batch)
        staged[partition.id] = entry
        return base
    }

    // MARK: Idempotent producers

    /// Issues a producer id (epoch 0), or, for a known `clientKey`, the same id with the next
    /// epoch — which fences every older instance of that producer.
    public func initProducer(clientKey: String?, now: Int64 = WallClock.nowMillis()) throws(BrookError) -> ProducerIdentity {
        do {
            return try db.transaction {
                if let clientKey {
                    let find = try db.cached("SELECT producer_id, epoch FROM __brook_producers WHERE client_key = ?")
                    try find.bind(clientKey, at: 1)
                    let existing: (Int64, Int32)? = try find.step() ? (find.int64(0), Int32(truncatingIfNeeded: find.int64(1))) : nil
                    find.reset()
                    if let (id, epoch) = existing {
                        guard epoch < Int32.max else {
                            throw BrookError(.invalidRequest, "producer '\(clientKey)' has used every epoch")
                        }
                        let bump = try db.cached("UPDATE __brook_producers SET epoch = ?, updated_ms = ? WHERE producer_id = ?")
                        try bump.bind(Int64(epoch + 1), at: 1)
                        try bump.bind(now, at: 2)
                        try bump.bind(id, at: 3)
                        try bump.run()
                        producerEpochs[id] = epoch + 1
                        return ProducerIdentity(id: id, epoch: epoch + 1)
                    }
                }
                let insert = try db.cached("INSERT INTO __brook_producers (epoch, client_key, updated_ms) VALUES (0, ?, ?)")
                if let clientKey { try insert.bind(clientKey, at: 1) } else { try insert.bindNull(at: 1) }
                try insert.bind(now, at: 2)
                try insert.run()
                let id = sqlite3_last_insert_rowid(db.handle)
                producerEpochs[id] = 0
                return ProducerIdentity(id: id, epoch: 0)
            }
        } catch let error as BrookError {
            throw error
        } catch let error as SQLiteError {
            throw BrookError(error, while: "issuing a producer id")
        } catch {
            throw BrookError(.unknownServerError, "issuing a producer id: \(error)")
        }
    }

    /// Checks an idempotent producer's batch for one partition against what was written: append,
    /// or a retry of a recent batch (with its original base offset). Writes nothing.
    /// A higher epoch than the one issued is the producer's own bump (see below) and must start at 0.
    /// - Throws: `PRODUCER_FENCED`, `OUT_OF_ORDER_SEQUENCE_NUMBER`, `UNKNOWN_PRODUCER_ID`, or the
    ///   checks of ``validateAppend(topic:topicID:partition:records:)``.
    public func checkSequence(_ producer: ProducerIdentity, topic name: String, partition index: Int, records: [ProducerRecord]) throws -> SequenceVerdict {
        guard let topic = topics[name] else { throw BrookError.unknownTopic(name) }
        let partition = try topic.partition(index)
        guard let first = records.first?.sequence, let last = records.last?.sequence else {
            throw BrookError(.invalidRequest, "an idempotent produce to \(name)-\(index) must give every record a sequence number")
        }
        for (step, record) in records.enumerated() where record.sequence != first &+ Int32(truncatingIfNeeded: step) {
            throw BrookError(.outOfOrderSequenceNumber, "sequence numbers in a batch to \(name)-\(index) must be consecutive; record \(step) has \(record.sequence.map(String.init) ?? "none")")
        }
        let current = try producerEpoch(producer.id)
        if producer.epoch < current {
            throw BrookError(.producerFenced, "producer \(producer.id) epoch \(producer.epoch) was fenced by epoch \(current)")
        }
        let key = SequenceKey(producer: producer.id, partition: partition.id)
        if producer.epoch > current {
            // librdkafka bumps an idempotent producer's epoch by itself after an error it cannot
            // otherwise recover from, and restarts every partition at sequence 0 without asking
            // for a new epoch (KIP-360). Kafka accepts that: a higher epoch that starts at 0
            // opens a new sequence space, and from then on the old epoch is fenced.
            guard first == 0 else {
                throw BrookError(.outOfOrderSequenceNumber, "producer \(producer.id) must start \(name)-\(index) at sequence 0 in its new epoch \(producer.epoch), not \(first)")
            }
            return .append
        }
        guard let state = try sequenceState(key) else {
            guard first == 0 else {
                throw BrookError(.outOfOrderSequenceNumber, "producer \(producer.id) must start \(name)-\(index) at sequence 0, not \(first)")
            }
            return .append
        }
        return try state.verdict(epoch: producer.epoch, first: first, last: last, partition: "\(name)-\(index)")
    }

    /// Notes an appended idempotent batch, inside the open transaction, with the time the topic
    /// stamped it with under LogAppendTime, so a retry is answered with it.
    public func recordSequence(
        _ producer: ProducerIdentity, topic name: String, partition index: Int, records: [ProducerRecord], baseOffset: Int64, appendTime: Int64? = nil
    ) throws {
        guard let partition = topics[name]?.partitions[safe: index], let first = records.first?.sequence, let last = records.last?.sequence else { return }
        let key = SequenceKey(producer: producer.id, partition: partition.id)
        var state = try sequenceState(key) ?? SequenceState(epoch: producer.epoch, lastSequence: -1, recent: [])
        state.record(epoch: producer.epoch, first: first, last: last, baseOffset: baseOffset, appendTime: appendTime)
        stagedSequences[key] = state
        if try producerEpoch(producer.id) < producer.epoch { stagedEpochs[producer.id] = producer.epoch }
    }

    private func producerEpoch(_ id: Int64) throws -> Int32 {
        if let epoch = stagedEpochs[id] { return epoch }
        if let epoch = producerEpochs[id] { return epoch }
        let statement = try db.cached("SELECT epoch FROM __brook_producers WHERE producer_id = ?")
        defer { statement.reset() }
        try statement.bind(id, at: 1)
        guard try statement.step() else {
            throw BrookError(.unknownProducerID, "producer id \(id) was not issued by this broker; initialise the producer")
        }
        let epoch = Int32(truncatingIfNeeded: statement.int64(0))
        producerEpochs[id] = epoch
        return epoch
    }

    private func sequenceState(_ key: SequenceKey) throws -> SequenceState? {
        if let staged = stagedSequences[key] { return staged }
        if let known = sequences[key] { return known }
        let statement = try db.cached(
            "SELECT epoch, last_sequence, recent FROM __brook_producer_sequences WHERE producer_id = ? AND partition_id = ?")
        defer { statement.reset() }
        try statement.bind(key.producer, at: 1)
        try statement.bind(key.partition, at: 2)
        guard try statement.step() else { return nil }
        let state = SequenceState(
            epoch: Int32(truncatingIfNeeded: statement.int64(0)), lastSequence: Int32(truncatingIfNeeded: statement.int64(1)),
            recent: SequenceState.decodeRecent(statement.string(2) ?? ""))
        sequences[key] = state
        return state
    }

    /// Records a group's next offset to read for a partition, inside the open transaction.
    public func commitOffset(group: String, topic: String, partition: Int, offset: Int64, metadata: String, now: Int64) throws {
        precondition(db.isInTransaction, "commitOffset runs inside begin()/commit()")
        let statement = try db.cached("""
            INSERT INTO __brook_committed_offsets (group_id, topic, partition, next_offset, metadata, committed_ms)
            VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT (group_id, topic, partition) DO UPDATE SET
                next_offset = excluded.next_offset, metadata = excluded.metadata, committed_ms = excluded.committed_ms
            """)
        try statement.bind(group, at: 1)
        try statement.bind(topic, at: 2)
        try statement.bind(partition, at: 3)
        try statement.bind(offset, at: 4)
        try statement.bind(metadata, at: 5)
        try statement.bind(now, at: 6)
        try statement.run()
        stagedCommits += 1
    }

    /// Deletes every committed offset of a group, inside the open transaction.
    public func deleteCommittedOffsets(group: String) throws {
        precondition(db.isInTransaction, "deleteCommittedOffsets runs inside begin()/commit()")
        let statement = try db.cached("DELETE FROM __brook_committed_offsets WHERE group_id = ?")
        try statement.bind(group, at: 1)
        try statement.run()
    }

    /// Deletes a group's committed offsets of some partitions (Kafka's OffsetDelete), inside the
    /// open transaction.
    public func deleteCommittedOffsets(group: String, partitions: [TopicPartition]) throws {
        precondition(db.isInTransaction, "deleteCommittedOffsets runs inside begin()/commit()")
        let statement = try db.cached("DELETE FROM __brook_committed_offsets WHERE group_id = ? AND topic = ? AND partition = ?")
        for tp in partitions {
            try statement.bind(group, at: 1)
            try statement.bind(tp.topic, at: 2)
            try statement.bind(tp.partition, at: 3)
            try statement.run()
        }
    }

    /// Commits the open transaction and publishes the new partition counters.
    ///
    /// The counters' rows in `__brook_partitions` are saved with the records only once a second
    /// (``counterSaveInterval``) or every 100,000 records (``counterSaveRecords``), whichever
    /// comes first, and when the writer closes: rewriting that page in every transaction doubled
    /// the WAL written by a one-record commit (a 4 KiB frame for the records' page, another for
    /// the counters'). Memory holds the exact counters; the saved row is a consistent triple of
    /// an earlier commit, and opening the file brings it up to date from the log table (see
    /// ``OpenReport/recoveredCounters``), so no offset is ever reused.
    /// - Returns: the partitions whose counters changed.
    public func commit() throws(SQLiteError) -> [PartitionChange] {
        var appendedRecords = 0
        for entry in staged.values {
            for batch in entry.appended { appendedRecords += batch.records.count }
        }
        let saveCounters = (!staged.isEmpty || !unsavedCounters.isEmpty)
            && (unsavedRecords + appendedRecords >= counterSaveRecords || ContinuousClock.now - countersSavedAt >= counterSaveInterval)
        var marks: [(id: Int64, mark: TimeMark)] = []
        do {
            if saveCounters {
                try writeCounters(staged.mapValues(\.state))
            }
            for (id, entry) in staged where entry.maxTimestamp != .min {
                marks.append((id, try indexTime(partitionID: id, entry)))
            }
            if !stagedSequences.isEmpty {
                let upsert = try db.cached("""
                    INSERT INTO __brook_producer_sequences (producer_id, partition_id, epoch, last_sequence, recent) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (producer_id, partition_id) DO UPDATE SET
                        epoch = excluded.epoch, last_sequence = excluded.last_sequence, recent = excluded.recent
                    """)
                for (key, state) in stagedSequences {
                    try upsert.bind(key.producer, at: 1)
                    try upsert.bind(key.partition, at: 2)
                    try upsert.bind(Int64(state.epoch), at: 3)
                    try upsert.bind(Int64(state.lastSequence), at: 4)
                    try upsert.bind(state.encodedRecent, at: 5)
                    try upsert.run()
                }
            }
            if !stagedEpochs.isEmpty {
                let bump = try db.cached("UPDATE __brook_producers SET epoch = ?, updated_ms = ? WHERE producer_id = ? AND epoch < ?")
                for (id, epoch) in stagedEpochs {
                    try bump.bind(Int64(epoch), at: 1)
                    try bump.bind(WallClock.nowMillis(), at: 2)
                    try bump.bind(id, at: 3)
                    try bump.bind(Int64(epoch), at: 4)
                    try bump.run()
                }
            }
            try db.cached("COMMIT").run()
        } catch {
            rollback()
            throw error
        }
        for (id, mark) in marks { timeMarks[id] = mark }
        if saveCounters {
            unsavedCounters.removeAll(keepingCapacity: true)
            unsavedRecords = 0
            countersSavedAt = .now
        } else {
            for (id, entry) in staged { unsavedCounters[id] = (entry.topic, entry.index) }
            unsavedRecords += appendedRecords
        }
        var changes: [PartitionChange] = []
        changes.reserveCapacity(staged.count)
        for (id, entry) in staged {
            topics[entry.topic]?.partitions[entry.index].state = entry.state
            changes.append(PartitionChange(topic: entry.topic, partition: entry.index, partitionID: id, state: entry.state, appended: entry.appended))
        }
        staged.removeAll(keepingCapacity: true)
        sequences.merge(stagedSequences) { _, new in new }
        stagedSequences.removeAll(keepingCapacity: true)
        producerEpochs.merge(stagedEpochs) { _, new in new }
        stagedEpochs.removeAll(keepingCapacity: true)
        return changes
    }

    /// Adds a row to `__brook_time_index` when a partition has grown by
    /// ``Schema/timeIndexInterval`` records since its last one, inside the open transaction.
    /// - Returns: the partition's time mark after this transaction, to keep once it commits.
    private func indexTime(partitionID id: Int64, _ entry: StagedPartition) throws(SQLiteError) -> TimeMark {
        var mark: TimeMark
        if let known = timeMarks[id] {
            mark = known
        } else {
            mark = try loadTimeMark(partitionID: id, topic: entry.topic, index: entry.index)
        }
        mark.maxTimestamp = max(mark.maxTimestamp, entry.maxTimestamp)
        let last = entry.state.nextOffset - 1
        if last - mark.indexedOffset >= Schema.timeIndexInterval {
            let upsert = try db.cached("""
                INSERT INTO __brook_time_index (partition_id, max_timestamp, offset) VALUES (?, ?, ?)
                ON CONFLICT (partition_id, max_timestamp) DO UPDATE SET offset = excluded.offset
                """)
            try upsert.bind(id, at: 1)
            try upsert.bind(mark.maxTimestamp, at: 2)
            try upsert.bind(last, at: 3)
            try upsert.run()
            mark.indexedOffset = last
        }
        return mark
    }

    /// A partition's time mark from the file: its last time index row, and the largest timestamp
    /// of the (about ``Schema/timeIndexInterval`` at most) records after it.
    private func loadTimeMark(partitionID id: Int64, topic name: String, index: Int) throws(SQLiteError) -> TimeMark {
        let row = try db.cached("SELECT max_timestamp, offset FROM __brook_time_index WHERE partition_id = ? ORDER BY max_timestamp DESC LIMIT 1")
        defer { row.reset() }
        try row.bind(id, at: 1)
        var mark = try row.step() ? TimeMark(maxTimestamp: row.int64(0), indexedOffset: row.int64(1)) : TimeMark(maxTimestamp: .min, indexedOffset: -1)
        row.reset()
        guard let topic = topics[name] else { return mark }
        let tail = try db.cached("SELECT max(timestamp) FROM \"\(LogNames.table(topicID: topic.id))\" WHERE position > ? AND position < ?")
        defer { tail.reset() }
        try tail.bind(LogNames.position(partition: index, offset: max(-1, mark.indexedOffset)), at: 1)
        try tail.bind(LogNames.firstPosition(partition: index + 1), at: 2)
        if try tail.step(), !tail.isNull(0) { mark.maxTimestamp = max(mark.maxTimestamp, tail.int64(0)) }
        return mark
    }

    /// Writes the counters of the staged partitions (`pending`) and of every partition whose row
    /// trails its log, inside the open transaction.
    private func writeCounters(_ pending: [Int64: PartitionState]) throws(SQLiteError) {
        let updates = try db.cached("UPDATE __brook_partitions SET next_offset = ?, bytes = ? WHERE id = ?")
        func write(_ id: Int64, _ state: PartitionState) throws(SQLiteError) {
            try updates.bind(state.nextOffset, at: 1)
            try updates.bind(state.bytes, at: 2)
            try updates.bind(id, at: 3)
            try updates.run()
        }
        for (id, state) in pending { try write(id, state) }
        for (id, place) in unsavedCounters where pending[id] == nil {
            guard let partition = topics[place.topic]?.partitions[safe: place.index], partition.id == id else { continue }
            try write(id, partition.state)
        }
    }

    /// Saves the counters' rows that trail their logs, in a transaction of their own: when the
    /// writer goes idle for ``counterSaveInterval`` and when it closes.
    public func saveCounters() throws(BrookError) {
        guard !unsavedCounters.isEmpty else { return }
        do {
            try db.transaction { try writeCounters([:]) }
        } catch let error as SQLiteError {
            throw BrookError(error, while: "saving partition counters")
        } catch {
            throw BrookError(.unknownServerError, "saving partition counters: \(error)")
        }
        unsavedCounters.removeAll(keepingCapacity: true)
        unsavedRecords = 0
        countersSavedAt = .now
    }

    /// Abandons the open transaction and its staged counters.
    public func rollback() {
        db.rollback()
        staged.removeAll(keepingCapacity: true)
        stagedSequences.removeAll(keepingCapacity: true)
        stagedEpochs.removeAll(keepingCapacity: true)
        stagedCommits = 0
    }

    // MARK: Retention

    /// What one retention chunk removed from a partition.
    public struct PruneResult: Sendable, Hashable {
        public var deletedRecords: Int
        public var deletedBytes: Int64
        public var change: PartitionChange?
        /// The chunk was full: more records may be due.
        public var mayHaveMore: Bool

        public init(deletedRecords: Int = 0, deletedBytes: Int64 = 0, change: PartitionChange? = nil, mayHaveMore: Bool = false) {
            self.deletedRecords = deletedRecords
            self.deletedBytes = deletedBytes
            self.change = change
            self.mayHaveMore = mayHaveMore
        }
    }

    /// Deletes at most `maxRecords` records from the head of a partition that are older than
    /// `retention.ms` or beyond `retention.bytes`, in one short transaction, and advances the
    /// log-start offset. Deletion stops at the first record that is due for neither, so the log
    /// stays contiguous.
    public func prune(topic name: String, partition index: Int, now: Int64, maxRecords: Int) throws(BrookError) -> PruneResult {
        guard let topic = topics[name] else { throw BrookError.unknownTopic(name) }
        let partition = try topic.partition(index)
        let config = topic.config
        var result = PruneResult(deletedRecords: 0, deletedBytes: 0, change: nil, mayHaveMore: false)
        if config.retentionMs < 0 && config.retentionBytes < 0 { return result }
        if partition.state.recordCount == 0 { return result }
        let cutoff = config.retentionMs < 0 ? Int64.min : now - config.retentionMs
        let table = LogNames.table(topicID: topic.id)
        do {
            var state = partition.state
            try db.transaction {
                // Each record's size as ``ProducerRecord/size`` measures it.
                let scan = try db.cached("""
                    SELECT position, timestamp,
                        coalesce(length(CAST(key AS BLOB)), 0) + brook_header_bytes(headers) + coalesce(length(CAST(value AS BLOB)), 0)
                    FROM "\(table)" WHERE position >= ? AND position < ? ORDER BY position LIMIT ?
                    """)
                defer { scan.reset() }
                try scan.bind(LogNames.firstPosition(partition: index), at: 1)
                try scan.bind(LogNames.firstPosition(partition: index + 1), at: 2)
                try scan.bind(maxRecords, at: 3)
                var newStart = state.logStartOffset
                var remaining = state.bytes
                var scanned = 0
                while try scan.step() {
                    scanned += 1
                    let size = scan.int64(2)
                    let expired = scan.int64(1) < cutoff
                    let overSize = config.retentionBytes >= 0 && remaining > config.retentionBytes
                    guard expired || overSize else { break }
                    remaining -= size
                    newStart = (scan.int64(0) & LogNames.offsetMask) + 1
                    result.deletedRecords += 1
                    result.deletedBytes += size
                }
                scan.reset()
                guard result.deletedRecords > 0 else { return }
                try deleteHead(table: table, partitionID: partition.id, index: index, before: newStart)
                state.logStartOffset = newStart
                state.bytes = max(0, remaining)
                // All three counters: the row may trail the log (see ``commit()``), and an
                // emptied partition keeps its next offset only here.
                let update = try db.cached("UPDATE __brook_partitions SET log_start_offset = ?, next_offset = ?, bytes = ? WHERE id = ?")
                try update.bind(state.logStartOffset, at: 1)
                try update.bind(state.nextOffset, at: 2)
                try update.bind(state.bytes, at: 3)
                try update.bind(partition.id, at: 4)
                try update.run()
                result.mayHaveMore = scanned == maxRecords && result.deletedRecords == scanned
            }
            if result.deletedRecords > 0 {
                topics[name]?.partitions[index].state = state
                unsavedCounters[partition.id] = nil
                result.change = PartitionChange(topic: name, partition: index, partitionID: partition.id, state: state)
            }
            return result
        } catch let error as SQLiteError {
            throw BrookError(error, while: "pruning \(name)-\(index)")
        } catch {
            throw BrookError(.unknownServerError, "pruning \(name)-\(index): \(error)")
        }
    }

    /// Kafka's DeleteRecords: deletes at most `maxRecords` records from the head of a partition,
    /// those below `offset`, in one short transaction, and advances the log-start offset (never
    /// backwards). Like retention, it keeps the log contiguous.
    /// - Throws: `OFFSET_OUT_OF_RANGE` for an offset above the high watermark.
    public func deleteRecords(topic name: String, partition index: Int, before offset: Int64, maxRecords: Int) throws(BrookError) -> PruneResult {
        guard let topic = topics[name] else { throw BrookError.unknownTopic(name) }
        let partition = try topic.partition(index)
        var state = partition.state
        guard offset >= 0, offset <= state.nextOffset else {
            throw BrookError(
                .offsetOutOfRange,
                "offset \(offset) is out of range for \(name)-\(index): records can be deleted up to the high watermark \(state.nextOffset)")
        }
        let newStart = min(offset, state.logStartOffset + Int64(maxRecords))
        var result = PruneResult()
        guard newStart > state.logStartOffset else { return result }
        let table = LogNames.table(topicID: topic.id)
        do {
            try db.transaction {
                let measure = try db.cached("""
                    SELECT count(*), coalesce(sum(coalesce(length(CAST(key AS BLOB)), 0) + brook_header_bytes(headers)
                        + coalesce(length(CAST(value AS BLOB)), 0)), 0)
                    FROM "\(table)" WHERE position >= ? AND position < ?
                    """)
                defer { measure.reset() }
                try measure.bind(LogNames.firstPosition(partition: index), at: 1)
                try measure.bind(LogNames.position(partition: index, offset: newStart), at: 2)
                _ = try measure.step()
                result.deletedRecords = Int(measure.int64(0))
                result.deletedBytes = measure.int64(1)
                measure.reset()
                try deleteHead(table: table, partitionID: partition.id, index: index, before: newStart)
                state.logStartOffset = newStart
                state.bytes = max(0, state.bytes - result.deletedBytes)
                let update = try db.cached("UPDATE __brook_partitions SET log_start_offset = ?, next_offset = ?, bytes = ? WHERE id = ?")
                try update.bind(state.logStartOffset, at: 1)
                try update.bind(state.nextOffset, at: 2)
                try update.bind(state.bytes, at: 3)
                try update.bind(partition.id, at: 4)
                try update.run()
            }
            topics[name]?.partitions[index].state = state
            unsavedCounters[partition.id] = nil
            result.change = PartitionChange(topic: name, partition: index, partitionID: partition.id, state: state)
            result.mayHaveMore = newStart < offset
            return result
        } catch let error as SQLiteError {
            throw BrookError(error, while: "deleting records of \(name)-\(index)")
        } catch {
            throw BrookError(.unknownServerError, "deleting records of \(name)-\(index): \(error)")
        }
    }

    /// Deletes a partition's records below `offset`, and the time index rows that only describe
    /// them, inside the open transaction.
    private func deleteHead(table: String, partitionID: Int64, index: Int, before offset: Int64) throws {
        let delete = try db.cached("DELETE FROM \"\(table)\" WHERE position >= ? AND position < ?")
        try delete.bind(LogNames.firstPosition(partition: index), at: 1)
        try delete.bind(LogNames.position(partition: index, offset: offset), at: 2)
        try delete.run()
        let unindex = try db.cached("DELETE FROM __brook_time_index WHERE partition_id = ? AND offset < ?")
        try unindex.bind(partitionID, at: 1)
        try unindex.bind(offset, at: 2)
        try unindex.run()
    }

    // MARK: Checkpoints

    public enum CheckpointMode: Sendable {
        /// Copies what it can without waiting for readers or the writer.
        case passive
        /// Copies everything and truncates the WAL to zero bytes; waits for readers.
        case truncate
    }

    /// Runs a WAL checkpoint on the write connection; returns frames left in the WAL.
    /// - Parameter maxWaitMs: how long a TRUNCATE may wait for readers (the connection's busy
    ///   timeout otherwise); when they do not finish in time, the WAL is left as it is.
    @discardableResult
    public func checkpoint(_ mode: CheckpointMode, maxWaitMs: Int32? = nil) throws(BrookError) -> Int {
        if let maxWaitMs { sqlite3_busy_timeout(db.handle, maxWaitMs) }
        defer { if maxWaitMs != nil { sqlite3_busy_timeout(db.handle, 10_000) } }
        var logFrames: Int32 = 0
        var checkpointed: Int32 = 0
        let code = sqlite3_wal_checkpoint_v2(
            db.handle, nil, mode == .passive ? SQLITE_CHECKPOINT_PASSIVE : SQLITE_CHECKPOINT_TRUNCATE,
            &logFrames, &checkpointed)
        if code != SQLITE_OK && code != SQLITE_BUSY {
            throw BrookError(SQLiteError(connection: db.handle, code: code), while: "checkpointing the WAL")
        }
        if code == SQLITE_OK && mode == .truncate { walCounter.pages = 0 }
        return max(0, Int(logFrames - checkpointed))
    }

    /// Caps the database file at about `bytes` (SQLite's `max_page_count`): a write that would
    /// grow it further fails as if the disk were full, and nothing of it is kept.
    public func limitSize(toBytes bytes: Int64) throws(BrookError) {
        do {
            let pageSize = try db.scalarInt("PRAGMA page_size") ?? 4_096
            try db.execute("PRAGMA max_page_count = \(max(1, bytes / pageSize))")
        } catch {
            throw BrookError(error, while: "setting the database size limit")
        }
    }

    /// Closes the write connection and gives up the file to other Brook processes, after the
    /// last write (the broker's close, once its readers are closed: see ``FileLock``).
    public func close() {
        inserts.removeAll()
        db.close()
        lock.release()
    }

    /// Why the database path no longer reaches the file this writer opened (deleted, renamed or
    /// replaced), or nil while it does. A `stat` and an `fstat`: about a microsecond.
    public func fileChange() -> String? {
        lock.fileChange()
    }

    /// Runs SQL on the write connection. For tests and tools; not for the hot path.
    public func execute(_ sql: String) throws(SQLiteError) {
        try db.execute(sql)
    }
}

/// Calls `body` with the bytes of an optional array, or `nil`.
@inline(__always)
func withOptionalBytes<R>(_ bytes: [UInt8]?, _ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
    if let bytes {
        return try bytes.withUnsafeBytes { try body($0) }
    }
    return try body(nil)
}

/// Receives SQLite's WAL hook: the page count after each commit.
final class WALCounter {
    var pages = 0

    func install(on handle: OpaquePointer) {
        sqlite3_wal_hook(
            handle,
            { context, _, _, pages in
                Unmanaged<WALCounter>.fromOpaque(context!).takeUnretainedValue().pages = Int(pages)
                return SQLITE_OK
            },
            Unmanaged.passUnretained(self).toOpaque())
    }
}
