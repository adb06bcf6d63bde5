import BrookModel
import BrookStore
import Logging
import Synchronization

/// One protocol a member can speak (for consumers, an assignment strategy) with its metadata,
/// opaque to the coordinator (for consumers, a ``ConsumerProtocol/Subscription``).
public struct GroupProtocol: Sendable, Hashable {
    public var name: String
    public var metadata: [UInt8]

    public init(name: String, metadata: [UInt8]) {
        self.name = name
        self.metadata = metadata
    }
}

/// A JoinGroup request.
public struct JoinGroupRequest: Sendable {
    public var group: String
    /// Empty for a new member; the coordinator issues the id.
    public var memberID: String = ""
    /// `group.instance.id`: a static member keeps its partitions across restarts within its
    /// session timeout.
    public var instanceID: String?
    public var clientID: String = "brook"
    public var clientHost: String = ""
    public var sessionTimeoutMs: Int64 = GroupDefaults.sessionTimeoutMs
    public var rebalanceTimeoutMs: Int64 = GroupDefaults.rebalanceTimeoutMs
    /// The kind of protocols the member speaks; every member of a group speaks the same.
    public var protocolType: String = ConsumerProtocol.type
    /// In order of preference. In coordinator mode, built-in strategy names with
    /// ``ConsumerProtocol/Subscription`` metadata.
    public var protocols: [GroupProtocol]
    /// Who assigns: the leader in SyncGroup (Kafka's classic protocol), or the coordinator with
    /// a built-in strategy when the join completes (Brook's groups).
    public var mode: AssignmentMode = .leader
    /// Coordinator mode only: whether partitions that move are first revoked (cooperative).
    public var rebalance: RebalanceProtocol = .eager
    /// A shorter `group.initial.rebalance.delay.ms` for this group, honoured when this member's
    /// join starts a new or empty group (a lone consumer need not wait for others); `nil`, or a
    /// value above the coordinator's, leaves the coordinator's.
    public var initialRebalanceDelayMs: Int64?

    public init(group: String, protocols: [GroupProtocol]) {
        self.group = group
        self.protocols = protocols
    }
}

/// The answer to a JoinGroup.
public struct JoinGroupResult: Sendable, Hashable {
    public struct Member: Sendable, Hashable {
        public var memberID: String
        public var instanceID: String?
        /// The member's metadata for the chosen protocol.
        public var metadata: [UInt8]
    }

    public var generation: Int
    public var memberID: String
    public var leaderID: String
    public var protocolType: String
    public var protocolName: String
    /// For the leader in leader mode: every member with its metadata; empty for the others.
    public var members: [Member]
    /// In coordinator mode: this member's assignment, as ``ConsumerProtocol/Assignment`` bytes.
    public var assignment: [UInt8]?
}

/// A member named in a LeaveGroup: by member id, by instance id, or both (then they must match).
public struct LeavingMember: Sendable, Hashable {
    public var memberID: String
    public var instanceID: String?

    public init(memberID: String = "", instanceID: String? = nil) {
        self.memberID = memberID
        self.instanceID = instanceID
    }
}

/// Something that happened to a group, for those who keep per-member state beside the
/// coordinator (Brook's server-side consumer).
public enum GroupEvent: Sendable, Hashable {
    /// The group started a rebalance: members should rejoin.
    case rebalancing(group: String)
    /// The member left, was removed, or its group was deleted.
    case memberRemoved(group: String, memberID: String)
}

