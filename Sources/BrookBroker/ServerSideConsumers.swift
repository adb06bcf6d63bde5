import BrookModel
import BrookStore
import Logging

/// Records a POLL returned, by partition.
public struct PollResult: Sendable {
    public var records: [(partition: TopicPartition, records: [Record])]
    /// The group is rebalancing: rejoin soon (cooperative members keep what they own meanwhile).
    public var rebalancing: Bool
    public var count: Int { records.reduce(0) { $0 + $1.records.count } }
}

/// Brook's server-side consumers: group members whose positions the server keeps, so a client
/// needs no state of its own — it JOINs, POLLs, and rejoins when told. Each member joins the
/// ``GroupCoordinator`` like any other (protocol type "consumer", its subscription in the consumer
/// protocol's format); this type adds what Kafka keeps in the client: positions, seek, pause,
/// auto-commit, and leaving when the member's connection closes.
public actor ServerSideConsumers {
    /// A JOIN of a server-side consumer.
    public struct JoinRequest: Sendable {
        public var group: String
        /// Empty for a new member; the coordinator issues the id.
        public var memberID: String = ""
        /// `group.instance.id`: a static member keeps its partitions across restarts within its
        /// session timeout, and its connection closing is not a leave.
        public var instanceID: String?
        public var clientID: String = "brook"
        public var clientHost: String = ""
        public var topics: [String]
        public var sessionTimeoutMs: Int64 = GroupDefaults.sessionTimeoutMs
        public var rebalanceTimeoutMs: Int64 = GroupDefaults.rebalanceTimeoutMs
        public var mode: AssignmentMode = .coordinator
        /// Strategy names in order of preference; in coordinator mode, built-in ones.
        public var strategies: [String] = [AssignmentStrategy.range.rawValue]
        /// The member's own metadata, which the leader sees (the subscription's user data).
        public var userData: [UInt8]?
        public var rebalance: RebalanceProtocol = .eager
        /// Acknowledged positions are committed at most this often (0: never).
        public var autoCommitMs: Int64 = 0
        public var autoOffsetReset: OffsetResetPolicy = .latest
        /// A shorter initial rebalance delay for a group this join starts (see
        /// ``JoinGroupRequest/initialRebalanceDelayMs``).
        public var initialRebalanceDelayMs: Int64?
        /// Identifies the connection, so its dynamic members leave when it closes.
        public var connection: UInt64 = 0

        public init(group: String, topics: [String]) {
            self.group = group
            self.topics = topics
        }
    }

    final class Member {
        let group: String
        var id: String
        let instanceID: String?
        var connection: UInt64
        var rebalance: RebalanceProtocol
        /// The generation whose assignment ``assignment`` is.
        var assignedGeneration = -1
        var assignment: Set<TopicPartition> = []
        var positions: [TopicPartition: Int64] = [:]
        var acknowledged: [TopicPartition: Int64] = [:]
        var delivered: [TopicPartition: Int64] = [:]
        var lastCommitted: [TopicPartition: Int64] = [:]
        var paused: Set<TopicPartition> = []
        var autoCommitMs: Int64
        var lastAutoCommit: ContinuousClock.Instant
        var autoOffsetReset: OffsetResetPolicy
        var pollCursor = 0

        init(id: String, request: JoinRequest, now: ContinuousClock.Instant) {
            group = request.group
            self.id = id
            instanceID = request.instanceID
            connection = request.connection
            rebalance = request.rebalance
            autoCommitMs = request.autoCommitMs
            lastAutoCommit = now
            autoOffsetReset = request.autoOffsetReset
        }
    }

    public let broker: Broker
    private var coordinator: GroupCoordinator { broker.groups }
    /// Members by group, then by member id.
    private var members: [String: [String: Member]] = [:]
    private let logger: Logger

    public init(broker: Broker) {
        self.broker = broker
        logger = broker.options.logger
        broker.groups.addListener { [weak self] event in
            Task { await self?.handle(event) }
        }
    }

    private var now: ContinuousClock.Instant { broker.options.clock.now }

    private func handle(_ event: GroupEvent) {
        switch event {
        case .rebalancing(let group):
            // Long POLLs of the group's members return now, so they can rejoin.
            var ids: [Int64] = []
            for member in members[group]?.values ?? [:].values {
                for tp in member.assignment {
                    if let id = try? broker.state.topic(tp.topic).partition(tp.partition).id { ids.append(id) }
                }
            }
            if !ids.isEmpty { broker.state.wake(partitionIDs: ids) }
        case .memberRemoved(let group, let memberID):
            forget(group, memberID)
        }
    }

    private func forget(_ group: String, _ memberID: String) {
        members[group]?[memberID] = nil
        if members[group]?.isEmpty == true { members[group] = nil }
    }

    // MARK: Membership

    /// JOIN: joins (or rejoins) through the coordinator and waits until the rebalance completes.
    public func join(_ request: JoinRequest) async throws -> JoinResult {
        guard !request.topics.isEmpty else { throw BrookError(.invalidRequest, "JOIN needs at least one topic to subscribe to") }
        for topic in request.topics {
            try TopicName.validate(topic)
            // A new member naming a misspelled topic joined with nothing assigned, after the
            // initial delay. A member rejoining keeps a subscription whose topic was deleted since.
            if request.memberID.isEmpty { _ = try broker.state.topic(topic) }
        }
        let existing = request.memberID.isEmpty ? nil : members[request.group]?[request.memberID]
        if let existing {
            // Rejoining means the records handed out so far were processed.
            await acknowledgeAndAutoCommit(existing, force: true)
        }
        let subscription = ConsumerProtocol.Subscription(
            topics: request.topics, userData: request.userData, ownedPartitions: existing?.assignment.sorted() ?? [],
            generationID: Int32(clamping: existing?.assignedGeneration ?? -1))
        let metadata = subscription.encoded()
        var join = JoinGroupRequest(group: request.group, protocols: request.strategies.map { GroupProtocol(name: $0, metadata: metadata) })
        join.memberID = request.memberID
        join.instanceID = request.instanceID
        join.clientID = request.clientID
        join.clientHost = request.clientHost
        join.sessionTimeoutMs = request.sessionTimeoutMs
        join.rebalanceTimeoutMs = request.rebalanceTimeoutMs
        join.mode = request.mode
        join.rebalance = request.rebalance
        join.initialRebalanceDelayMs = request.initialRebalanceDelayMs
        let joined = try await coordinator.join(join)

        let member = adopt(joined.memberID, request)
        if let bytes = joined.assignment, member.assignedGeneration != joined.generation {
            apply(try ConsumerProtocol.Assignment(decoding: bytes).partitions, generation: joined.generation, to: member)
        }
        return JoinResult(
            generation: joined.generation, memberID: joined.memberID, leaderID: joined.leaderID, protocolName: joined.protocolName,
            members: try joined.members.map {
                let subscription = try ConsumerProtocol.Subscription(decoding: $0.metadata)
                return GroupMemberInfo(memberID: $0.memberID, instanceID: $0.instanceID, topics: subscription.topics.sorted(), metadata: subscription.userData ?? [])
            },
            assignment: joined.assignment == nil ? nil : member.assignment.sorted())
    }

    /// The member's state after a join: its own, the state of the static member it replaces, or
    /// new.
    private func adopt(_ memberID: String, _ request: JoinRequest) -> Member {
        var group = members[request.group] ?? [:]
        defer { members[request.group] = group }
        let member: Member
        if let found = group[memberID] {
            member = found
        } else if let instance = request.instanceID, let replaced = group.values.first(where: { $0.instanceID == instance }) {
            group[replaced.id] = nil
            replaced.id = memberID
            member = replaced
        } else {
            member = Member(id: memberID, request: request, now: now)
        }
        group[memberID] = member
        member.connection = request.connection
        member.rebalance = request.rebalance
        member.autoCommitMs = request.autoCommitMs
        member.autoOffsetReset = request.autoOffsetReset
        return member
    }

    /// Takes a new generation's assignment: eager members drop every position, cooperative ones
    /// only those of partitions they lost.
    private func apply(_ partitions: [TopicPartition], generation: Int, to member: Member) {
        let new = Set(partitions)
        let revoked = member.assignment.subtracting(new)
        member.assignment = new
        member.assignedGeneration = generation
        member.paused.formIntersection(new)
        if member.rebalance == .cooperative {
            for tp in revoked {
                member.positions[tp] = nil
                member.delivered[tp] = nil
                member.acknowledged[tp] = nil
            }
        } else {
            member.positions = [:]
            member.delivered = [:]
            member.acknowledged = [:]
        }
    }

    /// SYNC: the leader hands in every member's partitions (leader mode), checked against the
    /// members' subscriptions; every member gets its own.
    public func sync(group: String, memberID: String, generation: Int, assignments: [String: [TopicPartition]]?) async throws -> [TopicPartition] {
        var encoded: [String: [UInt8]]?
        if let assignments {
            try await check(assignments, group: group, generation: generation)
            encoded = assignments.mapValues { ConsumerProtocol.Assignment(partitions: $0).encoded() }
        }
        let bytes = try await coordinator.sync(group: group, memberID: memberID, generation: generation, assignments: encoded)
        let partitions = try ConsumerProtocol.Assignment(decoding: bytes).partitions
        if let member = members[group]?[memberID], member.assignedGeneration != generation {
            apply(partitions, generation: generation, to: member)
        }
        return partitions.sorted()
    }

    /// A leader's assignment names members of the generation, partitions that exist of topics
    /// they subscribe to, and each partition once.
    private func check(_ assignments: [String: [TopicPartition]], group: String, generation: Int) async throws {
        let metadata = try await coordinator.memberMetadata(group: group, generation: generation)
        var seen = Set<TopicPartition>()
        for (memberID, partitions) in assignments {
            guard let bytes = metadata[memberID] else {
                throw BrookError(.invalidRequest, "the assignment names '\(memberID)', which is not a member of generation \(generation)")
            }
            let topics = Set((try? ConsumerProtocol.Subscription(decoding: bytes))?.topics ?? [])
            for tp in partitions {
                let count = (try? broker.state.topic(tp.topic).partitions.count) ?? 0
                guard topics.contains(tp.topic), tp.partition >= 0, tp.partition < count else {
                    throw BrookError(.invalidRequest, "the assignment gives \(tp) to \(memberID), which does not subscribe to it or it does not exist")
                }
                guard seen.insert(tp).inserted else {
                    throw BrookError(.invalidRequest, "the assignment gives \(tp) to more than one member")
                }
            }
        }
    }

    /// HEARTBEAT.
    public func heartbeat(group: String, memberID: String, generation: Int) async throws {
        try await coordinator.heartbeat(group: group, memberID: memberID, generation: generation)
    }

    /// LEAVE: acknowledged positions are committed (with auto-commit), then the member goes.
    public func leave(group: String, memberID: String) async throws {
        if let member = members[group]?[memberID] { await acknowledgeAndAutoCommit(member, force: true) }
        try await coordinator.leave(group: group, memberID: memberID)
        forget(group, memberID)
    }

    /// A connection closed: its dynamic members leave (static ones wait for their session timeout).
    public func connectionClosed(_ connection: UInt64) async {
        let leaving = members.values.flatMap(\.values).filter { $0.connection == connection && $0.instanceID == nil }
        for member in leaving {
            await acknowledgeAndAutoCommit(member, force: true)
            _ = try? await coordinator.leave(group: member.group, members: [LeavingMember(memberID: member.id)])
            forget(member.group, member.id)
        }
    }

    /// COMMIT, checked by the coordinator; auto-commit then skips what this stored.
    public func commit(group: String, memberID: String, generation: Int, offsets: [OffsetCommit]) async throws {
        try await coordinator.commit(group: group, memberID: memberID, generation: generation, offsets: offsets)
        if let member = members[group]?[memberID] {
            for commit in offsets { member.lastCommitted[TopicPartition(commit.topic, commit.partition)] = commit.offset }
        }
    }

    // MARK: Poll

    /// Returns the next records of the member's assigned partitions from the positions kept for
    /// it, waiting up to `maxWait` for any. A POLL is also a heartbeat, and acknowledges the
    /// records of the member's previous POLL (auto-commit commits those).
    ///
    /// It reads through the broker's one fetch engine, like a FETCH: one multi-partition fetch
    /// per round whose deadline the broker keeps, woken by a commit to any assigned partition or
    /// by a rebalance of the group.
    public func poll(group groupID: String, memberID: String, generation: Int, maxRecords: Int, maxBytes: Int, maxWait: Duration) async throws -> PollResult {
        let time = broker.options.clock
        let deadline = time.now + maxWait
        var first = true
        while true {
            let state = try await coordinator.touch(group: groupID, memberID: memberID, generation: generation)
            guard let member = members[groupID]?[memberID] else {
                throw BrookError(.unknownMemberID, "member '\(memberID)' did not join group '\(groupID)' on this server; JOIN again")
            }
            let rebalancing = state != .stable
            if rebalancing && (member.rebalance != .cooperative || state == .completingRebalance) {
                if first { await acknowledgeAndAutoCommit(member, force: true) }
                throw BrookError(.rebalanceInProgress, "group '\(groupID)' is rebalancing: rejoin")
            }
            if member.assignedGeneration != generation {
                // A leader-assigned member that polls before its SYNC: the leader's assignment
                // for this generation is in.
                let bytes = try await coordinator.sync(group: groupID, memberID: memberID, generation: generation, assignments: nil)
                if member.assignedGeneration != generation {
                    apply(try ConsumerProtocol.Assignment(decoding: bytes).partitions, generation: generation, to: member)
                }
            }
            if first {
                await acknowledgeAndAutoCommit(member, force: false)
                first = false
            }
            // A cooperative member polling during a rebalance gets what is there, at once.
            let wait = rebalancing ? .zero : max(.zero, time.now.duration(to: deadline))
            let result = try await readAssigned(
                member, generation: generation, maxRecords: maxRecords, maxBytes: maxBytes, maxWait: wait, rebalancing: rebalancing)
            // Nothing yet, with time left: the wait was cut short (a rebalance woke it, retention
            // moved a position, the assignment changed); look at the group again.
            if result.count > 0 || rebalancing || time.now >= deadline {
                return result
            }
        }
    }

    /// One round of a POLL: a fetch from the unpaused assigned partitions at the member's
    /// positions (starting one further each round, so none starves), within the record and byte
    /// budgets, waiting up to `maxWait` for the first record.
    private func readAssigned(
        _ member: Member, generation: Int, maxRecords: Int, maxBytes: Int, maxWait: Duration, rebalancing: Bool
    ) async throws -> PollResult {
        let partitions = member.assignment.subtracting(member.paused).sorted()
        let start = partitions.isEmpty ? 0 : member.pollCursor % partitions.count
        member.pollCursor += 1
        var reads: [FetchRequest.Partition] = []
        for step in 0..<partitions.count {
            let tp = partitions[(start + step) % partitions.count]
            let position: Int64
            do {
                position = try await self.position(of: tp, for: member)
            } catch let error as BrookError where error.code == .unknownTopic || error.code == .unknownPartition {
                continue  // deleted since the assignment; the rebalance it triggers drops it
            }
            reads.append(FetchRequest.Partition(topic: tp.topic, partition: tp.partition, offset: position, maxBytes: maxBytes, maxRecords: maxRecords))
        }
        // The member may have rejoined or left while this actor awaited.
        var result = PollResult(records: [], rebalancing: rebalancing)
        guard isCurrent(member, generation: generation) else { return result }
        let response = try await broker.fetch(FetchRequest(
            partitions: reads, minBytes: 1, maxBytes: maxBytes, maxRecords: maxRecords, maxWait: maxWait, answersOnWake: true))
        for fetched in response.partitions {
            let tp = TopicPartition(fetched.topic, fetched.partition)
            // The group, a SEEK or another POLL may have moved on while this actor awaited.
            guard isCurrent(member, generation: generation), member.assignment.contains(tp), member.positions[tp] == fetched.offset else { continue }
            if let error = fetched.error {
                // Retention passed the position: the next round resets it per auto.offset.reset.
                // An unknown topic or partition was deleted: the rebalance it triggers drops it.
                if error.code == .offsetOutOfRange { member.positions[tp] = nil }
                continue
            }
            guard fetched.recordCount > 0 else { continue }
            member.positions[tp] = fetched.nextOffset
            member.delivered[tp] = fetched.nextOffset
            result.records.append((tp, fetched.sink.records))
        }
        return result
    }

    private func isCurrent(_ member: Member, generation: Int) -> Bool {
        member.assignedGeneration == generation && members[member.group]?[member.id] === member
    }

    /// SEEK: moves the member's position in an assigned partition.
    public func seek(group: String, memberID: String, partition tp: TopicPartition, offset: Int64) async throws {
        let member = try await assignedMember(group, memberID)
        guard member.assignment.contains(tp) else {
            throw BrookError(.unknownPartition, "\(tp) is not assigned to member '\(memberID)'")
        }
        guard offset >= 0 else { throw BrookError(.invalidRequest, "offset \(offset) is invalid: use 0 or more") }
        member.positions[tp] = offset
        member.delivered[tp] = offset
        member.acknowledged[tp] = offset
    }

    /// PAUSE and RESUME: stops (or resumes) returning records of these partitions from POLL.
    public func pause(group: String, memberID: String, partitions: [TopicPartition], paused: Bool) async throws {
        let member = try await assignedMember(group, memberID)
        for tp in partitions {
            guard member.assignment.contains(tp) else { throw BrookError(.unknownPartition, "\(tp) is not assigned to member '\(memberID)'") }
            if paused { member.paused.insert(tp) } else { member.paused.remove(tp) }
        }
    }

    private func assignedMember(_ group: String, _ memberID: String) async throws -> Member {
        guard await coordinator.isMember(group: group, memberID: memberID), let member = members[group]?[memberID] else {
            throw BrookError(.unknownMemberID, "member '\(memberID)' is not in group '\(group)'; JOIN again")
        }
        return member
    }

    private func position(of tp: TopicPartition, for member: Member) async throws -> Int64 {
        let partition = try broker.state.topic(tp.topic).partition(tp.partition)
        if let position = member.positions[tp], position >= partition.state.logStartOffset, position <= partition.state.nextOffset {
            return position
        }
        var position = member.positions[tp]
        if position == nil {
            position = try await broker.committedOffsets(group: member.group, topic: tp.topic).first { $0.partition == tp.partition }?.offset
        }
        if let found = position, found >= partition.state.logStartOffset, found <= partition.state.nextOffset {
            member.positions[tp] = found
        } else {
            switch member.autoOffsetReset {
            case .earliest: member.positions[tp] = partition.state.logStartOffset
            case .latest: member.positions[tp] = partition.state.nextOffset
            case .none:
                throw BrookError(.noOffset, "group '\(member.group)' has no valid committed offset for \(tp) and auto.offset.reset is none")
            }
        }
        member.acknowledged[tp] = member.acknowledged[tp] ?? member.positions[tp]
        member.delivered[tp] = member.delivered[tp] ?? member.positions[tp]
        return member.positions[tp]!
    }

    /// The records of the previous POLL count as processed; auto-commit writes them when due
    /// (always when `force`: before revocation or leaving), while the member is still one.
    private func acknowledgeAndAutoCommit(_ member: Member, force: Bool) async {
        for (tp, offset) in member.delivered where member.assignment.contains(tp) { member.acknowledged[tp] = offset }
        guard member.autoCommitMs > 0 else { return }
        guard force || now - member.lastAutoCommit >= .milliseconds(member.autoCommitMs) else { return }
        let due = member.acknowledged.filter { member.assignment.contains($0.key) && member.lastCommitted[$0.key] != $0.value }
        member.lastAutoCommit = now
        guard !due.isEmpty, await coordinator.isMember(group: member.group, memberID: member.id) else { return }
        do {
            try await broker.commitOffsets(group: member.group, due.map { OffsetCommit(topic: $0.key.topic, partition: $0.key.partition, offset: $0.value) })
            for (tp, offset) in due { member.lastCommitted[tp] = offset }
        } catch {
            logger.warning("auto-commit failed", metadata: ["group": "\(member.group)", "member": "\(member.id)", "error": "\(error)"])
        }
    }
}
