import BrookModel
import BrookWire
import NIOCore
import NIOFileSystem
import NIOPosix

/// A Brook client: admin calls, produce, fetch, list offsets, SQL and backups over one pipelined
/// connection. Every method may be called from many tasks at once.
public final class BrookClient: Sendable {
    public let connection: BrookConnection
    /// The limits the server announced in its greeting.
    public let limits: WireLimits

    public init(connection: BrookConnection) {
        self.connection = connection
        let greeting = connection.greeting
        var limits = WireLimits()
        if let value = try? greeting.int("max_line") { limits.maxLine = Int(value) }
        if let value = try? greeting.int("max_record_bytes") { limits.maxRecordBytes = Int(value) }
        if let value = try? greeting.int("max_request_bytes") { limits.maxRequestBytes = Int(value) }
        if let value = try? greeting.int("max_batch_records") { limits.maxBatchRecords = Int(value) }
        self.limits = limits
    }

    /// Connects to the server at `address`.
    public static func connect(to address: ServerAddress = ServerAddress(), credentials: Credentials? = nil, tls: ClientTLS? = nil) async throws -> BrookClient {
        BrookClient(connection: try await BrookConnection.connect(to: address, credentials: credentials, tls: tls))
    }

    public func close() async {
        await connection.close()
    }

    public func ping() async throws {
        try Reply.check(try await connection.send(.ping(nil)))
    }

    // MARK: Admin

    @discardableResult
    public func createTopic(_ name: String, partitions: Int = 1, config: TopicConfig = TopicConfig()) async throws -> TopicDescription {
        // The two newer settings only when set, so a server that predates them still creates topics.
        let settings = TopicSettings(
            partitions: partitions, retentionMs: config.retentionMs, retentionBytes: config.retentionBytes,
            maxMessageBytes: config.maxMessageBytes,
            messageTimestampType: config.messageTimestampType == .createTime ? nil : config.messageTimestampType,
            compressionType: config.compressionType == .producer ? nil : config.compressionType)
        return try single(try Reply.topics(try await connection.send(.topicCreate(name, settings))))
    }

    public func listTopics() async throws -> [TopicDescription] {
        try Reply.topics(try await connection.send(.topicList))
    }

    public func describeTopic(_ name: String) async throws -> TopicDescription {
        try single(try Reply.topics(try await connection.send(.topicDescribe(name))))
    }

    /// Raises the partition count and/or changes settings; unnamed settings keep their values.
    @discardableResult
    public func alterTopic(_ name: String, _ settings: TopicSettings) async throws -> TopicDescription {
        try single(try Reply.topics(try await connection.send(.topicAlter(name, settings))))
    }

    public func deleteTopic(_ name: String) async throws {
        try Reply.check(try await connection.send(.topicDelete(name)))
    }

    /// Partition counts of the named topics (all when none are named).
    public func partitionCounts(_ topics: [String] = []) async throws -> [String: Int] {
        try Reply.metadata(try await connection.send(.metadata(topics))).topics
    }

    private func single(_ topics: [TopicDescription]) throws -> TopicDescription {
        guard let topic = topics.first else { throw BrookError(.invalidRequest, "the server described no topic") }
        return topic
    }

    // MARK: Records

    /// Sends one PRODUCE. With ``Acks/noAck`` it returns at once, with offsets of -1.
    @discardableResult
    public func produce(topic: String, records: [ProducerRecord], acks: Acks = .leader) async throws -> [RecordPosition] {
        let request = Request.produce(topic: topic, acks: acks, records: records)
        if acks == .noAck {
            try await connection.sendWithoutReply(request)
            return records.map { RecordPosition(partition: $0.partition ?? -1, offset: -1) }
        }
        return try Reply.positions(try await connection.send(request))
    }

    /// Queues a PRODUCE for writing before returning (so batches submitted in turn are committed
    /// in turn) and returns its pending acknowledgement.
    public func submitProduce(topic: String, records: [ProducerRecord], acks: Acks = .leader, producer: ProducerIdentity? = nil) -> PendingProduce {
        PendingProduce(
            reply: connection.submit(.produce(topic: topic, acks: acks, records: records, producer: producer)), acks: acks,
            partitions: records.map { $0.partition ?? -1 })
    }

    /// A stateless fetch of one partition from `offset`, waiting up to `maxWait` for data.
    public func fetch(
        topic: String, partition: Int, offset: Int64, maxRecords: Int = FetchDefaults.maxRecords,
        maxBytes: Int = FetchDefaults.maxBytes, maxWait: Duration = .zero
    ) async throws -> FetchResult {
        let waitMs = maxWait.components.seconds * 1_000 + maxWait.components.attoseconds / 1_000_000_000_000_000
        return try Reply.fetched(try await connection.send(
            .fetch(topic: topic, partition: partition, offset: offset, maxRecords: maxRecords, maxBytes: maxBytes, maxWaitMs: waitMs)))
    }

    /// Fetches many partitions of a topic in one request, each from its own offset: one
    /// connection serves a topic of any size. `maxRecords` and `maxBytes` bound the whole answer;
    /// a partition's own failure (`OFFSET_OUT_OF_RANGE`…) comes back in its entry.
    public func fetch(
        topic: String, offsets: [PartitionOffset], maxRecords: Int = FetchDefaults.maxRecords,
        maxBytes: Int = FetchDefaults.maxBytes, maxWait: Duration = .zero
    ) async throws -> [PartitionFetchResult] {
        let waitMs = maxWait.components.seconds * 1_000 + maxWait.components.attoseconds / 1_000_000_000_000_000
        return try Reply.fetchedPartitions(try await connection.send(
            .fetchPartitions(topic: topic, offsets: offsets, maxRecords: maxRecords, maxBytes: maxBytes, maxWaitMs: waitMs)))
    }

