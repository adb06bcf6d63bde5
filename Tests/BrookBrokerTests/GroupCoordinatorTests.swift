import BrookBroker
import BrookModel
import BrookStore
import BrookTestSupport
import Foundation
import Logging
import Synchronization
import Testing

struct AssignorTests {
    static let members = [
        AssignmentStrategy.Member(id: "a", topics: ["t", "u"]), AssignmentStrategy.Member(id: "b", topics: ["t"]),
        AssignmentStrategy.Member(id: "c", topics: ["t", "u"]),
    ]

    @Test(arguments: AssignmentStrategy.allCases)
    func everyPartitionGoesToExactlyOneSubscriber(_ strategy: AssignmentStrategy) {
        let result = strategy.assign(Self.members, partitions: ["t": 7, "u": 2])
        let all = result.values.flatMap { $0 }
        #expect(all.count == 9)
        #expect(Set(all).count == 9)
        #expect(!result["b"]!.contains { $0.topic == "u" }, "b does not subscribe to u")
    }

    @Test func rangeGivesConsecutiveRangesPerTopic() {
        let result = AssignmentStrategy.range.assign(Self.members, partitions: ["t": 7, "u": 2])
        #expect(result["a"]!.filter { $0.topic == "t" }.map(\.partition).sorted() == [0, 1, 2])
        #expect(result["b"]!.map(\.partition).sorted() == [3, 4])
        #expect(result["c"]!.filter { $0.topic == "t" }.map(\.partition).sorted() == [5, 6])
        #expect(result["a"]!.filter { $0.topic == "u" }.map(\.partition) == [0])
    }

    @Test func stickyKeepsOwnersAndBalances() {
        let before = AssignmentStrategy.sticky.assign(
            [AssignmentStrategy.Member(id: "a", topics: ["t"]), AssignmentStrategy.Member(id: "b", topics: ["t"])], partitions: ["t": 6])
        #expect(before["a"]!.count == 3 && before["b"]!.count == 3)
        let after = AssignmentStrategy.sticky.assign(
            [
                AssignmentStrategy.Member(id: "a", topics: ["t"], owned: before["a"]!),
                AssignmentStrategy.Member(id: "b", topics: ["t"], owned: before["b"]!),
                AssignmentStrategy.Member(id: "c", topics: ["t"]),
            ], partitions: ["t": 6])
        #expect(after.values.map(\.count).sorted() == [2, 2, 2])
        #expect(after["a"]!.isSubset(of: before["a"]!) && after["b"]!.isSubset(of: before["b"]!), "only what must move moves")
    }
}

/// Committed offsets in memory, so the coordinator is tested with no database.
final class MemoryOffsets: CommittedOffsetStore {
    private let stored = Mutex<[String: [TopicPartition: OffsetCommit]]>([:])

    func commitOffsets(group: String, _ offsets: [OffsetCommit]) async throws {
        stored.withLock { stored in for commit in offsets { stored[group, default: [:]][TopicPartition(commit.topic, commit.partition)] = commit } }
    }

    func committedOffsets(group: String, topic: String?) async throws -> [CommittedOffset] {
        stored.withLock { stored in
            (stored[group] ?? [:]).values.filter { topic == nil || $0.topic == topic }.sorted { ($0.topic, $0.partition) < ($1.topic, $1.partition) }.map {
                CommittedOffset(group: group, topic: $0.topic, partition: $0.partition, offset: $0.offset, metadata: $0.metadata, committedMs: 0)
            }
        }
    }

    func groupsWithCommittedOffsets() async throws -> [String] { stored.withLock { $0.keys.sorted() } }

    func deleteCommittedOffsets(group: String) async throws { _ = stored.withLock { $0.removeValue(forKey: group) } }

    func deleteCommittedOffsets(group: String, partitions: [TopicPartition]) async throws {
        stored.withLock { stored in for tp in partitions { stored[group]?[tp] = nil } }
    }
}

