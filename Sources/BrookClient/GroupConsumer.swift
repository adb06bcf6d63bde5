import BrookModel
import BrookWire

/// A client-side assignment strategy for leader-assigned groups: the group leader runs it over
/// every member's subscription and hands the result to the coordinator (Kafka's classic flow).
public protocol PartitionAssignor: Sendable {
    /// The strategy's name; every member of a group must offer it.
    var name: String { get }
    /// Each member's partitions, given the members and the partition count of each topic.
    func assign(members: [GroupMemberInfo], partitions: [String: Int]) -> [String: [TopicPartition]]
}

/// Settings of a ``GroupConsumer``, with Kafka's names and defaults.
public struct ConsumerConfiguration: Sendable {
    /// Who assigns partitions.
    public enum Assignment: Sendable {
        /// The coordinator, with built-in strategies in order of preference.
        case coordinator([AssignmentStrategy])
        /// The group leader (a client) with a custom assignor.
        case leader(any PartitionAssignor)
    }

    public var group: String
    public var topics: [String]
    public var clientID = "brook-consumer"
    /// `group.instance.id`: a static member.
    public var instanceID: String?
    public var sessionTimeoutMs: Int64 = GroupDefaults.sessionTimeoutMs
    /// `max.poll.interval.ms`: how long a rebalance waits for this member to rejoin.
    public var rebalanceTimeoutMs: Int64 = GroupDefaults.rebalanceTimeoutMs
    public var heartbeatIntervalMs: Int64 = GroupDefaults.heartbeatIntervalMs
    public var assignment = Assignment.coordinator([.range])
    public var rebalance = RebalanceProtocol.eager
    /// `enable.auto.commit`: commit the consumed positions every `autoCommitIntervalMs`.
    public var enableAutoCommit = true
    public var autoCommitIntervalMs: Int64 = 5_000
    public var autoOffsetReset = OffsetResetPolicy.latest
    /// How long a group this member starts (new or empty) waits for more members before its
    /// first assignment, when shorter than the server's `group.initial.rebalance.delay.ms`
    /// (3 s by default); `nil` leaves the server's.
    public var initialRebalanceDelayMs: Int64?
    public var maxPollRecords = FetchDefaults.maxRecords
    public var pollWaitMs: Int64 = 500

    public init(group: String, topics: [String]) {
        self.group = group
        self.topics = topics
    }
}

/// A record consumed from a group, with where it came from.
public struct ConsumedRecord: Sendable, Hashable {
    public var partition: TopicPartition
    public var record: Record
}

