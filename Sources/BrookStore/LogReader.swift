import BrookModel
import CSQLite
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a range read found besides the records.
public struct ReadSummary: Sendable, Hashable {
    /// The partition's counters in the same snapshot as the records.
    public var state: PartitionState
    public var recordCount: Int
    public var bytes: Int
    /// The offset to read next: one past the last record returned, or the requested offset.
    public var nextFetchOffset: Int64
}

/// Calls `body` with the bytes of an optional array, or an empty buffer.
@inline(__always)
private func withOptionalCodecForm<R>(_ bytes: [UInt8]?, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
    if let bytes {
        return try bytes.withUnsafeBytes { try body($0) }
    }
    return try body(UnsafeRawBufferPointer(start: nil, count: 0))
}

/// A read-only connection for range reads, offset look-ups and backups. WAL lets many readers run
/// beside the writer; each sees a consistent snapshot per read. Not thread-safe: one thread at a
/// time.
///
/// Pragmas: opened read-only, `query_only=1`, `mmap_size=0` (pages come from the OS page cache
/// through `pread`: a mapping is remapped whenever the file grows, and inflates RSS) and
/// SQLite's default page cache. None of them makes the connection read
/// the schema: that waits for the first read.
public final class LogReader {
    public let path: String
    let db: Connection
    /// Turns stored headers back into the form fetches read, reusing its buffers.
    private let headers = HeaderJSONDecoder()

    public init(path: String) throws(BrookError) {
        self.path = path
        do {
            db = try Connection(path: path, mode: .readOnly)
            _ = brook_sqlite3_db_config_int(db.handle, SQLITE_DBCONFIG_DEFENSIVE, 1)
            try db.execute("""
                PRAGMA busy_timeout = 10000;
                PRAGMA query_only = 1;
                PRAGMA mmap_size = 0;
                """)
        } catch {
            throw BrookError(error, while: "opening a reader on '\(path)'")
        }
    }

    /// Reads records from `offset` on, at most `maxRecords` and `maxBytes` — but at least one
    /// record when one is there, so a record larger than `maxBytes` is never stuck (as Kafka).
    /// With `firstRecordAlways` false, `maxBytes` holds for the first record too (a fetch over
    /// several partitions waives the limit only for its first record).
    ///
    /// Throws `OFFSET_OUT_OF_RANGE` when `offset` is below the log start or above the high
    /// watermark; reading at the high watermark returns no records. With `end`, no record at or
    /// past it is read: a broker passes the high watermark it has published, which may trail
    /// what this read's snapshot already sees.
    ///
    /// Throws `CORRUPT_DATABASE`, naming the partition and the offset, when the log cannot
    /// produce a record it must hold: every offset from the log start to the high watermark is
    /// there (retention moves the log start in the same transaction as it deletes), so a missing
    /// one means a damaged page, never an empty answer that would stall a consumer.
    @discardableResult
    public func read(
        partitionID: Int64, from offset: Int64, maxRecords: Int, maxBytes: Int, end: Int64 = .max,
        firstRecordAlways: Bool = true, _ visit: (RecordView) throws -> Void
    ) throws -> ReadSummary {
        do {
            try db.cached("BEGIN").run()
            defer { try? db.cached("ROLLBACK").run() }
            let (state, table, index) = try partitionRow(partitionID)
            guard offset >= state.logStartOffset, offset <= state.nextOffset else {
                throw BrookError(
                    .offsetOutOfRange,
                    "offset \(offset) is out of range: the log starts at \(state.logStartOffset) and the high watermark is \(state.nextOffset)")
            }
            var summary = ReadSummary(state: state, recordCount: 0, bytes: 0, nextFetchOffset: offset)
            if offset == state.nextOffset || offset >= end || maxRecords <= 0 { return summary }
            let select = try db.cached(
                "SELECT position, timestamp, key, headers, value FROM \"\(table)\" WHERE position >= ? AND position < ? ORDER BY position LIMIT ?")
            defer { select.reset() }
            try select.bind(LogNames.position(partition: index, offset: offset), at: 1)
            try select.bind(LogNames.position(partition: index, offset: min(end, LogNames.offsetLimit)), at: 2)
            try select.bind(maxRecords, at: 3)
            var full = false
            do {
                while try select.step() {
                    let recordOffset = select.int64(0) & LogNames.offsetMask
                    if recordOffset != summary.nextFetchOffset {
                        throw try missing(partitionID, at: summary.nextFetchOffset, highWatermark: state.nextOffset)
                    }
                    let stored = select.bytes(3)
                    if let stored, !headers.decode(stored) {
                        throw BrookError(
                            .corruptDatabase,
                            "\(try describe(partitionID)) has unreadable headers at offset \(recordOffset): the database is damaged; restore it from a backup")
                    }
                    let accepted = try withOptionalCodecForm(stored == nil ? nil : headers.codecForm) { encodedHeaders -> Bool in
                        let view = RecordView(
                            offset: recordOffset, timestamp: select.int64(1), key: select.bytes(2),
                            encodedHeaders: encodedHeaders, value: select.bytes(4))
                        let size = view.size
                        if (summary.recordCount > 0 || !firstRecordAlways) && summary.bytes + size > maxBytes { return false }
                        try visit(view)
                        summary.bytes += size
                        return true
                    }
                    guard accepted else {
                        full = true
                        break
                    }
                    summary.recordCount += 1
                    summary.nextFetchOffset = recordOffset + 1
                }
            } catch let error as SQLiteError where error.isCorruption {
                throw BrookError(.corruptDatabase, "\(try describe(partitionID)) is damaged at or after offset \(summary.nextFetchOffset): \(error.message); restore it from a backup")
            }
            if !full && summary.recordCount < maxRecords && summary.nextFetchOffset < min(state.nextOffset, end) {
                throw try missing(partitionID, at: summary.nextFetchOffset, highWatermark: state.nextOffset)
            }
            return summary
        } catch let error as SQLiteError {
            throw BrookError(error, while: "reading \((try? describe(partitionID)) ?? "partition log \(partitionID)") from offset \(offset)")
        }
    }