/// Topics with fixed partition counts, each partition holding offsets 0..<10.
struct FixedTopics: TopicCatalog {
    var partitions: [String: Int]

    func partitionStates(of topic: String) throws -> [PartitionState] {
        guard let count = partitions[topic] else { throw BrookError.unknownTopic(topic) }
        return Array(repeating: PartitionState(logStartOffset: 0, nextOffset: 10), count: count)
    }

    func offset(of topic: String, partition: Int, atOrAfter timestamp: Int64) async throws -> Int64? { nil }
}

/// The coordinator driven directly, on a clock the tests advance: no broker, no sleeps.
struct GroupCoordinatorTests {
    let clock = ManualClock()
    let offsets = MemoryOffsets()

    func coordinator(initialDelayMs: Int64 = 0) -> GroupCoordinator {
        var options = GroupCoordinator.Options()
        options.initialRebalanceDelayMs = initialDelayMs
        return GroupCoordinator(
            offsets: offsets, topics: FixedTopics(partitions: ["t": 6]), options: options, clock: clock,
            logger: Logger(label: "test.groups", factory: { _ in SwiftLogNoOpLogHandler() }))
    }

    /// A consumer in coordinator mode subscribing to `t`.
    func consumer(_ member: String = "", instance: String? = nil, strategies: [String] = ["range"]) -> JoinGroupRequest {
        let subscription = ConsumerProtocol.Subscription(topics: ["t"]).encoded()
        var request = JoinGroupRequest(group: "g", protocols: strategies.map { GroupProtocol(name: $0, metadata: subscription) })
        request.memberID = member
        request.instanceID = instance
        request.mode = .coordinator
        request.sessionTimeoutMs = 10_000
        request.rebalanceTimeoutMs = 5_000
        return request
    }

    /// Lets other tasks run until `condition` holds: the coordinator's state, not time, decides.
    func settle(_ condition: () async throws -> Bool) async throws {
        // Bounded by time, not by a count of yields: on a loaded machine the task the condition
        // waits on may not run for a while.
        let limit = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < limit {
            if try await condition() { return }
            await Task.yield()
        }
        Issue.record("the condition never held")
    }

    func memberCount(_ coordinator: GroupCoordinator) async throws -> Int {
        (try? await coordinator.describe(group: "g"))?.members.count ?? 0
    }

    func partitions(_ result: JoinGroupResult) throws -> Set<TopicPartition> {
        Set(try ConsumerProtocol.Assignment(decoding: result.assignment ?? []).partitions)
    }

    /// Two coordinator-assigned members, stable in one generation.
    func twoStableMembers(_ coordinator: GroupCoordinator) async throws -> (JoinGroupResult, JoinGroupResult) {
        let first = try await coordinator.join(consumer())
        let second = Task { try await coordinator.join(consumer()) }
        try await settle { try await memberCount(coordinator) == 2 }
        let rejoined = try await coordinator.join(consumer(first.memberID))
        return (rejoined, try await second.value)
    }