/// Kafka's group coordinator, membership only: join, sync, heartbeat and leave with a generation
/// per rebalance, static members, session and rebalance timeouts, offset commits checked against
/// the generation, and the admin calls. Member metadata and assignments are opaque bytes under a
/// protocol type, as in Kafka; in coordinator mode it also assigns, with a built-in strategy over
/// the members' consumer-protocol subscriptions.
///
/// It reaches committed offsets and topics through narrow interfaces, and its timers are
/// deadlines on the injected ``BrokerClock`` (the broker's). State changes are serialized by the
/// actor; no NIO, no protocol text.
public actor GroupCoordinator {
    public struct Options: Sendable {
        /// `group.initial.rebalance.delay.ms`: how long a new group waits for more members.
        public var initialRebalanceDelayMs: Int64 = GroupDefaults.initialRebalanceDelayMs
        public var minSessionTimeoutMs: Int64 = GroupDefaults.minSessionTimeoutMs
        public var maxSessionTimeoutMs: Int64 = GroupDefaults.maxSessionTimeoutMs
        public var maxMembersPerGroup = GroupDefaults.maxMembersPerGroup
        /// How often sessions are checked for expiry.
        public var sessionCheckInterval: Duration = .milliseconds(50)
        /// `offsets.retention.minutes` in ms: a group with no members and no commit for this long
        /// is forgotten with its committed offsets.
        public var offsetsRetentionMs: Int64 = GroupDefaults.offsetsRetentionMs
        /// How often groups are checked for that (`offsets.retention.check.interval.ms`).
        public var offsetsRetentionCheckInterval: Duration = .milliseconds(GroupDefaults.offsetsRetentionCheckIntervalMs)
        public init() {}
    }

    final class Member {
        var id: String
        let instanceID: String?
        var clientID: String
        var clientHost: String
        var protocols: [GroupProtocol]
        /// The topics of its consumer-protocol subscription (empty for other protocol types).
        var topics: Set<String>
        var sessionTimeoutMs: Int64
        var rebalanceTimeoutMs: Int64
        var lastSeen: ContinuousClock.Instant
        var joinWaiter: CheckedContinuation<JoinGroupResult, Error>?
        var syncWaiter: CheckedContinuation<[UInt8], Error>?
        /// Joined (or rejoined) in the rebalance under way.
        var joined = false
        var assignment: [UInt8] = []

        init(id: String, request: JoinGroupRequest, topics: Set<String>, now: ContinuousClock.Instant) {
            self.id = id
            instanceID = request.instanceID
            clientID = request.clientID
            clientHost = request.clientHost
            protocols = request.protocols
            self.topics = topics
            sessionTimeoutMs = request.sessionTimeoutMs
            rebalanceTimeoutMs = request.rebalanceTimeoutMs
            lastSeen = now
        }

        /// Takes the request's settings; returns whether its subscription changed.
        func update(_ request: JoinGroupRequest, topics: Set<String>, now: ContinuousClock.Instant) -> Bool {
            let changed = request.protocolType == ConsumerProtocol.type
                ? self.topics != topics || protocols.map(\.name) != request.protocols.map(\.name)
                : protocols != request.protocols
            protocols = request.protocols
            self.topics = topics
            sessionTimeoutMs = request.sessionTimeoutMs
            rebalanceTimeoutMs = request.rebalanceTimeoutMs
            clientHost = request.clientHost
            clientID = request.clientID
            lastSeen = now
            return changed
        }

        func metadata(for protocolName: String) -> [UInt8] {
            protocols.first { $0.name == protocolName }?.metadata ?? []
        }

        /// The partitions of its consumer-protocol assignment.
        var assignedPartitions: Set<TopicPartition> {
            Set((try? ConsumerProtocol.Assignment(decoding: assignment))?.partitions ?? [])
        }
    }

    final class Group {
        let id: String
        var state: GroupState = .empty
        var generation = 0
        var protocolType = ""
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
        /// Ids handed out with MEMBER_ID_REQUIRED, until their owners rejoin or they expire.
        var pending: [String: ContinuousClock.Instant] = [:]
        /// Wall-clock ms when its last member went; its offsets' retention counts from then too.
        var emptySinceMs: Int64?
        var deadline: ContinuousClock.Instant?
        var timer: (any ScheduledDeadline)?
        var initialDelayLimit: ContinuousClock.Instant?
        /// The initial delay of the rebalance that started while the group was empty: the
        /// coordinator's, or the shorter one the first member asked for.
        var initialDelayMs: Int64 = GroupDefaults.initialRebalanceDelayMs
        var followUpPending = false

        init(id: String) { self.id = id }

        var memberList: [Member] { order.compactMap { members[$0] } }
    }

    public let options: Options
    /// The clock of the coordinator's timers.
    public nonisolated let clock: any BrokerClock
    private let offsets: any CommittedOffsetStore
    private let topics: any TopicCatalog
    private var groups: [String: Group] = [:]
    private var sweeper: (any ScheduledDeadline)?
    /// nil until the first call, which checks sessions at once.
    private var nextSessionCheck: ContinuousClock.Instant?
    private var nextMemberNumber = 0
    private var nextRetentionCheck: ContinuousClock.Instant?
    private var isShutDown = false
    private let logger: Logger
    private let listeners = Mutex<[@Sendable (GroupEvent) -> Void]>([])

    /// - Parameters:
    ///   - offsets: where committed offsets are stored.
    ///   - topics: the topics members subscribe to, for assignments, resets and describe.
    ///   - clock: the time of its timers (a broker passes its own); tests pass one they advance by
    ///     hand.
    public init(
        offsets: any CommittedOffsetStore, topics: any TopicCatalog, options: Options = Options(), clock: any BrokerClock = SystemClock.shared,
        logger: Logger = Logger(label: "brook.groups")
    ) {
        self.offsets = offsets
        self.topics = topics
        self.options = options
        self.clock = clock
        self.logger = logger
    }

    /// Calls `listener` on every ``GroupEvent``, from within the coordinator: it must return
    /// quickly and not call back synchronously.
    public nonisolated func addListener(_ listener: @escaping @Sendable (GroupEvent) -> Void) {
        listeners.withLock { $0.append(listener) }
    }

    private func emit(_ event: GroupEvent) {
        for listener in listeners.withLock({ $0 }) { listener(event) }
    }

    private var now: ContinuousClock.Instant { clock.now }

    // MARK: Join and sync

    /// JoinGroup: joins (or rejoins) and waits until the rebalance completes.
    public func join(_ request: JoinGroupRequest) async throws -> JoinGroupResult {
        runDueTimers()
        try checkRunning()
        let topics = try validate(request)
        startSweeper()
        let group = groups[request.group] ?? Group(id: request.group)
        groups[request.group] = group
        try checkConsistent(request, with: group)
        if group.state == .empty || group.state == .dead {
            group.initialDelayMs = min(request.initialRebalanceDelayMs ?? options.initialRebalanceDelayMs, options.initialRebalanceDelayMs)
        }
        if group.members.isEmpty {
            group.protocolType = request.protocolType
            group.mode = request.mode
            group.rebalance = request.rebalance
        }

        let member: Member
        let pendingID = request.memberID.isEmpty || group.members[request.memberID] != nil ? nil
            : group.pending.removeValue(forKey: request.memberID).map { _ in request.memberID }
        if request.memberID.isEmpty || pendingID != nil {
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
                let changed = existing.update(request, topics: topics, now: now)
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
                member = Member(id: pendingID ?? issueMemberID(request.clientID), request: request, topics: topics, now: now)
                group.members[member.id] = member
                group.order.append(member.id)
                if let instance = request.instanceID { group.staticMembers[instance] = member.id }
                prepareRebalance(group, reason: "member \(member.id) joined")
            }
        } else {
            member = try lookup(group, request.memberID, instanceID: request.instanceID)
            let changed = member.update(request, topics: topics, now: now)
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

    /// JoinGroup v4+ of a new member without an instance id: as Kafka, the coordinator first hands
    /// it an id (answered with MEMBER_ID_REQUIRED) and admits it only when it joins again with
    /// that id, so a client retrying a join whose answer it lost leaves no ghost member behind.
    /// An id not used within the session timeout expires.
    public func issuePendingMemberID(group groupID: String, clientID: String, sessionTimeoutMs: Int64) throws -> String {
        runDueTimers()
        try checkRunning()
        try Broker.validateGroupName(groupID)
        guard (options.minSessionTimeoutMs...options.maxSessionTimeoutMs).contains(sessionTimeoutMs) else {
            throw BrookError(.invalidSessionTimeout, "session.timeout.ms \(sessionTimeoutMs) is outside \(options.minSessionTimeoutMs) to \(options.maxSessionTimeoutMs)")
        }
        startSweeper()
        let group = groups[groupID] ?? Group(id: groupID)
        groups[groupID] = group
        guard group.members.count + group.pending.count < options.maxMembersPerGroup else {
            throw BrookError(.groupMaxSizeReached, "group '\(group.id)' has reached its limit of \(options.maxMembersPerGroup) members")
        }
        let id = issueMemberID(clientID)
        group.pending[id] = now + .milliseconds(sessionTimeoutMs)
        return id
    }

    /// Kafka's rule: the protocol type must be the group's, and the member must support at least
    /// one protocol every current member supports.
    private func checkConsistent(_ request: JoinGroupRequest, with group: Group) throws {
        let others = group.members.values.filter { $0.id != request.memberID }
        guard !others.isEmpty else { return }
        if group.protocolType != request.protocolType {
            throw BrookError(.inconsistentGroupProtocol, "group '\(group.id)' speaks protocol type '\(group.protocolType)'; this member speaks '\(request.protocolType)'")
        }
        if let mode = group.mode, mode != request.mode {
            throw BrookError(.inconsistentGroupProtocol, "group '\(group.id)' uses assignment=\(mode.rawValue); this member asked for \(request.mode.rawValue)")
        }
        if let rebalance = group.rebalance, rebalance != request.rebalance {
            throw BrookError(.inconsistentGroupProtocol, "group '\(group.id)' uses rebalance=\(rebalance.rawValue); this member asked for \(request.rebalance.rawValue)")
        }
        var common = Set(others[0].protocols.map(\.name))
        for other in others.dropFirst() { common.formIntersection(other.protocols.map(\.name)) }
        if common.isDisjoint(with: request.protocols.map(\.name)) {
            throw BrookError(
                .inconsistentGroupProtocol,
                "group '\(group.id)' has no protocol in common with [\(request.protocols.map(\.name).joined(separator: ","))]; its members all support [\(common.sorted().joined(separator: ","))]")
        }
    }

    /// SyncGroup: the leader hands in every member's assignment (leader mode), as opaque bytes;
    /// every member gets its own back (empty where the leader left it out).
    public func sync(group groupID: String, memberID: String, generation: Int, assignments: [String: [UInt8]]?) async throws -> [UInt8] {
        runDueTimers()
        let group = try existingGroup(groupID)
        let member = try lookup(group, memberID, instanceID: nil)
        guard generation == group.generation else { throw illegalGeneration(group, generation) }
        member.lastSeen = now
        switch group.state {
        case .preparingRebalance:
            throw BrookError(.rebalanceInProgress, "group '\(group.id)' is rebalancing: rejoin")
        case .stable:
            return member.assignment
        case .empty, .dead:
            throw BrookError(.unknownMemberID, "group '\(group.id)' has no members")
        case .completingRebalance:
            if group.leaderID == member.id, let assignments {
                completeSync(group, assignments)
                return member.assignment
            }
            return try await withCheckedThrowingContinuation { continuation in
                member.syncWaiter?.resume(throwing: BrookError(.rebalanceInProgress, "superseded by a newer SYNC"))
                member.syncWaiter = continuation
            }
        }
    }

    /// The members of a group's current generation with their metadata for the chosen protocol,
    /// so a front-end can check a leader's assignment against the subscriptions.
    public func memberMetadata(group groupID: String, generation: Int) throws -> [String: [UInt8]] {
        let group = try existingGroup(groupID)
        guard generation == group.generation else { throw illegalGeneration(group, generation) }
        return Dictionary(uniqueKeysWithValues: group.memberList.map { ($0.id, $0.metadata(for: group.protocolName)) })
    }

    private func completeSync(_ group: Group, _ assignments: [String: [UInt8]]) {
        for member in group.members.values { member.assignment = assignments[member.id] ?? [] }
        group.state = .stable
        cancelTimer(group)
        for member in group.members.values {
            if let waiter = member.syncWaiter {
                member.lastSeen = now
                member.syncWaiter = nil
                waiter.resume(returning: member.assignment)
            }
        }
        logger.info("group stable", metadata: ["group": "\(group.id)", "generation": "\(group.generation)", "assignor": "leader"])
    }

    // MARK: Heartbeat, leave

    /// Heartbeat: keeps the member's session; `REBALANCE_IN_PROGRESS` tells it to rejoin.
    public func heartbeat(group groupID: String, memberID: String, generation: Int) throws {
        runDueTimers()
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

    /// Checks that the member is in the group's current generation and keeps its session, as a
    /// heartbeat does, but answers the group's state instead of refusing during a rebalance, so a
    /// cooperative member can go on consuming.
    public func touch(group groupID: String, memberID: String, generation: Int) throws -> GroupState {
        runDueTimers()
        let group = try existingGroup(groupID)
        let member = try lookup(group, memberID, instanceID: nil)
        guard generation == group.generation else { throw illegalGeneration(group, generation) }
        member.lastSeen = now
        return group.state
    }

    /// Whether `memberID` is a current member of the group (not removed, not replaced).
    public func isMember(group groupID: String, memberID: String) -> Bool {
        runDueTimers()
        return groups[groupID]?.members[memberID] != nil
    }

    /// LeaveGroup (Kafka v3+): the members go, and the group rebalances once.
    /// - Returns: each member's outcome, in order: `nil` when it left, else why not
    ///   (`UNKNOWN_MEMBER_ID`, `FENCED_INSTANCE_ID`).
    /// - Throws: when the group has no members at all.
    public func leave(group groupID: String, members leaving: [LeavingMember]) throws -> [BrookError?] {
        runDueTimers()
        let group = try existingGroup(groupID)
        var outcomes: [BrookError?] = []
        var removed: [String] = []
        for leaving in leaving {
            do {
                let member = try leavingMember(group, leaving)
                remove(member, from: group, reason: "member \(member.id) left", rebalance: false)
                removed.append(member.id)
                outcomes.append(nil)
            } catch let error as BrookError {
                outcomes.append(error)
            }
        }
        if !removed.isEmpty { rebalanceAfterRemoval(group, reason: "\(removed.count == 1 ? "member \(removed[0])" : "\(removed.count) members") left") }
        return outcomes
    }

    /// LeaveGroup of one member by id.
    public func leave(group groupID: String, memberID: String) throws {
        if let error = try leave(group: groupID, members: [LeavingMember(memberID: memberID)])[0] { throw error }
    }

    private func leavingMember(_ group: Group, _ leaving: LeavingMember) throws -> Member {
        guard let instance = leaving.instanceID else { return try lookup(group, leaving.memberID, instanceID: nil) }
        guard let id = group.staticMembers[instance], let member = group.members[id] else {
            throw BrookError(.unknownMemberID, "no member of group '\(group.id)' has group.instance.id '\(instance)'")
        }
        if !leaving.memberID.isEmpty, leaving.memberID != id {
            throw BrookError(.fencedInstanceID, "group.instance.id '\(instance)' belongs to member '\(id)', not '\(leaving.memberID)'")
        }
        return member
    }

    // MARK: Offsets

    /// OffsetCommit, refused from an unknown member or a stale generation. With an empty member
    /// id and generation -1 it is a commit by a client outside the group, allowed only while the
    /// group is empty or unknown.
    public func commit(group groupID: String, memberID: String, generation: Int, offsets commits: [OffsetCommit]) async throws {
        runDueTimers()
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
        }
        try await offsets.commitOffsets(group: groupID, commits)
    }

    // MARK: Admin

    public func listGroups() async throws -> [(group: String, state: GroupState, members: Int)] {
        runDueTimers()
        var result: [String: (GroupState, Int)] = [:]
        for group in groups.values where group.state != .dead { result[group.id] = (group.state, group.members.count) }
        for name in try await offsets.groupsWithCommittedOffsets() where result[name] == nil { result[name] = (.empty, 0) }
        return result.keys.sorted().map { ($0, result[$0]!.0, result[$0]!.1) }
    }

    /// Every group with members or committed offsets, with its protocol type, optionally only
    /// those in `states`.
    public func listings(states: Set<GroupState>? = nil) async throws -> [GroupListing] {
        runDueTimers()
        var result: [String: GroupListing] = [:]
        // A group that never had a member (only ids handed out) is not listed, as on Kafka.
        for group in groups.values where group.state != .dead && !(group.members.isEmpty && group.protocolType.isEmpty) {
            result[group.id] = GroupListing(
                group: group.id, state: group.state, protocolType: group.protocolType, members: group.members.count)
        }
        for name in try await offsets.groupsWithCommittedOffsets() where result[name] == nil {
            result[name] = GroupListing(group: name, state: .empty, protocolType: "", members: 0)
        }
        return result.keys.sorted().compactMap { name in
            let listing = result[name]!
            return states.map { $0.contains(listing.state) } ?? true ? listing : nil
        }
    }

    /// A group's members with their (decoded) assignments, and its committed offsets with lag.
    public func describe(group groupID: String) async throws -> GroupDescription {
        runDueTimers()
        try Broker.validateGroupName(groupID)
        let committed = try await offsets.committedOffsets(group: groupID, topic: nil)
        guard let group = groups[groupID], group.state != .dead || !committed.isEmpty else {
            if committed.isEmpty { throw BrookError(.groupIDNotFound, "group '\(groupID)' does not exist") }
            return GroupDescription(
                group: groupID, state: .empty, generation: 0, protocolName: "", mode: nil, rebalance: nil, members: [],
                offsets: describeOffsets(committed: committed, topics: Set(committed.map(\.topic)), owners: [:]))
        }
        var owners: [TopicPartition: String] = [:]
        var assigned: [String: [TopicPartition]] = [:]
        for member in group.members.values {
            let partitions = member.assignedPartitions
            assigned[member.id] = partitions.sorted()
            for tp in partitions { owners[tp] = member.id }
        }
        let topics = Set(group.members.values.flatMap(\.topics)).union(committed.map(\.topic))
        var description = GroupDescription(
            group: groupID, state: group.state, generation: group.generation, protocolName: group.protocolName,
            mode: group.mode, rebalance: group.rebalance,
            members: group.memberList.map {
                GroupDescription.Member(
                    memberID: $0.id, instanceID: $0.instanceID, clientID: $0.clientID, clientHost: $0.clientHost, assignment: assigned[$0.id] ?? [],
                    metadata: $0.metadata(for: group.protocolName), assignmentBytes: $0.assignment)
            },
            offsets: describeOffsets(committed: committed, topics: topics, owners: owners))
        description.protocolType = group.protocolType
        return description
    }

    private func describeOffsets(committed: [CommittedOffset], topics: Set<String>, owners: [TopicPartition: String]) -> [GroupDescription.Offset] {
        let byPartition = Dictionary(committed.map { (TopicPartition($0.topic, $0.partition), $0.offset) }, uniquingKeysWith: { a, _ in a })
        var offsets: [GroupDescription.Offset] = []
        for topic in topics.sorted() {
            guard let states = try? self.topics.partitionStates(of: topic) else { continue }
            for (index, partition) in states.enumerated() {
                let tp = TopicPartition(topic, index)
                let end = partition.nextOffset
                let committedOffset = byPartition[tp]
                offsets.append(GroupDescription.Offset(
                    partition: tp, committed: committedOffset, logEndOffset: end, lag: committedOffset.map { max(0, end - $0) },
                    memberID: owners[tp]))
            }
        }
        return offsets
    }

    /// Where `reset` moves a group's committed offsets.
    public typealias ResetTarget = GroupResetTarget

    /// Rewrites a group's committed offsets for a topic; refused while it has live members.
    @discardableResult
    public func reset(group groupID: String, topic: String, to target: ResetTarget) async throws -> [OffsetCommit] {
        runDueTimers()
        try Broker.validateGroupName(groupID)
        if let group = groups[groupID], !group.members.isEmpty {
            throw BrookError(.nonEmptyGroup, "group '\(groupID)' has \(group.members.count) live members; stop them before resetting its offsets")
        }
        var commits: [OffsetCommit] = []
        for (index, partition) in try topics.partitionStates(of: topic).enumerated() {
            let start = partition.logStartOffset
            let end = partition.nextOffset
            let offset: Int64
            switch target {
            case .earliest: offset = start
            case .latest: offset = end
            case .offset(let value): offset = min(max(value, start), end)
            case .timestamp(let time):
                offset = try await topics.offset(of: topic, partition: index, atOrAfter: time) ?? end
            }
            commits.append(OffsetCommit(topic: topic, partition: index, offset: offset))
        }
        if let group = groups[groupID], !group.members.isEmpty {
            throw BrookError(.nonEmptyGroup, "group '\(groupID)' gained members; stop them before resetting its offsets")
        }
        try await offsets.commitOffsets(group: groupID, commits)
        return commits
    }

    /// Deletes a group and its committed offsets; refused while it has live members.
    public func delete(group groupID: String) async throws {
        runDueTimers()
        try Broker.validateGroupName(groupID)
        if let group = groups[groupID], !group.members.isEmpty {
            throw BrookError(.nonEmptyGroup, "group '\(groupID)' has \(group.members.count) live members; stop them before deleting it")
        }
        if groups[groupID] == nil, try await offsets.committedOffsets(group: groupID, topic: nil).isEmpty {
            throw BrookError(.groupIDNotFound, "group '\(groupID)' does not exist")
        }
        try await offsets.deleteCommittedOffsets(group: groupID)
        if let group = groups[groupID], group.members.isEmpty {
            group.state = .dead
            cancelTimer(group)
            groups[groupID] = nil
        }
    }

    /// Kafka's OffsetDelete: drops a group's committed offsets of some partitions.
    /// - Returns: each partition's outcome, in order: `nil` when deleted (or there was none),
    ///   `GROUP_SUBSCRIBED_TO_TOPIC` while a live member subscribes to its topic.
    /// - Throws: `GROUP_ID_NOT_FOUND` for a group with neither members nor offsets.
    public func deleteOffsets(group groupID: String, partitions: [TopicPartition]) async throws -> [BrookError?] {
        runDueTimers()
        try Broker.validateGroupName(groupID)
        let group = groups[groupID].flatMap { $0.state == .dead ? nil : $0 }
        if group?.members.isEmpty ?? true, try await offsets.committedOffsets(group: groupID, topic: nil).isEmpty {
            throw BrookError(.groupIDNotFound, "group '\(groupID)' does not exist")
        }
        let subscribed = Set(group?.members.values.flatMap(\.topics) ?? [])
        var outcomes: [BrookError?] = []
        var deleting: [TopicPartition] = []
        for tp in partitions {
            if subscribed.contains(tp.topic) {
                outcomes.append(BrookError(
                    .groupSubscribedToTopic, "group '\(groupID)' has members subscribed to topic '\(tp.topic)'; stop them before deleting its offsets"))
            } else {
                outcomes.append(nil)
                deleting.append(tp)
            }
        }
        if !deleting.isEmpty { try await offsets.deleteCommittedOffsets(group: groupID, partitions: deleting) }
        return outcomes
    }

    /// Partitions were added to a topic, or it was deleted: groups subscribed to it rebalance.
    public func topicChanged(_ topic: String) {
        runDueTimers()
        for group in groups.values where group.members.values.contains(where: { $0.topics.contains(topic) }) {
            if group.state == .stable || group.state == .completingRebalance {
                prepareRebalance(group, reason: "the partitions of topic '\(topic)' changed")
            }
        }
    }

    /// Stops the timers; members' waits fail, and later calls are refused.
    public func shutdown() {
        isShutDown = true
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

    private func checkRunning() throws {
        if isShutDown { throw BrookError(.brokerNotAvailable, "the broker is closing") }
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
            for member in group.members.values { member.joined = false }
        }
        group.state = .preparingRebalance
        let rebalanceTimeout = group.members.values.map(\.rebalanceTimeoutMs).max() ?? GroupDefaults.rebalanceTimeoutMs
        if wasEmpty {
            let limit = now + .milliseconds(rebalanceTimeout)
            group.initialDelayLimit = limit
            scheduleTimer(group, at: min(now + .milliseconds(group.initialDelayMs), limit))
        } else if let limit = group.initialDelayLimit, group.deadline != nil {
            // Still in the initial delay: each new member extends it, up to the limit.
            scheduleTimer(group, at: min(now + .milliseconds(group.initialDelayMs), limit))
        } else if group.deadline == nil {
            scheduleTimer(group, at: now + .milliseconds(rebalanceTimeout))
        }
        emit(.rebalancing(group: group.id))
        logger.info("rebalance", metadata: ["group": "\(group.id)", "reason": "\(reason)", "generation": "\(group.generation)"])
    }

    /// Completes the join phase once every member has (re)joined, unless the initial delay runs.
    private func tryCompleteJoin(_ group: Group) {
        guard group.state == .preparingRebalance, group.initialDelayLimit == nil else { return }
        if group.members.values.allSatisfy(\.joined) { completeJoin(group) }
    }

    private func timerFired(_ group: Group) {
        group.deadline = nil
        group.timer = nil
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
            group.emptySinceMs = WallClock.nowMillis()
            group.generation += 1
            group.leaderID = nil
            return
        }
        group.generation += 1
        group.protocolName = vote(members)
        if group.leaderID == nil || group.members[group.leaderID!] == nil { group.leaderID = members[0].id }
        if group.mode == .coordinator {
            assignByCoordinator(group)
            group.state = .stable
            logger.info("group stable", metadata: ["group": "\(group.id)", "generation": "\(group.generation)", "assignor": "\(group.protocolName)"])
        } else {
            group.state = .completingRebalance
            scheduleTimer(group, at: now + .milliseconds(members.map(\.rebalanceTimeoutMs).max() ?? GroupDefaults.rebalanceTimeoutMs))
        }
        for member in members {
            // As Kafka: a member's session starts over when its join is answered.
            member.lastSeen = now
            guard let waiter = member.joinWaiter else { continue }
            member.joinWaiter = nil
            waiter.resume(returning: result(for: member, in: group))
        }
        if group.followUpPending {
            // Cooperative: partitions revoked in this generation go to their new owners next.
            prepareRebalance(group, reason: "cooperative follow-up: assign the revoked partitions")
        }
    }

    /// Runs the built-in strategy the members voted for over their subscriptions, and stores each
    /// member's assignment in the consumer protocol's format.
    private func assignByCoordinator(_ group: Group) {
        let strategy = AssignmentStrategy(rawValue: group.protocolName) ?? .range
        let members = group.memberList
        var counts: [String: Int] = [:]
        for topic in Set(members.flatMap(\.topics)) {
            if let states = try? topics.partitionStates(of: topic) { counts[topic] = states.count }
        }
        let owned = Dictionary(uniqueKeysWithValues: members.map { ($0.id, $0.assignedPartitions) })
        let target = strategy.assign(
            members.map { AssignmentStrategy.Member(id: $0.id, topics: $0.topics, owned: owned[$0.id] ?? []) }, partitions: counts)
        var withheld = false
        var owner: [TopicPartition: String] = [:]
        for member in members { for tp in owned[member.id] ?? [] { owner[tp] = member.id } }
        for member in members {
            var granted = target[member.id] ?? []
            if group.rebalance == .cooperative {
                // Keep what stays; take only partitions nobody else owns now; give up what moves.
                let wanted = granted
                granted = wanted.filter { owner[$0] == nil || owner[$0] == member.id }
                if granted.count != wanted.count { withheld = true }
            }
            member.assignment = ConsumerProtocol.Assignment(partitions: granted.sorted()).encoded()
        }
        group.followUpPending = withheld
    }

    /// Kafka's vote: each member votes for its most preferred protocol that every member supports.
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

    private func result(for member: Member, in group: Group) -> JoinGroupResult {
        let isLeader = group.leaderID == member.id
        return JoinGroupResult(
            generation: group.generation, memberID: member.id, leaderID: group.leaderID ?? "", protocolType: group.protocolType,
            protocolName: group.protocolName,
            members: group.mode == .leader && isLeader
                ? group.memberList.map { .init(memberID: $0.id, instanceID: $0.instanceID, metadata: $0.metadata(for: group.protocolName)) } : [],
            assignment: group.mode == .coordinator ? member.assignment : nil)
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
        emit(.memberRemoved(group: group.id, memberID: member.id))
        logger.info("member removed", metadata: ["group": "\(group.id)", "member": "\(member.id)", "reason": "\(reason)"])
        if rebalance { rebalanceAfterRemoval(group, reason: reason) }
    }

    private func rebalanceAfterRemoval(_ group: Group, reason: String) {
        if group.members.isEmpty {
            cancelTimer(group)
            group.state = .empty
            group.emptySinceMs = WallClock.nowMillis()
            group.initialDelayLimit = nil
            group.generation += 1
        } else if group.state == .preparingRebalance {
            tryCompleteJoin(group)
        } else {
            prepareRebalance(group, reason: reason)
        }
    }

    // MARK: Timers

    /// Timers are deadlines on the injected clock. Every call runs the ones that are due before
    /// it does anything else, and a deadline the clock keeps runs them when no call comes (its
    /// work hops into the actor); so with a clock advanced by hand, the next call sees exactly
    /// what the elapsed time implies.
    private func runDueTimers() {
        let now = self.now
        for group in groups.values {
            if let deadline = group.deadline, deadline <= now { timerFired(group) }
        }
        if nextSessionCheck.map({ now >= $0 }) ?? true {
            nextSessionCheck = now + options.sessionCheckInterval
            expireSessions(now)
        }
    }

    private func scheduleTimer(_ group: Group, at deadline: ContinuousClock.Instant) {
        group.timer?.cancel()
        group.deadline = deadline
        group.timer = clock.schedule(at: deadline) { [weak self] in
            Task { await self?.deadlineReached() }
        }
    }

    /// A timer's deadline came with no call to run it (after shutdown, none runs).
    private func deadlineReached() {
        guard !isShutDown else { return }
        runDueTimers()
    }

    private func cancelTimer(_ group: Group) {
        group.timer?.cancel()
        group.timer = nil
        group.deadline = nil
    }

    /// Checks sessions every `sessionCheckInterval` while no call comes; armed by the first join.
    private func startSweeper() {
        guard sweeper == nil else { return }
        armSweeper()
    }

    private func armSweeper() {
        sweeper = clock.schedule(at: now + options.sessionCheckInterval) { [weak self] in
            Task { await self?.sweep() }
        }
    }

    private func sweep() {
        guard !isShutDown else { return }
        runDueTimers()
        armSweeper()
        let now = self.now
        guard let next = nextRetentionCheck else {
            nextRetentionCheck = now + options.offsetsRetentionCheckInterval
            return
        }
        if now >= next {
            nextRetentionCheck = now + options.offsetsRetentionCheckInterval
            Task {
                do {
                    try await self.expireEmptyGroups(nowMs: WallClock.nowMillis())
                } catch {
                    self.logger.warning("expiring empty groups failed; retrying at the next check", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    /// Forgets every group with no members whose last commit, and the moment it lost its last
    /// member, are both older than `offsetsRetentionMs`, with its committed offsets, as Kafka
    /// expires them: empty groups do not pile up. Runs every `offsetsRetentionCheckInterval`.
    /// - Parameter nowMs: the wall-clock time commits are stamped in.
    /// - Returns: the groups forgotten.
    @discardableResult
    public func expireEmptyGroups(nowMs: Int64) async throws -> [String] {
        let cutoff = nowMs - options.offsetsRetentionMs
        func idle(_ name: String) -> Bool {
            guard let group = groups[name] else { return true }
            return group.members.isEmpty && group.pending.isEmpty && (group.emptySinceMs ?? Int64.min) < cutoff
        }
        var expired: [String] = []
        let withOffsets = try await offsets.groupsWithCommittedOffsets()
        for name in withOffsets where idle(name) {
            let latest = try await offsets.committedOffsets(group: name, topic: nil).map(\.committedMs).max() ?? Int64.min
            // Checked again after the read: a member may have joined meanwhile.
            guard latest < cutoff, idle(name) else { continue }
            try await offsets.deleteCommittedOffsets(group: name)
            expired.append(name)
            if groups[name]?.members.isEmpty ?? false { groups[name] = nil }
        }
        // A group with neither members nor offsets has nothing to keep.
        let kept = Set(withOffsets)
        for (name, group) in groups where !kept.contains(name) && idle(name) && group.state == .empty {
            cancelTimer(group)
            groups[name] = nil
            expired.append(name)
        }
        if !expired.isEmpty {
            logger.info("forgot empty groups", metadata: ["groups": "\(expired.sorted())", "retention_ms": "\(options.offsetsRetentionMs)"])
        }
        return expired.sorted()
    }

    /// Removes members whose session timeout passed without a heartbeat, POLL or join.
    private func expireSessions(_ now: ContinuousClock.Instant) {
        for group in groups.values {
            group.pending = group.pending.filter { $0.value > now }
            for member in group.members.values where member.joinWaiter == nil && member.syncWaiter == nil {
                if now - member.lastSeen > .milliseconds(member.sessionTimeoutMs) {
                    remove(member, from: group, reason: "member \(member.id) missed its session timeout of \(member.sessionTimeoutMs) ms")
                }
            }
        }
    }

    // MARK: Helpers

    /// Checks a join; returns the topics of its consumer-protocol subscription.
    private func validate(_ request: JoinGroupRequest) throws -> Set<String> {
        try Broker.validateGroupName(request.group)
        guard (options.minSessionTimeoutMs...options.maxSessionTimeoutMs).contains(request.sessionTimeoutMs) else {
            throw BrookError(.invalidSessionTimeout, "session.timeout.ms \(request.sessionTimeoutMs) is outside \(options.minSessionTimeoutMs) to \(options.maxSessionTimeoutMs)")
        }
        guard request.rebalanceTimeoutMs >= 1, request.rebalanceTimeoutMs <= options.maxSessionTimeoutMs else {
            throw BrookError(.invalidSessionTimeout, "rebalance.timeout.ms \(request.rebalanceTimeoutMs) is outside 1 to \(options.maxSessionTimeoutMs)")
        }
        guard !request.protocolType.isEmpty else { throw BrookError(.invalidRequest, "JoinGroup needs a protocol type, such as 'consumer'") }
        guard !request.protocols.isEmpty else { throw BrookError(.invalidRequest, "JoinGroup needs at least one protocol (assignment strategy)") }
        if request.mode == .coordinator {
            guard request.protocolType == ConsumerProtocol.type else {
                throw BrookError(.inconsistentGroupProtocol, "the coordinator assigns only groups of protocol type 'consumer', not '\(request.protocolType)'")
            }
            for name in request.protocols.map(\.name) where AssignmentStrategy(rawValue: name) == nil {
                throw BrookError(.inconsistentGroupProtocol, "'\(name)' is not a built-in strategy (range, roundrobin, sticky); use assignment=leader for custom ones")
            }
        }
        guard request.protocolType == ConsumerProtocol.type else { return [] }
        var topics = Set<String>()
        for item in request.protocols {
            do {
                topics.formUnion(try ConsumerProtocol.Subscription(decoding: item.metadata).topics)
            } catch {
                // Opaque to a leader-assigned group; the coordinator must read what it assigns.
                if request.mode == .coordinator { throw error }
            }
        }
        // As Kafka: a topic that does not exist (yet, or any more) is a valid subscription with no
        // partitions; only the name must be one.
        if request.mode == .coordinator { for topic in topics { try TopicName.validate(topic) } }
        return topics
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

    private func issueMemberID(_ clientID: String) -> String {
        nextMemberNumber += 1
        let safe = String(clientID.unicodeScalars.filter { $0.isASCII && ($0.properties.isAlphabetic || $0.properties.numericType != nil || $0 == "-" || $0 == "_" || $0 == ".") }.prefix(64).map(Character.init))
        return "\(safe.isEmpty ? "member" : safe)-\(nextMemberNumber)-\(UInt32.random(in: 0...UInt32.max))"
    }
}
