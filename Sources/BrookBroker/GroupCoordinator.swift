import BrookModel
import BrookStore
import Logging

/// A JoinGroup request.
public struct JoinRequest: Sendable {
    public var group: String
    /// Empty for a new member; the coordinator issues the id.
    public var memberID: String = ""
    /// `group.instance.id`: a static member keeps its partitions across restarts within its
    /// session timeout.
    public var instanceID: String?
    public var clientID: String = "brook"
    public var clientHost: String = ""
    public var topics: [String]
    public var sessionTimeoutMs: Int64 = 45_000
    public var rebalanceTimeoutMs: Int64 = 60_000
    public var mode: AssignmentMode = .coordinator
    /// Strategy names in order of preference; in coordinator mode, built-in strategy names.
    public var protocols: [(name: String, metadata: [UInt8])] = [("range", [])]
    public var rebalance: RebalanceProtocol = .eager
    /// Server-side auto-commit for POLL: acknowledged positions are committed at most this often
    /// (0: never).
    public var autoCommitMs: Int64 = 0
    public var autoOffsetReset: OffsetResetPolicy = .latest
    /// Identifies the connection, so its dynamic members leave when it drops.
    public var connection: UInt64 = 0

    public init(group: String, topics: [String]) {
        self.group = group
        self.topics = topics
    }
}

/// Records a POLL returned, by partition.
public struct PollResult: Sendable {
    public var records: [(partition: TopicPartition, records: [Record])]
    /// The group is rebalancing: rejoin soon (cooperative members keep what they own meanwhile).
    public var rebalancing: Bool
    public var count: Int { records.reduce(0) { $0 + $1.records.count } }
}