    @Test func theLeaderGetsEveryMembersMetadataAndEachMemberItsOpaqueAssignment() async throws {
        let coordinator = coordinator(initialDelayMs: 3_000)
        func member(_ tag: UInt8) -> JoinGroupRequest {
            var request = JoinGroupRequest(group: "g", protocols: [GroupProtocol(name: "custom", metadata: [tag, 0xFF, 0x00, tag])])
            request.protocolType = "connect"
            return request
        }
        let joins = (1...3).map { tag in Task { try await coordinator.join(member(UInt8(tag))) } }
        try await settle { try await memberCount(coordinator) == 3 }
        #expect(try await coordinator.describe(group: "g").state == .preparingRebalance, "the initial delay waits for more members")
        clock.advance(by: .milliseconds(3_000))
        var results: [JoinGroupResult] = []
        for join in joins { results.append(try await join.value) }

        #expect(Set(results.map(\.generation)) == [1])
        #expect(Set(results.map(\.leaderID)).count == 1)
        let leader = try #require(results.first { $0.memberID == $0.leaderID })
        #expect(leader.protocolType == "connect" && leader.protocolName == "custom")
        #expect(Set(leader.members.map(\.metadata)) == [[1, 0xFF, 0, 1], [2, 0xFF, 0, 2], [3, 0xFF, 0, 3]], "opaque metadata, unchanged")
        #expect(Set(leader.members.map(\.memberID)) == Set(results.map(\.memberID)))
        let followerLists = results.filter { $0.memberID != $0.leaderID }.map(\.members)
        #expect(followerLists.count == 2 && followerLists.allSatisfy(\.isEmpty), "followers get no member list")

        // Followers wait in SYNC for the leader's assignment; one member is left out of it.
        let followers = results.filter { $0.memberID != $0.leaderID }
        let waiting = followers.map { follower in
            Task { try await coordinator.sync(group: "g", memberID: follower.memberID, generation: 1, assignments: nil) }
        }
        let assignments: [String: [UInt8]] = [leader.memberID: [9, 8, 7], followers[0].memberID: [0, 0xAB, 0xCD]]
        #expect(try await coordinator.sync(group: "g", memberID: leader.memberID, generation: 1, assignments: assignments) == [9, 8, 7])
        #expect(try await waiting[0].value == [0, 0xAB, 0xCD], "opaque assignment bytes, unchanged")
        #expect(try await waiting[1].value == [], "empty where the leader left the member out")
        #expect(try await coordinator.describe(group: "g").state == .stable)
    }

    /// A member that starts a group may ask for a shorter initial delay than the coordinator's
    /// (a lone `brook consume --group` need not wait 3 s): members joining during it extend it by
    /// that shorter delay, and asking for more than the coordinator's changes nothing.
    @Test(.timeLimit(.minutes(1)))
    func aMemberStartingAGroupCanShortenItsInitialDelay() async throws {
        let coordinator = coordinator(initialDelayMs: 3_000)
        func state() async throws -> GroupState { try await coordinator.describe(group: "g").state }
        var quick = consumer()
        quick.initialRebalanceDelayMs = 200
        let first = Task { try await coordinator.join(quick) }
        try await settle { try await memberCount(coordinator) == 1 }
        clock.advance(by: .milliseconds(100))
        // The second member asks nothing: the group's delay, 200 ms from its join, holds for it.
        let second = Task { try await coordinator.join(consumer()) }
        try await settle { try await memberCount(coordinator) == 2 }
        clock.advance(by: .milliseconds(150))
        #expect(try await state() == .preparingRebalance, "the second join moved the end of the delay to 300 ms")
        clock.advance(by: .milliseconds(50))
        try await settle { try await state() == .stable }
        // Past the coordinator's own delay, so the joins return (and the test ends) either way.
        clock.advance(by: .milliseconds(3_000))
        let (a, b) = (try await first.value, try await second.value)
        #expect(a.generation == 1 && b.generation == 1, "both in the first generation")
        #expect(try partitions(a).union(partitions(b)).count == 6)

        // Empty again; a member asking for more than the coordinator's 3 s waits 3 s.
        _ = try await coordinator.leave(group: "g", members: [LeavingMember(memberID: a.memberID), LeavingMember(memberID: b.memberID)])
        try await settle { try await state() == .empty }
        var patient = consumer()
        patient.initialRebalanceDelayMs = 10_000
        let third = Task { try await coordinator.join(patient) }
        try await settle { try await memberCount(coordinator) == 1 }
        clock.advance(by: .milliseconds(3_000))
        try await settle { try await state() == .stable }
        clock.advance(by: .milliseconds(7_000))
        #expect(try partitions(try await third.value).count == 6)
    }