/// A consumer-group member: joins, heartbeats in the background, follows rebalances (eager or
/// cooperative) with revoke and assign callbacks, auto-commits at least once, and can commit,
/// seek, pause and resume. Records come from the coordinator's POLL, which keeps the positions.
public actor GroupConsumer {
    public private(set) var client: BrookClient
    public let configuration: ConsumerConfiguration
    public private(set) var memberID = ""
    public private(set) var generation = -1
    public private(set) var assignment: Set<TopicPartition> = []
    public private(set) var isLeader = false
    private var onRevoked: @Sendable ([TopicPartition]) async -> Void = { _ in }
    private var onAssigned: @Sendable ([TopicPartition]) async -> Void = { _ in }
    private var buffered: [ConsumedRecord] = []
    /// Next offset to read, per partition, as far as the application has consumed.
    private var consumed: [TopicPartition: Int64] = [:]
    private var committed: [TopicPartition: Int64] = [:]
    private var lastAutoCommit = ContinuousClock.now
    private var needsRejoin = true
    private var heartbeatTask: Task<Void, Never>?
    private var closed = false

    public init(client: BrookClient, configuration: ConsumerConfiguration) {
        self.client = client
        self.configuration = configuration
    }

    /// Callbacks run around every rebalance: revoked partitions before they go (commit there for
    /// exactly-what-was-processed), assigned ones when they arrive.
    public func onRebalance(
        revoked: @escaping @Sendable ([TopicPartition]) async -> Void, assigned: @escaping @Sendable ([TopicPartition]) async -> Void
    ) {
        onRevoked = revoked
        onAssigned = assigned
    }

    // MARK: Consuming

    /// The next batch of records, joining or rejoining the group first when needed.
    public func poll() async throws -> [ConsumedRecord] {
        if buffered.isEmpty { try await fill() }
        let batch = buffered
        buffered = []
        for item in batch { consumed[item.partition] = item.record.offset + 1 }
        return batch
    }

    /// The next record, one at a time. Asking for the next record means the previous one was
    /// processed; auto-commit commits only such positions, so delivery is at least once.
    public func next() async throws -> ConsumedRecord {
        try await autoCommitIfDue()
        while buffered.isEmpty { try await fill() }
        let item = buffered.removeFirst()
        consumed[item.partition] = item.record.offset + 1
        return item
    }

    private func fill() async throws {
        guard !closed else { throw BrookError(.brokerNotAvailable, "the consumer is closed") }
        do {
            try await fillOnce()
        } catch let error as BrookError where error.code == .brokerNotAvailable {
            // The broker went away (a restart): it forgot this member; reconnect and rejoin.
            await revoke(Array(assignment), commit: false)
            memberID = ""
            needsRejoin = true
            try await reconnect()
        }
    }

    private func reconnect() async throws {
        let deadline = ContinuousClock.now + .milliseconds(configuration.sessionTimeoutMs * 2)
        let address = client.connection.address
        while true {
            try await Task.sleep(for: .milliseconds(100))
            if let fresh = try? await BrookClient.connect(to: address, credentials: client.connection.credentials, tls: client.connection.tls) {
                await client.close()
                client = fresh
                return
            }
            if ContinuousClock.now > deadline {
                throw BrookError(.brokerNotAvailable, "the broker at \(address) did not come back within \(configuration.sessionTimeoutMs * 2) ms")
            }
        }
    }

    private func fillOnce() async throws {
        try await autoCommitIfDue()
        if needsRejoin {
            do {
                try await rejoin()
            } catch let error as BrookError where Self.retriable.contains(error.code) {
                // The group moved on while this member rejoined (another member arrived, the
                // leader's assignment came too late): rejoin again on the next call.
                try await lose(error)
                return
            }
        }
        do {
            let polled = try Reply.polled(try await client.connection.send(.poll(
                group: configuration.group, member: memberID, generation: generation, maxRecords: configuration.maxPollRecords,
                maxBytes: 16 * 1_048_576, maxWaitMs: configuration.pollWaitMs)))
            buffered += polled.records.filter { assignment.contains($0.0) }.map { ConsumedRecord(partition: $0.0, record: $0.1) }
            if polled.rebalancing { needsRejoin = true }
        } catch let error as BrookError where Self.retriable.contains(error.code) {
            try await lose(error)
        }
    }

    /// Errors that mean "rejoin", not "fail".
    static let retriable: Set<BrookError.Code> = [.rebalanceInProgress, .illegalGeneration, .unknownMemberID]

    /// Handles the coordinator's word that this member's generation is over.
    private func lose(_ error: BrookError) async throws {
        needsRejoin = true
        if error.code == .unknownMemberID {
            // Gone from the group (session timeout): its partitions are someone else's now.
            await revoke(Array(assignment), commit: false)
            memberID = ""
        }
    }

    private func rejoin() async throws {
        if configuration.rebalance == .eager, !assignment.isEmpty {
            // Eager: give up everything, committing what was consumed (allowed while the group
            // prepares its rebalance in this generation).
            await revoke(Array(assignment), commit: configuration.enableAutoCommit)
        }
        var options = JoinOptions(group: configuration.group, topics: configuration.topics)
        options.member = memberID
        options.instance = configuration.instanceID
        options.client = configuration.clientID
        options.sessionTimeoutMs = configuration.sessionTimeoutMs
        options.rebalanceTimeoutMs = configuration.rebalanceTimeoutMs
        options.rebalance = configuration.rebalance
        options.autoOffsetReset = configuration.autoOffsetReset
        options.initialRebalanceDelayMs = configuration.initialRebalanceDelayMs
        switch configuration.assignment {
        case .coordinator(let strategies):
            options.assignment = .coordinator
            options.strategies = strategies.map(\.rawValue)
        case .leader(let assignor):
            options.assignment = .leader
            options.strategies = [assignor.name]
        }
        let joined = try Reply.joined(try await sendHeld(.join(options)))
        memberID = joined.memberID
        generation = joined.generation
        isLeader = joined.leaderID == joined.memberID
        var partitions = joined.assignment ?? []
        if case .leader(let assignor) = configuration.assignment {
            var assignments: [String: [TopicPartition]]?
            if isLeader {
                let counts = try await client.partitionCounts(Array(Set(joined.members.flatMap(\.topics))))
                assignments = assignor.assign(members: joined.members, partitions: counts)
            }
            let synced = try Reply.assigned(try await sendHeld(
                .sync(group: configuration.group, member: memberID, generation: generation, assignments: assignments)))
            partitions = synced.partitions
        }
        let new = Set(partitions)
        let revoked = assignment.subtracting(new)
        let added = new.subtracting(assignment)
        await revoke(Array(revoked), commit: configuration.enableAutoCommit)
        assignment = new
        needsRejoin = false
        startHeartbeats()
        if !added.isEmpty { await onAssigned(added.sorted()) }
    }

    /// Sends a request the coordinator holds until the rebalance completes (JOIN, SYNC): up to
    /// the rebalance timeout while other members take their time. A cancelled task stops waiting:
    /// the connection closes, which fails the request (the consumer reconnects when used again)
    /// and tells the server this member is gone.
    private func sendHeld(_ request: Request) async throws -> Frame {
        let connection = client.connection
        return try await withTaskCancellationHandler {
            try await connection.send(request)
        } onCancel: {
            connection.channel.close(promise: nil)
        }
    }

    private func revoke(_ partitions: [TopicPartition], commit: Bool) async {
        guard !partitions.isEmpty else { return }
        if commit { try? await commitSync(only: Set(partitions)) }
        await onRevoked(partitions.sorted())
        for tp in partitions {
            assignment.remove(tp)
            consumed[tp] = nil
            committed[tp] = nil
        }
        buffered.removeAll { partitions.contains($0.partition) }
    }

    // MARK: Committing

    /// Commits the consumed positions and waits for the reply.
    public func commitSync() async throws {
        try await commitSync(only: nil)
    }

    /// Commits the consumed positions without waiting; a failure shows in the next commit.
    public func commitAsync() {
        let due = pendingCommits(only: nil)
        guard !due.isEmpty, memberID != "" else { return }
        for (tp, offset) in due { committed[tp] = offset }
        _ = client.connection.submit(.commit(group: configuration.group, member: memberID, generation: generation, offsets: due.map { CommittedPosition($0.key, $0.value) }))
    }

    private func commitSync(only partitions: Set<TopicPartition>?) async throws {
        let due = pendingCommits(only: partitions)
        guard !due.isEmpty, memberID != "" else { return }
        try Reply.check(try await client.connection.send(.commit(
            group: configuration.group, member: memberID, generation: generation, offsets: due.map { CommittedPosition($0.key, $0.value) })))
        for (tp, offset) in due { committed[tp] = offset }
    }

    private func pendingCommits(only partitions: Set<TopicPartition>?) -> [TopicPartition: Int64] {
        consumed.filter { (partitions?.contains($0.key) ?? true) && assignment.contains($0.key) && committed[$0.key] != $0.value }
    }

    private func autoCommitIfDue() async throws {
        guard configuration.enableAutoCommit, ContinuousClock.now - lastAutoCommit >= .milliseconds(configuration.autoCommitIntervalMs) else { return }
        lastAutoCommit = .now
        do {
            try await commitSync(only: nil)
        } catch let error as BrookError where Self.retriable.contains(error.code) {
            try await lose(error)
        }
    }

    // MARK: Positions

    /// Moves the position of an assigned partition; the next records start there.
    public func seek(_ partition: TopicPartition, to offset: Int64) async throws {
        try Reply.check(try await client.connection.send(.seek(group: configuration.group, member: memberID, partition, offset: offset)))
        buffered.removeAll { $0.partition == partition }
        consumed[partition] = offset
    }

    public func pause(_ partitions: [TopicPartition]) async throws {
        try Reply.check(try await client.connection.send(.pause(group: configuration.group, member: memberID, partitions, paused: true)))
        buffered.removeAll { partitions.contains($0.partition) }
    }

    public func resume(_ partitions: [TopicPartition]) async throws {
        try Reply.check(try await client.connection.send(.pause(group: configuration.group, member: memberID, partitions, paused: false)))
    }

    // MARK: Heartbeats and leaving

    private func startHeartbeats() {
        guard heartbeatTask == nil else { return }
        let interval = configuration.heartbeatIntervalMs
        heartbeatTask = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(interval))
                await self?.heartbeat()
            }
        }
    }

    private func heartbeat() async {
        guard !closed, !needsRejoin, memberID != "" else { return }
        do {
            try Reply.check(try await client.connection.send(.heartbeat(group: configuration.group, member: memberID, generation: generation)))
        } catch let error as BrookError where [.rebalanceInProgress, .illegalGeneration, .unknownMemberID, .fencedInstanceID].contains(error.code) {
            needsRejoin = true
            if error.code == .unknownMemberID { memberID = "" }
        } catch {}
    }

    /// Commits (with auto-commit on), leaves the group so it rebalances at once, and stops.
    public func close() async {
        guard !closed else { return }
        heartbeatTask?.cancel()
        if configuration.enableAutoCommit { try? await commitSync() }
        if memberID != "" {
            _ = try? await client.connection.send(.leave(group: configuration.group, member: memberID))
        }
        closed = true
    }

    /// Stops without leaving or committing, as a crash would (the session timeout removes a
    /// member that stops this way; a closed connection removes a dynamic one at once).
    public func abandon() {
        heartbeatTask?.cancel()
        closed = true
    }
}