    /// The earliest or latest offset, or the first at or after a time (`nil` when none is).
    public func listOffset(topic: String, partition: Int, _ spec: OffsetSpec) async throws -> ListedOffset? {
        try Reply.listedOffset(try await connection.send(.listOffsets(topic: topic, partition: partition, spec)))
    }

    // MARK: Groups

    public func listGroups() async throws -> [(group: String, state: String, members: Int)] {
        try Reply.groups(try await connection.send(.groupList))
    }

    // MARK: ACLs and users

    /// Adds an ACL rule (ALTER on the cluster).
    public func addAcl(_ binding: AclBinding) async throws {
        _ = try Reply.acls(try await connection.send(.acl(.add(binding))))
    }

    /// The rules a filter matches (DESCRIBE on the cluster).
    public func listAcls(_ filter: AclFilter = .all) async throws -> [AclBinding] {
        try Reply.acls(try await connection.send(.acl(.list(filter))))
    }

    /// Deletes the rules a filter matches and returns them (ALTER on the cluster).
    @discardableResult
    public func deleteAcls(_ filter: AclFilter) async throws -> [AclBinding] {
        try Reply.acls(try await connection.send(.acl(.delete(filter))))
    }

    /// Adds a user with verifiers derived on this side (super users only).
    public func addUser(_ name: String, isSuper: Bool, credentials: [ScramCredential]) async throws {
        try Reply.check(try await connection.send(.user(.add(name: name, isSuper: isSuper, credentials: credentials))))
    }

    /// Replaces a user's verifiers: one's own, or anyone's for a super user.
    public func changePassword(_ name: String, credentials: [ScramCredential]) async throws {
        try Reply.check(try await connection.send(.user(.passwd(name: name, credentials: credentials))))
    }

    public func deleteUser(_ name: String) async throws {
        try Reply.check(try await connection.send(.user(.delete(name))))
    }

    public func listUsers() async throws -> [UserSummary] {
        try Reply.users(try await connection.send(.user(.list)))
    }

    public func describeGroup(_ group: String) async throws -> GroupDescription {
        try Reply.group(try await connection.send(.groupDescribe(group)))
    }

    /// Rewrites a group's committed offsets on a topic to `target` ("earliest", "latest",
    /// "offset=N" or "timestamp=MS"); refused while the group has live members.
    @discardableResult
    public func resetGroup(_ group: String, topic: String, to target: GroupResetTarget) async throws -> [(TopicPartition, Int64)] {
        try Reply.committedOffsets(try await connection.send(.groupReset(group: group, topic: topic, target: target))).map { ($0.0, $0.1) }
    }

    /// The same, with the target as typed: `earliest`, `latest`, `offset=N` or `timestamp=MS`.
    public func resetGroup(_ group: String, topic: String, to target: String) async throws -> [(TopicPartition, Int64)] {
        try await resetGroup(group, topic: topic, to: try GroupResetTarget(target))
    }

    public func deleteGroup(_ group: String) async throws {
        try Reply.check(try await connection.send(.groupDelete(group)))
    }

    /// A group's committed offsets (next offset to read), optionally for one topic.
    public func committedOffsets(group: String, topic: String? = nil) async throws -> [(TopicPartition, Int64, metadata: String)] {
        try Reply.committedOffsets(try await connection.send(.offsets(group: group, topic: topic)))
    }

    // MARK: SQL and backup

    public func query(_ sql: String) async throws -> QueryResult {
        try Reply.rows(try await connection.send(.sql(sql)))
    }

    /// Streams a consistent copy of the server's database into a new file at `path`.
    /// - Returns: the bytes written and the server's integrity check ("ok").
    @discardableResult
    public func backup(to path: String) async throws -> (bytes: Int, integrity: String) {
        try BackupDestination.check(path)
        return try await FileSystem.shared.withFileHandle(forWritingAt: FilePath(path), options: .newFile(replaceExisting: false)) { file in
            let written = WrittenBytes()
            let head = try await connection.sendStreaming(.backup) { chunk in
                let offset = await written.add(chunk.readableBytes)
                try await file.write(contentsOf: chunk.readableBytesView, toAbsoluteOffset: Int64(offset))
            }
            let expected = Int(try head.int("stream") ?? -1)
            let total = await written.total
            guard total == expected else {
                throw BrookError(.storageError, "backup stream ended after \(total) of \(expected) bytes")
            }
            return (total, head.option("integrity") ?? "")
        }
    }
}

/// Running total of a streamed reply's bytes.
actor WrittenBytes {
    private(set) var total = 0

    /// Adds `count` and returns the total before it (the chunk's file offset).
    func add(_ count: Int) -> Int {
        defer { total += count }
        return total
    }
}

/// A PRODUCE on its way: await ``positions()`` for each record's partition and offset.
public struct PendingProduce: Sendable {
    let reply: EventLoopFuture<Frame>
    let acks: Acks
    let partitions: [Int]

    public func positions() async throws -> [RecordPosition] {
        try decode(try await reply.get())
    }

    /// Calls `callback` once with the outcome, on the connection's event loop, with no task of
    /// its own (as a Kafka producer's send callback). The callback must not block.
    public func whenComplete(_ callback: @escaping @Sendable (Result<[RecordPosition], Error>) -> Void) {
        reply.whenComplete { result in callback(result.flatMap { frame in Result { try decode(frame) } }) }
    }

    private func decode(_ frame: Frame) throws -> [RecordPosition] {
        if acks == .noAck { return partitions.map { RecordPosition(partition: $0, offset: -1) } }
        return try Reply.positions(frame)
    }
}