    @Test func aMissedSessionTimeoutRebalancesTheGroup() async throws {
        let coordinator = coordinator()
        let (a, b) = try await twoStableMembers(coordinator)
        #expect(a.generation == b.generation)
        #expect(try partitions(a).count == 3 && partitions(b).count == 3 && partitions(a).isDisjoint(with: partitions(b)))

        // Only a heartbeats; b stays silent past its 10 s session.
        clock.advance(by: .seconds(6))
        try await coordinator.heartbeat(group: "g", memberID: a.memberID, generation: a.generation)
        clock.advance(by: .seconds(6))
        await expectBrookError(.rebalanceInProgress) { try await coordinator.heartbeat(group: "g", memberID: a.memberID, generation: a.generation) }
        await expectBrookError(.unknownMemberID) { try await coordinator.heartbeat(group: "g", memberID: b.memberID, generation: b.generation) }
        let alone = try await coordinator.join(consumer(a.memberID))
        #expect(alone.generation == a.generation + 1)
        #expect(try partitions(alone).count == 6, "the survivor takes every partition")
    }

    @Test func aStaticMemberReplacedFencesTheOldID() async throws {
        let coordinator = coordinator()
        let first = try await coordinator.join(consumer(instance: "worker-1"))
        let restarted = try await coordinator.join(consumer(instance: "worker-1"))
        #expect(restarted.memberID != first.memberID)
        #expect(restarted.generation == first.generation, "no rebalance")
        #expect(try partitions(restarted) == partitions(first), "the same partitions")
        await expectBrookError(.fencedInstanceID) { try await coordinator.heartbeat(group: "g", memberID: first.memberID, generation: first.generation) }
        await expectBrookError(.fencedInstanceID) {
            try await coordinator.commit(group: "g", memberID: first.memberID, generation: first.generation, offsets: [OffsetCommit(topic: "t", partition: 0, offset: 1)])
        }
        try await coordinator.heartbeat(group: "g", memberID: restarted.memberID, generation: restarted.generation)
    }

    @Test func aStaleGenerationIsRefused() async throws {
        let coordinator = coordinator()
        let (a, _) = try await twoStableMembers(coordinator)
        #expect(a.generation == 2, "a joined alone in generation 1")
        let stale = a.generation - 1
        await expectBrookError(.illegalGeneration) { try await coordinator.heartbeat(group: "g", memberID: a.memberID, generation: stale) }
        await expectBrookError(.illegalGeneration) {
            try await coordinator.commit(group: "g", memberID: a.memberID, generation: stale, offsets: [OffsetCommit(topic: "t", partition: 0, offset: 1)])
        }
        #expect(try await offsets.committedOffsets(group: "g", topic: nil).isEmpty)
        try await coordinator.commit(group: "g", memberID: a.memberID, generation: a.generation, offsets: [OffsetCommit(topic: "t", partition: 0, offset: 1)])
        #expect(try await offsets.committedOffsets(group: "g", topic: nil).map(\.offset) == [1])

        // Generation -1 with no member id is for tools, and only while a group is empty or unknown.
        await expectBrookError(.unknownMemberID) {
            try await coordinator.commit(group: "g", memberID: "", generation: -1, offsets: [OffsetCommit(topic: "t", partition: 0, offset: 2)])
        }
        try await coordinator.commit(group: "other", memberID: "", generation: -1, offsets: [OffsetCommit(topic: "t", partition: 0, offset: 2)])
        #expect(try await offsets.committedOffsets(group: "other", topic: nil).map(\.offset) == [2])
    }