/// Kafka's group coordinator: membership by heartbeat and session timeout, rebalances with a new
/// generation, assignment by the leader or by a built-in strategy, eager or cooperative, static
/// members, committed offsets checked against the generation, and a POLL in which the coordinator
/// keeps each member's positions. State changes are serialized by the actor; no NIO, no protocol.
public actor GroupCoordinator {
    public struct Options: Sendable {
        /// `group.initial.rebalance.delay.ms`: how long a new group waits for more members.
        public var initialRebalanceDelayMs: Int64 = 3_000
        public var minSessionTimeoutMs: Int64 = 100
        public var maxSessionTimeoutMs: Int64 = 1_800_000
        public var maxMembersPerGroup = 1_000
        public init() {}
    }

    final class Member {
        var id: String
        let instanceID: String?
        var clientID: String
        var clientHost: String
        var topics: Set<String>
        var protocols: [(name: String, metadata: [UInt8])]
        var sessionTimeoutMs: Int64
        var rebalanceTimeoutMs: Int64
        var lastSeen: ContinuousClock.Instant
        var joinWaiter: CheckedContinuation<JoinResult, Error>?
        var syncWaiter: CheckedContinuation<[TopicPartition], Error>?
        /// Joined (or rejoined) in the rebalance under way.
        var joined = false
        var assignment: Set<TopicPartition> = []
        var connection: UInt64
        // POLL state.
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
            self.id = id
            instanceID = request.instanceID
            clientID = request.clientID
            clientHost = request.clientHost
            topics = Set(request.topics)
            protocols = request.protocols
            sessionTimeoutMs = request.sessionTimeoutMs
            rebalanceTimeoutMs = request.rebalanceTimeoutMs
            lastSeen = now
            connection = request.connection
            autoCommitMs = request.autoCommitMs
            lastAutoCommit = now
            autoOffsetReset = request.autoOffsetReset
        }

        func update(_ request: JoinRequest, now: ContinuousClock.Instant) -> Bool {
            let changed = topics != Set(request.topics) || protocols.map(\.name) != request.protocols.map(\.name)
            topics = Set(request.topics)
            protocols = request.protocols
            sessionTimeoutMs = request.sessionTimeoutMs
            rebalanceTimeoutMs = request.rebalanceTimeoutMs
            clientHost = request.clientHost
            clientID = request.clientID
            connection = request.connection
            autoCommitMs = request.autoCommitMs
            autoOffsetReset = request.autoOffsetReset
            lastSeen = now
            return changed
        }
    }

    final class Group {
        let id: String
        var state: GroupState = .empty
        var generation = 0
        var protocolName = ""
        var leaderID: String?
        var mode: AssignmentMode?
        var rebalance: RebalanceProtocol?
        var members: [String: Member] = [:]
        /// Join order, for choosing a leader.
        var order: [String] = []
        var staticMembers: [String: String] = [:]
        /// Member ids replaced by a newer member with the same instance id.
        var fenced: [String: String] = [:]
        var deadline: ContinuousClock.Instant?
        var timerEpoch = 0
        var initialDelayLimit: ContinuousClock.Instant?
        var followUpPending = false

        init(id: String) { self.id = id }

        var memberList: [Member] { order.compactMap { members[$0] } }
    }

    unowned let broker: Broker
    public let options: Options
    private var groups: [String: Group] = [:]
    private var sweeper: Task<Void, Never>?
    private var nextMemberNumber = 0
    private let logger: Logger

    init(broker: Broker, options: Options, logger: Logger) {
        self.broker = broker
        self.options = options
        self.logger = logger
    }

    private var now: ContinuousClock.Instant { ContinuousClock.now }

    // MARK: Join and sync

    /// JoinGroup: joins (or rejoins) and waits until the rebalance completes.
    public func join(_ request: JoinRequest) async throws -> JoinResult {
        try validate(request)
        startSweeper()
        let group = groups[request.group] ?? Group(id: request.group)
        groups[request.group] = group
        if !group.members.isEmpty, let mode = group.mode, mode != request.mode {
            throw BrookError(.inconsistentGroupProtocol, "group '\(group.id)' uses assignment=\(mode.rawValue); this member asked for \(request.mode.rawValue)")
        }
        if !group.members.isEmpty, let rebalance = group.rebalance, rebalance != request.rebalance {
            throw BrookError(.inconsistentGroupProtocol, "group '\(group.id)' uses rebalance=\(rebalance.rawValue); this member asked for \(request.rebalance.rawValue)")
        }
        let others = group.members.values.filter { $0.id != request.memberID }
        let names = Set(request.protocols.map(\.name))
        if !others.isEmpty, others.contains(where: { Set($0.protocols.map(\.name)).isDisjoint(with: names) }) {
            throw BrookError(.inconsistentGroupProtocol, "group '\(group.id)' has no assignment strategy in common with [\(request.protocols.map(\.name).joined(separator: ","))]")
        }
        if group.members.isEmpty {
            group.mode = request.mode
            group.rebalance = request.rebalance
        }

        let member: Member
        if request.memberID.isEmpty {
            if let instance = request.instanceID, let existingID = group.staticMembers[instance], let existing = group.members[existingID] {
                // A static member restarting: it takes a new id, the old one is fenced.
                let newID = issueMemberID(request.clientID)
                group.members[existingID] = nil
                group.members[newID] = existing
                group.order = group.order.map { $0 == existingID ? newID : $0 }
                group.fenced[existingID] = instance
                group.staticMembers[instance] = newID
                if group.leaderID == existingID { group.leaderID = newID }
                existing.id = newID
                let changed = existing.update(request, now: now)
                if group.state == .stable && !changed {
                    logger.info("static member rejoined without a rebalance", metadata: ["group": "\(group.id)", "instance": "\(instance)"])
                    return result(for: existing, in: group)
                }
                member = existing
                if group.state != .preparingRebalance { prepareRebalance(group, reason: "static member \(instance) rejoined with a changed subscription") }
            } else {
                guard group.members.count < options.maxMembersPerGroup else {
                    throw BrookError(.groupMaxSizeReached, "group '\(group.id)' has reached its limit of \(options.maxMembersPerGroup) members")
                }
                member = Member(id: issueMemberID(request.clientID), request: request, now: now)
                group.members[member.id] = member
                group.order.append(member.id)
                if let instance = request.instanceID { group.staticMembers[instance] = member.id }
                prepareRebalance(group, reason: "member \(member.id) joined")
            }
        } else {
            member = try lookup(group, request.memberID, instanceID: request.instanceID)
            // Rejoining means the records handed out so far were processed.
            await acknowledgeAndAutoCommit(group, member, force: true)
            guard group.members[member.id] === member else {
                throw BrookError(.unknownMemberID, "member '\(request.memberID)' was removed while rejoining; JOIN again")
            }
            let changed = member.update(request, now: now)
            switch group.state {
            case .preparingRebalance:
                break
            case .completingRebalance:
                if !changed, group.mode == .leader { return result(for: member, in: group) }
                prepareRebalance(group, reason: "member \(member.id) rejoined while the group was completing a rebalance")
            case .stable:
                if !changed && group.leaderID != member.id { return result(for: member, in: group) }
                prepareRebalance(group, reason: changed ? "member \(member.id) changed its subscription" : "member \(member.id) rejoined")
            case .empty, .dead:
                prepareRebalance(group, reason: "member \(member.id) rejoined an empty group")
            }
        }
        member.joined = true
        member.lastSeen = now
        return try await withCheckedThrowingContinuation { continuation in
            member.joinWaiter?.resume(throwing: BrookError(.rebalanceInProgress, "superseded by a newer JOIN of the same member"))
            member.joinWaiter = continuation
            tryCompleteJoin(group)
        }
    }

    /// SyncGroup: the leader hands in every member's assignment (leader mode); every member gets
    /// its own.
    public func sync(group groupID: String, memberID: String, generation: Int, assignments: [String: [TopicPartition]]?) async throws -> [TopicPartition] {
        let group = try existingGroup(groupID)
        let member = try lookup(group, memberID, instanceID: nil)
        guard generation == group.generation else { throw illegalGeneration(group, generation) }
        member.lastSeen = now
        switch group.state {
        case .preparingRebalance:
            throw BrookError(.rebalanceInProgress, "group '\(group.id)' is rebalancing: rejoin")
        case .stable:
            return member.assignment.sorted()
        case .empty, .dead:
            throw BrookError(.unknownMemberID, "group '\(group.id)' has no members")
        case .completingRebalance:
            if group.leaderID == member.id, let assignments {
                try applyLeaderAssignment(group, assignments)
                return member.assignment.sorted()
            }
            return try await withCheckedThrowingContinuation { continuation in
                member.syncWaiter?.resume(throwing: BrookError(.rebalanceInProgress, "superseded by a newer SYNC"))
                member.syncWaiter = continuation
            }
        }
    }

    private func applyLeaderAssignment(_ group: Group, _ assignments: [String: [TopicPartition]]) throws {
        let counts = try partitionCounts(Set(group.members.values.flatMap(\.topics)))
        var seen = Set<TopicPartition>()
        for (memberID, partitions) in assignments {
            guard let member = group.members[memberID] else {
                throw BrookError(.invalidRequest, "the assignment names '\(memberID)', which is not a member of generation \(group.generation)")
            }
            for tp in partitions {
                guard member.topics.contains(tp.topic), let count = counts[tp.topic], tp.partition >= 0, tp.partition < count else {
                    throw BrookError(.invalidRequest, "the assignment gives \(tp) to \(memberID), which does not subscribe to it or it does not exist")
                }
                guard seen.insert(tp).inserted else {
                    throw BrookError(.invalidRequest, "the assignment gives \(tp) to more than one member")
                }
            }
        }
        for member in group.members.values {
            setAssignment(member, Set(assignments[member.id] ?? []), keepPositions: group.rebalance == .cooperative)
        }
        group.state = .stable
        cancelTimer(group)
        for member in group.members.values {
            if let waiter = member.syncWaiter {
                member.syncWaiter = nil
                waiter.resume(returning: member.assignment.sorted())
            }
        }
        logger.info("group stable", metadata: ["group": "\(group.id)", "generation": "\(group.generation)", "assignor": "leader"])
    }

    // MARK: Heartbeat, leave

    public func heartbeat(group groupID: String, memberID: String, generation: Int) throws {
        let group = try existingGroup(groupID)
        let member = try lookup(group, memberID, instanceID: nil)
        member.lastSeen = now
        switch group.state {
        case .preparingRebalance:
            throw BrookError(.rebalanceInProgress, "group '\(group.id)' is rebalancing: rejoin")
        case .completingRebalance, .stable:
            guard generation == group.generation else { throw illegalGeneration(group, generation) }
        case .empty, .dead:
            throw BrookError(.unknownMemberID, "member '\(memberID)' is not in group '\(group.id)'")
        }
    }

    /// LeaveGroup: the member goes, and the group rebalances.
    public func leave(group groupID: String, memberID: String) async throws {
        let group = try existingGroup(groupID)
        let member = try lookup(group, memberID, instanceID: nil)
        await acknowledgeAndAutoCommit(group, member, force: true)
        remove(member, from: group, reason: "member \(member.id) left")
    }

    /// A connection closed: its dynamic members leave (static ones wait for their session timeout).
    public func connectionClosed(_ connection: UInt64) async {
        for group in groups.values {
            for member in group.members.values where member.connection == connection && member.instanceID == nil {
                await acknowledgeAndAutoCommit(group, member, force: true)
                remove(member, from: group, reason: "the connection of member \(member.id) closed")
            }
        }
    }

    // MARK: Offsets

    /// OffsetCommit, refused from an unknown member or a stale generation. With an empty member
    /// id and generation -1 it is a commit by a client outside the group, allowed only while the
    /// group has no members.
    public func commit(group groupID: String, memberID: String, generation: Int, offsets: [OffsetCommit]) async throws {
        try Broker.validateGroupName(groupID)
        if memberID.isEmpty && generation < 0 {
            if let group = groups[groupID], !group.members.isEmpty {
                throw BrookError(.unknownMemberID, "group '\(groupID)' has members; commits must come from a member with its generation")
            }
        } else {
            let group = try existingGroup(groupID)
            if group.state == .completingRebalance {
                throw BrookError(.rebalanceInProgress, "group '\(groupID)' is completing a rebalance: commit after SYNC")
            }
            let member = try lookup(group, memberID, instanceID: nil)
            guard generation == group.generation else { throw illegalGeneration(group, generation) }
            member.lastSeen = now
            for commit in offsets { member.lastCommitted[TopicPartition(commit.topic, commit.partition)] = commit.offset }
        }
        try await broker.commitOffsets(group: groupID, offsets)
    }

    // MARK: Poll

    /// Returns the next records of the member's assigned partitions from the positions the
    /// coordinator keeps for it, waiting up to `maxWait` for any. A POLL is also a heartbeat, and
    /// acknowledges the records of the member's previous POLL (auto-commit commits those).
    public func poll(group groupID: String, memberID: String, generation: Int, maxRecords: Int, maxBytes: Int, maxWait: Duration) async throws -> PollResult {
        let deadline = now.advanced(by: maxWait)
        var first = true
        while true {
            let group = try existingGroup(groupID)
            let member = try lookup(group, memberID, instanceID: nil)
            guard generation == group.generation else { throw illegalGeneration(group, generation) }
            member.lastSeen = now
            let rebalancing = group.state != .stable
            if rebalancing && (group.rebalance != .cooperative || group.state == .completingRebalance) {
                if first { await acknowledgeAndAutoCommit(group, member, force: true) }
                throw BrookError(.rebalanceInProgress, "group '\(group.id)' is rebalancing: rejoin")
            }
            if first {
                await acknowledgeAndAutoCommit(group, member, force: false)
                first = false
            }
            let partitions = member.assignment.subtracting(member.paused).sorted()
            var result = PollResult(records: [], rebalancing: rebalancing)
            var watches: [BrokerState.Watch] = []
            var budget = maxRecords
            var bytes = 0
            let start = partitions.isEmpty ? 0 : member.pollCursor % partitions.count
            for step in 0..<partitions.count where budget > 0 && bytes < maxBytes {
                let tp = partitions[(start + step) % partitions.count]
                let position: Int64
                do {
                    position = try await self.position(of: tp, for: member, in: group)
                } catch let error as BrookError where error.code == .unknownTopic || error.code == .unknownPartition {
                    continue  // deleted since the assignment; the rebalance it triggers drops it
                }
                // The group may have changed while this actor awaited.
                guard group.generation == generation, member.assignment.contains(tp), groups[groupID] === group else { break }
                let fetched: FetchResult
                do {
                    fetched = try await broker.fetch(topic: tp.topic, partition: tp.partition, offset: position, maxRecords: budget, maxBytes: maxBytes - bytes)
                } catch let error as BrookError where error.code == .offsetOutOfRange {
                    // Retention passed the position: the next round resets it per auto.offset.reset.
                    if member.positions[tp] == position { member.positions[tp] = nil }
                    continue
                } catch let error as BrookError where error.code == .unknownTopic || error.code == .unknownPartition {
                    continue  // deleted during the fetch; the rebalance it triggers drops it
                }
                guard group.generation == generation, member.assignment.contains(tp), member.positions[tp] == position else { continue }
                if fetched.records.isEmpty {
                    if let partition = try? broker.state.topic(tp.topic).partition(tp.partition) {
                        watches.append(BrokerState.Watch(topic: tp.topic, index: tp.partition, partitionID: partition.id, offset: position))
                    }
                    continue
                }
                member.positions[tp] = fetched.records.last!.offset + 1
                member.delivered[tp] = member.positions[tp]
                budget -= fetched.records.count
                bytes += fetched.records.reduce(0) { $0 + $1.size }
                result.records.append((tp, fetched.records))
            }
            member.pollCursor += 1
            let remaining = now.duration(to: deadline)
            if result.count > 0 || remaining <= .zero || rebalancing {
                return result
            }
            await broker.state.waitForAny(watches, timeout: remaining)
        }
    }

    /// Moves the member's position in an assigned partition.
    public func seek(group groupID: String, memberID: String, partition tp: TopicPartition, offset: Int64) throws {
        let group = try existingGroup(groupID)
        let member = try lookup(group, memberID, instanceID: nil)
        guard member.assignment.contains(tp) else {
            throw BrookError(.unknownPartition, "\(tp) is not assigned to member '\(memberID)'")
        }
        guard offset >= 0 else { throw BrookError(.invalidRequest, "offset \(offset) is invalid: use 0 or more") }
        member.positions[tp] = offset
        member.delivered[tp] = offset
        member.acknowledged[tp] = offset
    }

    /// Stops (or resumes) returning records of these partitions from POLL.
    public func pause(group groupID: String, memberID: String, partitions: [TopicPartition], paused: Bool) throws {
        let group = try existingGroup(groupID)
        let member = try lookup(group, memberID, instanceID: nil)
        for tp in partitions {
            guard member.assignment.contains(tp) else { throw BrookError(.unknownPartition, "\(tp) is not assigned to member '\(memberID)'") }
            if paused { member.paused.insert(tp) } else { member.paused.remove(tp) }
        }
    }

    private func position(of tp: TopicPartition, for member: Member, in group: Group) async throws -> Int64 {
        let partition = try broker.state.topic(tp.topic).partition(tp.partition)
        if let position = member.positions[tp], position >= partition.state.logStartOffset, position <= partition.state.nextOffset {
            return position
        }
        var position = member.positions[tp]
        if position == nil {
            position = try await broker.committedOffsets(group: group.id, topic: tp.topic).first { $0.partition == tp.partition }?.offset
        }
        if let found = position, found >= partition.state.logStartOffset, found <= partition.state.nextOffset {
            member.positions[tp] = found
        } else {
            switch member.autoOffsetReset {
            case .earliest: member.positions[tp] = partition.state.logStartOffset
            case .latest: member.positions[tp] = partition.state.nextOffset
            case .none:
                throw BrookError(.noOffset, "group '\(group.id)' has no valid committed offset for \(tp) and auto.offset.reset is none")
            }
        }
        member.acknowledged[tp] = member.acknowledged[tp] ?? member.positions[tp]
        member.delivered[tp] = member.delivered[tp] ?? member.positions[tp]
        return member.positions[tp]!
    }

    /// The records of the previous POLL count as processed; auto-commit writes them when due
    /// (always when `force`: before revocation or leaving).
    private func acknowledgeAndAutoCommit(_ group: Group, _ member: Member, force: Bool) async {
        for (tp, offset) in member.delivered where member.assignment.contains(tp) { member.acknowledged[tp] = offset }
        guard member.autoCommitMs > 0 else { return }
        guard force || now - member.lastAutoCommit >= .milliseconds(member.autoCommitMs) else { return }
        let due = member.acknowledged.filter { member.assignment.contains($0.key) && member.lastCommitted[$0.key] != $0.value }
        member.lastAutoCommit = now
        guard !due.isEmpty else { return }
        do {
            try await broker.commitOffsets(group: group.id, due.map { OffsetCommit(topic: $0.key.topic, partition: $0.key.partition, offset: $0.value) })
            for (tp, offset) in due { member.lastCommitted[tp] = offset }
        } catch {
            logger.warning("auto-commit failed", metadata: ["group": "\(group.id)", "member": "\(member.id)", "error": "\(error)"])
        }
    }

    // MARK: Admin

    public func listGroups() async throws -> [(group: String, state: GroupState, members: Int)] {
        var result: [String: (GroupState, Int)] = [:]
        for group in groups.values where group.state != .dead { result[group.id] = (group.state, group.members.count) }
        for name in try await broker.groupsWithCommittedOffsets() where result[name] == nil { result[name] = (.empty, 0) }
        return result.keys.sorted().map { ($0, result[$0]!.0, result[$0]!.1) }
    }

    public func describe(group groupID: String) async throws -> GroupDescription {
        try Broker.validateGroupName(groupID)
        let committed = try await broker.committedOffsets(group: groupID)
        guard let group = groups[groupID], group.state != .dead || !committed.isEmpty else {
            if committed.isEmpty { throw BrookError(.groupIDNotFound, "group '\(groupID)' does not exist") }
            return GroupDescription(
                group: groupID, state: .empty, generation: 0, protocolName: "", mode: nil, rebalance: nil, members: [],
                offsets: describeOffsets(committed: committed, topics: Set(committed.map(\.topic)), owners: [:]))
        }
        var owners: [TopicPartition: String] = [:]
        for member in group.members.values { for tp in member.assignment { owners[tp] = member.id } }
        let topics = Set(group.members.values.flatMap(\.topics)).union(committed.map(\.topic))
        return GroupDescription(
            group: groupID, state: group.state, generation: group.generation, protocolName: group.protocolName,
            mode: group.mode, rebalance: group.rebalance,
            members: group.memberList.map {
                GroupDescription.Member(memberID: $0.id, instanceID: $0.instanceID, clientID: $0.clientID, clientHost: $0.clientHost, assignment: $0.assignment.sorted())
            },
            offsets: describeOffsets(committed: committed, topics: topics, owners: owners))
    }

    private func describeOffsets(committed: [CommittedOffset], topics: Set<String>, owners: [TopicPartition: String]) -> [GroupDescription.Offset] {
        let byPartition = Dictionary(committed.map { (TopicPartition($0.topic, $0.partition), $0.offset) }, uniquingKeysWith: { a, _ in a })
        var offsets: [GroupDescription.Offset] = []
        for topic in topics.sorted() {
            guard let metadata = try? broker.state.topic(topic) else { continue }
            for partition in metadata.partitions {
                let tp = TopicPartition(topic, partition.index)
                let end = partition.state.nextOffset
                let committedOffset = byPartition[tp]
                offsets.append(GroupDescription.Offset(
                    partition: tp, committed: committedOffset, logEndOffset: end, lag: committedOffset.map { max(0, end - $0) },
                    memberID: owners[tp]))
            }
        }
        return offsets
    }

    /// Where `reset` moves a group's committed offsets.
    public enum ResetTarget: Sendable {
        case earliest, latest
        case offset(Int64)
        case timestamp(Int64)
    }

    /// Rewrites a group's committed offsets for a topic; refused while it has live members.
    @discardableResult
    public func reset(group groupID: String, topic: String, to target: ResetTarget) async throws -> [OffsetCommit] {
        try Broker.validateGroupName(groupID)
        if let group = groups[groupID], !group.members.isEmpty {
            throw BrookError(.nonEmptyGroup, "group '\(groupID)' has \(group.members.count) live members; stop them before resetting its offsets")
        }
        let metadata = try broker.state.topic(topic)
        var commits: [OffsetCommit] = []
        for partition in metadata.partitions {
            let start = partition.state.logStartOffset
            let end = partition.state.nextOffset
            let offset: Int64
            switch target {
            case .earliest: offset = start
            case .latest: offset = end
            case .offset(let value): offset = min(max(value, start), end)
            case .timestamp(let time):
                offset = try await broker.listOffset(topic: topic, partition: partition.index, .timestamp(time))?.offset ?? end
            }
            commits.append(OffsetCommit(topic: topic, partition: partition.index, offset: offset))
        }
        if let group = groups[groupID], !group.members.isEmpty {
            throw BrookError(.nonEmptyGroup, "group '\(groupID)' gained members; stop them before resetting its offsets")
        }
        try await broker.commitOffsets(group: groupID, commits)
        return commits
    }

    /// Deletes a group and its committed offsets; refused while it has live members.
    public func delete(group groupID: String) async throws {
        try Broker.validateGroupName(groupID)
        if let group = groups[groupID], !group.members.isEmpty {
            throw BrookError(.nonEmptyGroup, "group '\(groupID)' has \(group.members.count) live members; stop them before deleting it")
        }
        if groups[groupID] == nil, try await broker.committedOffsets(group: groupID).isEmpty {
            throw BrookError(.groupIDNotFound, "group '\(groupID)' does not exist")
        }
        try await broker.deleteCommittedOffsets(group: groupID)
        if let group = groups[groupID], group.members.isEmpty {
            group.state = .dead
            groups[groupID] = nil
        }
    }

    /// Partitions were added to a topic, or it was deleted: groups subscribed to it rebalance.
    func topicChanged(_ topic: String) {
        for group in groups.values where group.members.values.contains(where: { $0.topics.contains(topic) }) {
            if group.state == .stable || group.state == .completingRebalance {
                prepareRebalance(group, reason: "the partitions of topic '\(topic)' changed")
            }
        }
    }

    /// Stops the timers; members' waits fail.
    func shutdown() {
        sweeper?.cancel()
        sweeper = nil
        for group in groups.values {
            cancelTimer(group)
            for member in group.members.values {
                member.joinWaiter?.resume(throwing: BrookError(.brokerNotAvailable, "the broker is closing"))
                member.syncWaiter?.resume(throwing: BrookError(.brokerNotAvailable, "the broker is closing"))
                member.joinWaiter = nil
                member.syncWaiter = nil
            }
        }
    }

    // MARK: Rebalancing

    private func prepareRebalance(_ group: Group, reason: String) {
        let wasEmpty = group.state == .empty || group.state == .dead
        if group.state == .completingRebalance {
            // Followers waiting for the leader's assignment must rejoin.
            for member in group.members.values {
                member.syncWaiter?.resume(throwing: BrookError(.rebalanceInProgress, "group '\(group.id)' is rebalancing again: rejoin"))
                member.syncWaiter = nil
            }
        }
        group.followUpPending = false
        if group.state != .preparingRebalance {
            // Eager members stop consuming now (POLL refuses); their assignment is replaced, and
            // their positions dropped, when the join completes.
            for member in group.members.values { member.joined = false }
        }
        group.state = .preparingRebalance
        let rebalanceTimeout = group.members.values.map(\.rebalanceTimeoutMs).max() ?? 60_000
        if wasEmpty {
            let limit = now.advanced(by: .milliseconds(rebalanceTimeout))
            group.initialDelayLimit = limit
            scheduleTimer(group, at: min(now.advanced(by: .milliseconds(options.initialRebalanceDelayMs)), limit))
        } else if let limit = group.initialDelayLimit, group.deadline != nil {
            // Still in the initial delay: each new member extends it, up to the limit.
            scheduleTimer(group, at: min(now.advanced(by: .milliseconds(options.initialRebalanceDelayMs)), limit))
        } else if group.deadline == nil {
            scheduleTimer(group, at: now.advanced(by: .milliseconds(rebalanceTimeout)))
        }
        // Long POLLs of the group's members return now, so they can rejoin.
        wakePolls(group)
        logger.info("rebalance", metadata: ["group": "\(group.id)", "reason": "\(reason)", "generation": "\(group.generation)"])
    }

    private func wakePolls(_ group: Group) {
        var ids: [Int64] = []
        for member in group.members.values {
            for tp in member.assignment {
                if let id = try? broker.state.topic(tp.topic).partition(tp.partition).id { ids.append(id) }
            }
        }
        if !ids.isEmpty { broker.state.wake(partitionIDs: ids) }
    }

    /// Completes the join phase once every member has (re)joined, unless the initial delay runs.
    private func tryCompleteJoin(_ group: Group) {
        guard group.state == .preparingRebalance, group.initialDelayLimit == nil else { return }
        if group.members.values.allSatisfy(\.joined) { completeJoin(group) }
    }

    private func timerFired(_ groupID: String, epoch: Int) {
        guard let group = groups[groupID], group.timerEpoch == epoch else { return }
        group.deadline = nil
        switch group.state {
        case .preparingRebalance:
            group.initialDelayLimit = nil
            for member in group.members.values where !member.joined {
                remove(member, from: group, reason: "member \(member.id) did not rejoin within the rebalance timeout", rebalance: false)
            }
            completeJoin(group)
        case .completingRebalance:
            prepareRebalance(group, reason: "the leader did not send the assignment within the rebalance timeout")
        default:
            break
        }
    }

    private func completeJoin(_ group: Group) {
        cancelTimer(group)
        group.initialDelayLimit = nil
        let members = group.memberList
        guard !members.isEmpty else {
            group.state = .empty
            group.generation += 1
            group.leaderID = nil
            return
        }
        group.generation += 1
        group.protocolName = vote(members)
        if group.leaderID == nil || group.members[group.leaderID!] == nil { group.leaderID = members[0].id }
        if group.mode == .leader {
            group.state = .completingRebalance
            scheduleTimer(group, at: now.advanced(by: .milliseconds(members.map(\.rebalanceTimeoutMs).max() ?? 60_000)))
        } else {
            assignByCoordinator(group)
            group.state = .stable
            logger.info("group stable", metadata: ["group": "\(group.id)", "generation": "\(group.generation)", "assignor": "\(group.protocolName)"])
        }
        for member in members {
            guard let waiter = member.joinWaiter else { continue }
            member.joinWaiter = nil
            waiter.resume(returning: result(for: member, in: group))
        }
        if group.followUpPending {
            // Cooperative: partitions revoked in this generation go to their new owners next.
            prepareRebalance(group, reason: "cooperative follow-up: assign the revoked partitions")
        }
    }

    private func assignByCoordinator(_ group: Group) {
        let strategy = AssignmentStrategy(rawValue: group.protocolName) ?? .range
        let members = group.memberList
        let counts = (try? partitionCounts(Set(members.flatMap(\.topics)))) ?? [:]
        let target = strategy.assign(
            members.map { AssignmentStrategy.Member(id: $0.id, topics: $0.topics, owned: $0.assignment) }, partitions: counts)
        var withheld = false
        if group.rebalance == .cooperative {
            var owner: [TopicPartition: String] = [:]
            for member in members { for tp in member.assignment { owner[tp] = member.id } }
            for member in members {
                let wanted = target[member.id] ?? []
                // Keep what stays; take only partitions nobody else owns now; give up what moves.
                let granted = wanted.filter { owner[$0] == nil || owner[$0] == member.id }
                if granted.count != wanted.count { withheld = true }
                setAssignment(member, granted, keepPositions: true)
            }
        } else {
            for member in members { setAssignment(member, target[member.id] ?? [], keepPositions: false) }
        }
        group.followUpPending = withheld
    }

    private func setAssignment(_ member: Member, _ partitions: Set<TopicPartition>, keepPositions: Bool) {
        let revoked = member.assignment.subtracting(partitions)
        member.assignment = partitions
        member.paused.formIntersection(partitions)
        if !keepPositions {
            member.positions = [:]
            member.delivered = [:]
            member.acknowledged = [:]
        } else {
            for tp in revoked {
                member.positions[tp] = nil
                member.delivered[tp] = nil
                member.acknowledged[tp] = nil
            }
        }
    }

    /// Kafka's vote: each member votes for its most preferred strategy that every member supports.
    private func vote(_ members: [Member]) -> String {
        var common = Set(members[0].protocols.map(\.name))
        for member in members.dropFirst() { common.formIntersection(member.protocols.map(\.name)) }
        var votes: [String: Int] = [:]
        for member in members {
            if let choice = member.protocols.first(where: { common.contains($0.name) })?.name { votes[choice, default: 0] += 1 }
        }
        let preference = members[0].protocols.map(\.name)
        return votes.max { ($0.value, -(preference.firstIndex(of: $0.key) ?? 0)) < ($1.value, -(preference.firstIndex(of: $1.key) ?? 0)) }?.key
            ?? members[0].protocols.first?.name ?? ""
    }

    private func result(for member: Member, in group: Group) -> JoinResult {
        let isLeader = group.leaderID == member.id
        return JoinResult(
            generation: group.generation, memberID: member.id, leaderID: group.leaderID ?? "", protocolName: group.protocolName,
            members: group.mode == .leader && isLeader
                ? group.memberList.map {
                    GroupMemberInfo(
                        memberID: $0.id, instanceID: $0.instanceID, topics: $0.topics.sorted(),
                        metadata: $0.protocols.first { $0.name == group.protocolName }?.metadata ?? [])
                } : [],
            assignment: group.mode == .coordinator ? member.assignment.sorted() : nil)
    }

    private func remove(_ member: Member, from group: Group, reason: String, rebalance: Bool = true) {
        guard group.members[member.id] === member else { return }
        group.members[member.id] = nil
        group.order.removeAll { $0 == member.id }
        if let instance = member.instanceID, group.staticMembers[instance] == member.id { group.staticMembers[instance] = nil }
        if group.leaderID == member.id { group.leaderID = nil }
        member.joinWaiter?.resume(throwing: BrookError(.unknownMemberID, "member '\(member.id)' was removed: \(reason)"))
        member.syncWaiter?.resume(throwing: BrookError(.unknownMemberID, "member '\(member.id)' was removed: \(reason)"))
        member.joinWaiter = nil
        member.syncWaiter = nil
        logger.info("member removed", metadata: ["group": "\(group.id)", "member": "\(member.id)", "reason": "\(reason)"])
        guard rebalance else { return }
        if group.members.isEmpty {
            cancelTimer(group)
            group.state = .empty
            group.initialDelayLimit = nil
            group.generation += 1
        } else if group.state == .preparingRebalance {
            tryCompleteJoin(group)
        } else {
            prepareRebalance(group, reason: reason)
        }
    }

    // MARK: Timers

    private func scheduleTimer(_ group: Group, at deadline: ContinuousClock.Instant) {
        group.timerEpoch += 1
        group.deadline = deadline
        let epoch = group.timerEpoch
        let id = group.id
        Task { [weak self] in
            try? await Task.sleep(until: deadline, clock: .continuous)
            await self?.timerFired(id, epoch: epoch)
        }
    }

    private func cancelTimer(_ group: Group) {
        group.timerEpoch += 1
        group.deadline = nil
    }

    private func startSweeper() {
        guard sweeper == nil else { return }
        sweeper = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(50))
                await self?.expireSessions()
            }
        }
    }

    /// Removes members whose session timeout passed without a heartbeat, POLL or join.
    private func expireSessions() {
        let now = self.now
        for group in groups.values {
            for member in group.members.values where member.joinWaiter == nil && member.syncWaiter == nil {
                if now - member.lastSeen > .milliseconds(member.sessionTimeoutMs) {
                    remove(member, from: group, reason: "member \(member.id) missed its session timeout of \(member.sessionTimeoutMs) ms")
                }
            }
        }
    }

    // MARK: Helpers

    private func validate(_ request: JoinRequest) throws {
        try Broker.validateGroupName(request.group)
        guard (options.minSessionTimeoutMs...options.maxSessionTimeoutMs).contains(request.sessionTimeoutMs) else {
            throw BrookError(.invalidSessionTimeout, "session.timeout.ms \(request.sessionTimeoutMs) is outside \(options.minSessionTimeoutMs) to \(options.maxSessionTimeoutMs)")
        }
        guard request.rebalanceTimeoutMs >= 1, request.rebalanceTimeoutMs <= options.maxSessionTimeoutMs else {
            throw BrookError(.invalidSessionTimeout, "rebalance.timeout.ms \(request.rebalanceTimeoutMs) is outside 1 to \(options.maxSessionTimeoutMs)")
        }
        guard !request.topics.isEmpty else { throw BrookError(.invalidRequest, "JOIN needs at least one topic to subscribe to") }
        guard !request.protocols.isEmpty else { throw BrookError(.invalidRequest, "JOIN needs at least one assignment strategy") }
        if request.mode == .coordinator {
            for name in request.protocols.map(\.name) where AssignmentStrategy(rawValue: name) == nil {
                throw BrookError(.inconsistentGroupProtocol, "'\(name)' is not a built-in strategy (range, roundrobin, sticky); use assignment=leader for custom ones")
            }
        }
        // As Kafka: a topic that does not exist (yet, or any more) is a valid subscription with no
        // partitions; only the name must be one.
        for topic in request.topics { try TopicName.validate(topic) }
    }

    private func existingGroup(_ id: String) throws -> Group {
        guard let group = groups[id], group.state != .dead else {
            throw BrookError(.unknownMemberID, "group '\(id)' has no members; JOIN first")
        }
        return group
    }

    private func lookup(_ group: Group, _ memberID: String, instanceID: String?) throws -> Member {
        if let instance = group.fenced[memberID] {
            throw BrookError(.fencedInstanceID, "member '\(memberID)' was replaced by a newer member with group.instance.id '\(instance)'")
        }
        guard let member = group.members[memberID] else {
            throw BrookError(.unknownMemberID, "member '\(memberID)' is not in group '\(group.id)'; JOIN again")
        }
        if let instanceID, member.instanceID != instanceID {
            throw BrookError(.fencedInstanceID, "member '\(memberID)' has group.instance.id '\(member.instanceID ?? "")', not '\(instanceID)'")
        }
        return member
    }

    private func illegalGeneration(_ group: Group, _ generation: Int) -> BrookError {
        BrookError(.illegalGeneration, "generation \(generation) is not group '\(group.id)'s current generation \(group.generation)")
    }

    private func partitionCounts(_ topics: Set<String>) throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for topic in topics { if let metadata = try? broker.state.topic(topic) { counts[topic] = metadata.partitions.count } }
        return counts
    }

    private func issueMemberID(_ clientID: String) -> String {
        nextMemberNumber += 1
        let safe = String(clientID.unicodeScalars.filter { $0.isASCII && ($0.properties.isAlphabetic || $0.properties.numericType != nil || $0 == "-" || $0 == "_" || $0 == ".") }.prefix(64).map(Character.init))
        return "\(safe.isEmpty ? "member" : safe)-\(nextMemberNumber)-\(UInt32.random(in: 0...UInt32.max))"
    }
}