    private func missing(_ partitionID: Int64, at offset: Int64, highWatermark: Int64) throws -> BrookError {
        BrookError(
            .corruptDatabase,
            "\(try describe(partitionID)) has no record at offset \(offset), below its high watermark \(highWatermark): the database is damaged; restore it from a backup")
    }

    /// "partition topic-N (table __brook_records_T)", for errors.
    private func describe(_ partitionID: Int64) throws -> String {
        let statement = try db.cached("""
            SELECT t.name, p.partition, t.id FROM __brook_partitions p JOIN __brook_topics t ON t.id = p.topic_id WHERE p.id = ?
            """)
        defer { statement.reset() }
        try statement.bind(partitionID, at: 1)
        guard try statement.step() else { return "partition log \(partitionID)" }
        return "partition \(statement.string(0) ?? "?")-\(statement.int64(1)) (table \(LogNames.table(topicID: statement.int64(2))))"
    }

    /// Reads records into memory; see ``read(partitionID:from:maxRecords:maxBytes:_:)``.
    public func readRecords(partitionID: Int64, from offset: Int64, maxRecords: Int, maxBytes: Int, end: Int64 = .max) throws -> (records: [Record], summary: ReadSummary) {
        var records: [Record] = []
        let summary = try read(partitionID: partitionID, from: offset, maxRecords: maxRecords, maxBytes: maxBytes, end: end) {
            records.append($0.record)
        }
        return (records, summary)
    }

    /// The committed counters of a partition, as this read's snapshot sees them. The next offset
    /// comes from the log when its saved row trails it (``LogWriter/commit()`` saves rows once a
    /// second); `bytes` is as last saved.
    public func partitionState(_ partitionID: Int64) throws -> PartitionState {
        try partitionRow(partitionID).state
    }

    /// A partition's counters (see ``partitionState(_:)``), its topic's log table and its index.
    private func partitionRow(_ partitionID: Int64) throws -> (state: PartitionState, table: String, index: Int) {
        let statement = try db.cached("SELECT log_start_offset, next_offset, bytes, topic_id, partition FROM __brook_partitions WHERE id = ?")
        defer { statement.reset() }
        try statement.bind(partitionID, at: 1)
        guard try statement.step() else {
            throw BrookError(.unknownPartition, "partition log \(partitionID) no longer exists (its topic was deleted)")
        }
        var state = PartitionState(logStartOffset: statement.int64(0), nextOffset: statement.int64(1), bytes: statement.int64(2))
        let table = LogNames.table(topicID: statement.int64(3))
        let index = Int(statement.int64(4))
        let last = try db.cached("SELECT position FROM \"\(table)\" WHERE position >= ? AND position < ? ORDER BY position DESC LIMIT 1")
        defer { last.reset() }
        try last.bind(LogNames.firstPosition(partition: index), at: 1)
        try last.bind(LogNames.firstPosition(partition: index + 1), at: 2)
        if try last.step() {
            state.nextOffset = max(state.nextOffset, (last.int64(0) & LogNames.offsetMask) + 1)
        }
        return (state, table, index)
    }