    @Test func severalMembersLeaveAtOnceByInstanceID() async throws {
        let coordinator = coordinator(initialDelayMs: 1_000)
        let joins = ["x", "y", "z"].map { instance in Task { try await coordinator.join(consumer(instance: instance)) } }
        try await settle { try await memberCount(coordinator) == 3 }
        clock.advance(by: .seconds(1))
        var members: [String: JoinGroupResult] = [:]
        for (instance, join) in zip(["x", "y", "z"], joins) { members[instance] = try await join.value }
        let generation = members["z"]!.generation

        let outcomes = try await coordinator.leave(group: "g", members: [
            LeavingMember(instanceID: "x"), LeavingMember(memberID: members["y"]!.memberID, instanceID: "y"),
            LeavingMember(instanceID: "nobody"), LeavingMember(memberID: members["x"]!.memberID, instanceID: "z"),
        ])
        #expect(outcomes.map { $0?.code } == [nil, nil, .unknownMemberID, .fencedInstanceID])
        #expect(try await coordinator.describe(group: "g").members.map(\.instanceID) == ["z"])
        await expectBrookError(.rebalanceInProgress) { try await coordinator.heartbeat(group: "g", memberID: members["z"]!.memberID, generation: generation) }
        let rejoined = try await coordinator.join(consumer(members["z"]!.memberID, instance: "z"))
        #expect(rejoined.generation == generation + 1, "one rebalance for both leaves")
        #expect(try partitions(rejoined).count == 6)
    }

    @Test func membersWithNoProtocolInCommonAreRefused() async throws {
        let coordinator = coordinator()
        _ = try await coordinator.join(consumer(strategies: ["range", "sticky"]))
        await expectBrookError(.inconsistentGroupProtocol) { try await coordinator.join(consumer(strategies: ["roundrobin"])) }
        var otherType = JoinGroupRequest(group: "g", protocols: [GroupProtocol(name: "range", metadata: [])])
        otherType.protocolType = "connect"
        await expectBrookError(.inconsistentGroupProtocol) { try await coordinator.join(otherType) }
        #expect(try await memberCount(coordinator) == 1)
    }

    @Test func membersThatDoNotRejoinAreRemovedAtTheRebalanceTimeout() async throws {
        let coordinator = coordinator()
        let (a, b) = try await twoStableMembers(coordinator)
        // A third member joins; neither a nor b rejoins within the 5 s rebalance timeout.
        let third = Task { try await coordinator.join(consumer()) }
        try await settle { try await memberCount(coordinator) == 3 }
        clock.advance(by: .milliseconds(4_999))
        await expectBrookError(.rebalanceInProgress) { try await coordinator.heartbeat(group: "g", memberID: a.memberID, generation: a.generation) }
        clock.advance(by: .milliseconds(1))
        let alone = try await third.value
        #expect(alone.generation == b.generation + 1)
        #expect(try partitions(alone).count == 6)
        await expectBrookError(.unknownMemberID) { try await coordinator.heartbeat(group: "g", memberID: a.memberID, generation: a.generation) }
        await expectBrookError(.unknownMemberID) { try await coordinator.heartbeat(group: "g", memberID: b.memberID, generation: b.generation) }
    }

    /// The broker's one clock is the coordinator's: a session that runs out on the clock given in
    /// `BrokerOptions.clock` removes its member with no call to the coordinator (with a clock of
    /// its own, the coordinator would not notice the hand-advanced time and this would hang until
    /// the time limit).
    @Test(.timeLimit(.minutes(1)))
    func theBrokersClockRunsTheCoordinatorsSessionTimeouts() async throws {
        let dir = TemporaryDirectory()
        let broker = try openBroker(dir) { $0.clock = clock }
        try await broker.createTopic("t")
        let (removals, removed) = AsyncStream<String>.makeStream()
        broker.groups.addListener { event in
            if case .memberRemoved(_, let memberID) = event { removed.yield(memberID) }
        }
        var request = consumer()
        request.sessionTimeoutMs = 120_000
        let joining = Task { try await broker.groups.join(request) }
        // The initial rebalance delay is on the broker's clock too.
        try await settle { try await memberCount(broker.groups) == 1 }
        clock.advance(by: .milliseconds(GroupDefaults.initialRebalanceDelayMs))
        let joined = try await joining.value
        #expect(joined.generation == 1)

        clock.advance(by: .milliseconds(120_001))
        for await memberID in removals {
            #expect(memberID == joined.memberID)
            break
        }
        #expect(try await broker.groups.describe(group: "g").state == .empty)
        await broker.close()
    }
}