    /// The first record whose timestamp is at least `timestamp`, as Kafka's ListOffsets by time:
    /// the lowest such offset, whatever the order of timestamps in the log; `nil` when there is
    /// none.
    ///
    /// `__brook_time_index` bounds the search: its last row for the partition whose largest
    /// timestamp so far is below `timestamp` says no record up to its offset qualifies, so the
    /// scan starts after it. With timestamps that grow with offsets (the broker's time, or
    /// producers' clocks) the scan reads about ``Schema/timeIndexInterval`` records at most; a
    /// record far in the future followed by older ones makes the scan run until the first that
    /// qualifies.
    public func offset(forTimestamp timestamp: Int64, partitionID: Int64) throws -> (offset: Int64, timestamp: Int64)? {
        do {
            try db.cached("BEGIN").run()
            defer { try? db.cached("ROLLBACK").run() }
            let (_, table, index) = try partitionRow(partitionID)
            let bound = try db.cached(
                "SELECT offset FROM __brook_time_index WHERE partition_id = ? AND max_timestamp < ? ORDER BY max_timestamp DESC LIMIT 1")
            defer { bound.reset() }
            try bound.bind(partitionID, at: 1)
            try bound.bind(timestamp, at: 2)
            let from = try bound.step() ? bound.int64(0) + 1 : 0
            bound.reset()
            let statement = try db.cached(
                "SELECT position, timestamp FROM \"\(table)\" WHERE position >= ? AND position < ? AND timestamp >= ? ORDER BY position LIMIT 1")
            defer { statement.reset() }
            try statement.bind(LogNames.position(partition: index, offset: from), at: 1)
            try statement.bind(LogNames.firstPosition(partition: index + 1), at: 2)
            try statement.bind(timestamp, at: 3)
            return try statement.step() ? (statement.int64(0) & LogNames.offsetMask, statement.int64(1)) : nil
        } catch let error as SQLiteError {
            throw BrookError(error, while: "looking up an offset by timestamp")
        }
    }

    /// A group's committed offsets, optionally for one topic.
    public func committedOffsets(group: String, topic: String? = nil) throws -> [CommittedOffset] {
        do {
            let statement = try db.cached("""
                SELECT topic, partition, next_offset, metadata, committed_ms FROM __brook_committed_offsets
                WHERE group_id = ?1 AND (?2 IS NULL OR topic = ?2) ORDER BY topic, partition
                """)
            defer { statement.reset() }
            try statement.bind(group, at: 1)
            if let topic { try statement.bind(topic, at: 2) } else { try statement.bindNull(at: 2) }
            var offsets: [CommittedOffset] = []
            while try statement.step() {
                offsets.append(CommittedOffset(
                    group: group, topic: statement.string(0) ?? "", partition: Int(statement.int64(1)),
                    offset: statement.int64(2), metadata: statement.string(3) ?? "", committedMs: statement.int64(4)))
            }
            return offsets
        } catch {
            throw BrookError(error, while: "reading committed offsets of group '\(group)'")
        }
    }

    /// The groups that have committed offsets.
    public func groupsWithCommittedOffsets() throws -> [String] {
        do {
            let statement = try db.cached("SELECT DISTINCT group_id FROM __brook_committed_offsets ORDER BY group_id")
            defer { statement.reset() }
            var groups: [String] = []
            while try statement.step() { groups.append(statement.string(0) ?? "") }
            return groups
        } catch {
            throw BrookError(error, while: "listing groups")
        }
    }

    // MARK: Backup

    /// Writes a consistent, compacted copy of the whole database to `destination` with
    /// `VACUUM INTO` (one read snapshot; writers keep going), then opens the copy and checks it
    /// is a sound Brook database. The destination must not exist.
    public func backup(to destination: String) throws -> BackupReport {
        let started = WallClock.nowMillis()
        try BackupDestination.check(destination)
        do {
            // query_only guards this connection's reads; VACUUM INTO writes only the new file.
            try db.execute("PRAGMA query_only = 0")
            defer { try? db.execute("PRAGMA query_only = 1") }
            let vacuum = try db.prepare("VACUUM INTO ?")
            try vacuum.bind(destination, at: 1)
            try vacuum.run()
        } catch {
            if error.message.contains("output file already exists") {
                throw BrookError(.invalidRequest, "backup destination '\(destination)' already exists; choose a new path")
            }
            throw BrookError(error, while: "writing the backup to '\(destination)'")
        }
        do {
            let copy = try Connection(path: destination, mode: .readOnly)
            let applicationID = try copy.scalarInt("PRAGMA application_id") ?? 0
            let version = try copy.scalarInt("PRAGMA user_version") ?? 0
            let integrity = try copy.scalarString("PRAGMA integrity_check") ?? "no answer"
            let pages = try copy.scalarInt("PRAGMA page_count") ?? 0
            let pageSize = try copy.scalarInt("PRAGMA page_size") ?? 0
            guard applicationID == Int64(Schema.applicationID), integrity == "ok" else {
                throw BrookError(.storageError, "backup '\(destination)' failed its check: application_id \(applicationID), integrity_check '\(integrity)'")
            }
            return BackupReport(
                path: destination, bytes: pages * pageSize, schemaVersion: Int(version), integrity: integrity,
                durationMs: WallClock.nowMillis() - started)
        } catch let error as SQLiteError {
            throw BrookError(error, while: "checking the backup '\(destination)'")
        }
    }
}
