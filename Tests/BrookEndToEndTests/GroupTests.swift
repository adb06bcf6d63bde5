import BrookBroker
import BrookClient
import BrookModel
import BrookTestSupport
import BrookWire
import Foundation
import Testing

/// Records consumed by a group, by whom.
actor Collector {
    private(set) var deliveries: [TopicPartition: [Int64]] = [:]
    private(set) var byConsumer: [String: Set<TopicPartition>] = [:]

    func add(_ consumer: String, _ records: [ConsumedRecord]) {
        for item in records {
            deliveries[item.partition, default: []].append(item.record.offset)
            byConsumer[consumer, default: []].insert(item.partition)
        }
    }

    var total: Int { deliveries.values.reduce(0) { $0 + $1.count } }
    var unique: Int { deliveries.values.reduce(0) { $0 + Set($1).count } }
}

func groupServer() async throws -> TestServer {
    try await TestServer.start(broker: { $0.groups.initialRebalanceDelayMs = 0 })
}

func consumerConfiguration(_ group: String, _ topics: [String], rebalance: RebalanceProtocol = .eager) -> ConsumerConfiguration {
    var configuration = ConsumerConfiguration(group: group, topics: topics)
    configuration.sessionTimeoutMs = 10_000
    configuration.heartbeatIntervalMs = 100
    configuration.pollWaitMs = 100
    configuration.autoCommitIntervalMs = 200
    configuration.autoOffsetReset = .earliest
    configuration.rebalance = rebalance
    return configuration
}

/// Polls until cancelled, handing every batch to the collector.
func run(_ consumer: GroupConsumer, _ name: String, into collector: Collector) -> Task<Void, Error> {
    Task {
        while !Task.isCancelled {
            let batch = try await consumer.poll()
            await collector.add(name, batch)
        }
    }
}

/// Waits until the server's group has `count` members: a JOIN sent from another task has
/// arrived. Group state, not time, decides.
func awaitMembers(_ server: TestServer, _ group: String, _ count: Int) async throws {
    let arrived = try await eventually { (try? await server.broker.groups.describe(group: group))?.members.count == count }
    #expect(arrived, "group \(group) reached \(count) members")
}

func produce(_ client: BrookClient, _ topic: String, partitions: Int, perPartition: Int, tag: String) async throws {
    for partition in 0..<partitions {
        try await client.produce(topic: topic, records: (0..<perPartition).map { ProducerRecord(key: nil, value: "\(tag)-\(partition)-\($0)", partition: partition) })
    }
}

struct GroupMembershipTests {
    @Test func twoThenThreeConsumersSplitSixPartitionsAndConsumeEachRecordOnce() async throws {
        let server = try await groupServer()
        let admin = try await server.client()
        try await admin.createTopic("t", partitions: 6)
        try await produce(admin, "t", partitions: 6, perPartition: 50, tag: "a")
        let collector = Collector()
        var consumers: [GroupConsumer] = []
        var tasks: [Task<Void, Error>] = []
        for index in 0..<2 {
            let consumer = GroupConsumer(client: try await server.client(), configuration: consumerConfiguration("g", ["t"]))
            consumers.append(consumer)
            tasks.append(run(consumer, "c\(index)", into: collector))
        }
        #expect(try await eventually { await collector.unique == 300 })
        #expect(try await eventually {
            let a = await consumers[0].assignment, b = await consumers[1].assignment
            return a.count == 3 && b.count == 3 && a.isDisjoint(with: b)
        }, "two consumers split six partitions")

        let third = GroupConsumer(client: try await server.client(), configuration: consumerConfiguration("g", ["t"]))
        consumers.append(third)
        tasks.append(run(third, "c2", into: collector))
        #expect(try await eventually {
            let sets = await [consumers[0].assignment, consumers[1].assignment, consumers[2].assignment]
            return sets.allSatisfy { $0.count == 2 } && Set(sets.flatMap { $0 }).count == 6
        }, "three consumers split six partitions")
        try await produce(admin, "t", partitions: 6, perPartition: 50, tag: "b")
        #expect(try await eventually { await collector.unique == 600 })
        try await Task.sleep(for: .milliseconds(300))
        #expect(await collector.total == 600, "every record consumed exactly once")
        #expect(await collector.deliveries.values.allSatisfy { $0 == $0.sorted() }, "in order within each partition")
        for task in tasks { task.cancel() }
        for consumer in consumers { await consumer.close() }
        await server.stop()
    }

    /// JOIN's initial_rebalance_delay_ms=0 starts a group at once on a server whose
    /// group.initial.rebalance.delay.ms is the default 3 s: the group is assigned while the
    /// broker's (hand-driven) clock stands still, where a JOIN without it waits on that clock.
    @Test func aJoinCanStartItsGroupWithoutTheInitialDelay() async throws {
        let clock = ManualClock()
        let server = try await TestServer.start(broker: { $0.clock = clock })
        let admin = try await server.client()
        try await admin.createTopic("t", partitions: 2)
        func state(_ group: String) async -> GroupState? { try? await server.broker.groups.describe(group: group).state }

        let waiting = try await BrookConnection.connect(to: server.address)
        let patient = Task { try Reply.joined(try await waiting.send(.join(JoinOptions(group: "patient", topics: ["t"])))) }
        try await awaitMembers(server, "patient", 1)
        let quick = try await BrookConnection.connect(to: server.address)
        var join = JoinOptions(group: "quick", topics: ["t"])
        join.initialRebalanceDelayMs = 0
        let quickly = Task { try Reply.joined(try await quick.send(.join(join))) }

        #expect(try await eventually { await state("quick") == .stable }, "assigned with the clock standing still")
        #expect(await state("patient") == .preparingRebalance, "the other group still waits")
        // The server's delay passes, so both JOINs return (and the test ends) either way.
        clock.advance(by: .milliseconds(GroupDefaults.initialRebalanceDelayMs))
        let (fast, later) = (try await quickly.value, try await patient.value)
        #expect(fast.generation == 1 && fast.assignment?.count == 2)
        #expect(later.generation == 1 && later.assignment?.count == 2)
        await server.stop()
    }

    @Test func aSilentMemberLosesItsPartitionsAfterTheSessionTimeoutAndOthersResumeFromItsCommit() async throws {
        let server = try await groupServer()
        let admin = try await server.client()
        try await admin.createTopic("t", partitions: 2)
        try await produce(admin, "t", partitions: 2, perPartition: 20, tag: "a")

        // The victim, by hand: joins with a 3 s session, takes everything, commits 5 and 7, then
        // goes silent with its connection open (a hung process). The session leaves room for the
        // commit right after the join on a loaded machine.
        let victim = try await BrookConnection.connect(to: server.address)
        var join = JoinOptions(group: "g", topics: ["t"])
        join.sessionTimeoutMs = 3_000
        join.autoOffsetReset = .earliest
        let joined = try Reply.joined(try await victim.send(.join(join)))
        #expect(joined.assignment?.count == 2)
        try Reply.check(try await victim.send(.commit(group: "g", member: joined.memberID, generation: joined.generation, offsets: [
            CommittedPosition(TopicPartition("t", 0), 5), CommittedPosition(TopicPartition("t", 1), 7),
        ])))

        let survivor = GroupConsumer(client: try await server.client(), configuration: consumerConfiguration("g", ["t"]))
        let collector = Collector()
        let task = run(survivor, "survivor", into: collector)
        #expect(try await eventually { await survivor.assignment.count == 2 }, "the survivor gets both partitions once the victim's session expires")
        #expect(try await eventually { await collector.unique == (20 - 5) + (20 - 7) })
        let deliveries = await collector.deliveries
        #expect(deliveries[TopicPartition("t", 0)]?.first == 5, "resumed at the victim's commit")
        #expect(deliveries[TopicPartition("t", 1)]?.first == 7)
        await expectBrookError(.unknownMemberID) {
            try Reply.check(try await victim.send(.heartbeat(group: "g", member: joined.memberID, generation: joined.generation)))
        }
        task.cancel()
        await survivor.close()
        await victim.close()
        await server.stop()
    }

    @Test func autoCommitThenCrashRedeliversOnlyWhatWasNotCommitted() async throws {
        let server = try await groupServer()
        let admin = try await server.client()
        try await admin.createTopic("t")
        try await admin.produce(topic: "t", records: (1...8).map { ProducerRecord(key: nil, value: "record-\($0)") })

        // A processes the 8 records there are, one at a time, then waits in next() for a 9th.
        // Auto-commit runs while it waits; the server's committed offset, not a sleep, says when
        // it has stored the position after the 8th.
        let aClient = try await server.client()
        let a = GroupConsumer(client: aClient, configuration: consumerConfiguration("g", ["t"]))
        var processed: [Int64] = []
        for _ in 1...8 { processed.append(try await a.next().record.offset) }
        #expect(processed == Array(0...7))
        let ninth = Task { try await a.next() }
        let committed = try await eventually { try await admin.committedOffsets(group: "g").map(\.1) == [8] }
        #expect(committed, "auto-commit stored the position after the 8th while A waited for more")

        // The 9th and 10th arrive; A takes the 9th and dies processing it, before asking for more.
        try await admin.produce(topic: "t", records: (9...10).map { ProducerRecord(key: nil, value: "record-\($0)") })
        #expect(try await ninth.value.record.offset == 8)
        await a.abandon()
        await aClient.close()
        #expect(try await admin.committedOffsets(group: "g").map(\.1) == [8], "the 9th, handed out but not processed, is not committed")

        let b = GroupConsumer(client: try await server.client(), configuration: consumerConfiguration("g", ["t"]))
        var survivor: [Int64] = []
        let deadline = ContinuousClock.now + .seconds(20)
        while survivor.count < 2, ContinuousClock.now < deadline { survivor += try await b.poll().map(\.record.offset) }
        #expect(survivor == [8, 9], "the 9th is delivered again, the 10th for the first time, nothing is lost")
        await b.close()
        await server.stop()
    }

    @Test func addingPartitionsTriggersARebalanceThatAssignsThem() async throws {
        let server = try await groupServer()
        let admin = try await server.client()
        try await admin.createTopic("t", partitions: 2)
        let collector = Collector()
        let consumers = [
            GroupConsumer(client: try await server.client(), configuration: consumerConfiguration("g", ["t"])),
            GroupConsumer(client: try await server.client(), configuration: consumerConfiguration("g", ["t"])),
        ]
        let tasks = consumers.enumerated().map { run($1, "c\($0)", into: collector) }
        #expect(try await eventually { await consumers[0].assignment.count + consumers[1].assignment.count == 2 })
        try await admin.alterTopic("t", TopicSettings(partitions: 4))
        #expect(try await eventually {
            let a = await consumers[0].assignment, b = await consumers[1].assignment
            return a.count == 2 && b.count == 2 && a.union(b).count == 4
        }, "the new partitions are assigned")
        try await admin.produce(topic: "t", records: [ProducerRecord(key: nil, value: "new", partition: 3)])
        #expect(try await eventually { await collector.deliveries[TopicPartition("t", 3)] == [0] })
        for task in tasks { task.cancel() }
        for consumer in consumers { await consumer.close() }
        await server.stop()
    }

    @Test func commitsFromAnOldGenerationAreRefused() async throws {
        let server = try await groupServer()
        let admin = try await server.client()
        try await admin.createTopic("t", partitions: 2)
        let first = try await BrookConnection.connect(to: server.address)
        let one = try Reply.joined(try await first.send(.join(JoinOptions(group: "g", topics: ["t"]))))
        let second = try await BrookConnection.connect(to: server.address)
        async let two = second.send(.join(JoinOptions(group: "g", topics: ["t"])))
        try await awaitMembers(server, "g", 2)
        var rejoin = JoinOptions(group: "g", topics: ["t"])
        rejoin.member = one.memberID
        let rejoined = try Reply.joined(try await first.send(.join(rejoin)))
        _ = try Reply.joined(try await two)
        #expect(rejoined.generation == one.generation + 1)
        await expectBrookError(.illegalGeneration) {
            try Reply.check(try await first.send(.commit(group: "g", member: one.memberID, generation: one.generation, offsets: [CommittedPosition(TopicPartition("t", 0), 1)])))
        }
        try Reply.check(try await first.send(.commit(group: "g", member: one.memberID, generation: rejoined.generation, offsets: [CommittedPosition(TopicPartition("t", 0), 1)])))
        await first.close()
        await second.close()
        await server.stop()
    }
}

extension GroupMembershipTests {
    /// A dynamic member leaves when its connection closes, even one whose JOIN was still waiting
    /// for the rebalance (as a cancelled GroupConsumer's is): the server answers the JOIN, sees
    /// the connection gone, and the member leaves instead of holding partitions until its session
    /// times out.
    @Test func aConnectionClosedWhileItsJoinWaitsLeavesTheGroup() async throws {
        let server = try await groupServer()
        let admin = try await server.client()
        try await admin.createTopic("t", partitions: 2)
        let first = try await BrookConnection.connect(to: server.address)
        let one = try Reply.joined(try await first.send(.join(JoinOptions(group: "g", topics: ["t"]))))
        // A second member's JOIN waits for the first to rejoin; its connection closes meanwhile.
        let second = try await BrookConnection.connect(to: server.address)
        let pending = second.submit(.join(JoinOptions(group: "g", topics: ["t"])))
        try await awaitMembers(server, "g", 2)
        await second.close()
        _ = try? await pending.get()

        var rejoin = JoinOptions(group: "g", topics: ["t"])
        rejoin.member = one.memberID
        _ = try Reply.joined(try await first.send(.join(rejoin)))
        try await awaitMembers(server, "g", 1)
        let described = try await server.broker.groups.describe(group: "g")
        #expect(described.members.map(\.memberID) == [one.memberID], "only the first is left")
        await first.close()
        await admin.close()
        await server.stop()
    }
}

struct GroupProtocolTests {
    @Test func cooperativeMembersKeepConsumingWhatTheyKeepDuringARebalance() async throws {
        let server = try await groupServer()
        let admin = try await server.client()
        try await admin.createTopic("t", partitions: 4)
        let first = try await BrookConnection.connect(to: server.address)
        var options = JoinOptions(group: "g", topics: ["t"])
        options.rebalance = .cooperative
        options.strategies = ["sticky"]
        options.autoOffsetReset = .earliest
        let one = try Reply.joined(try await first.send(.join(options)))
        #expect(one.assignment?.count == 4)

        // A second member asks to join; its JOIN waits while the first has not rejoined.
        let second = try await BrookConnection.connect(to: server.address)
        let secondOptions = options
        let secondJoin = Task { try Reply.joined(try await second.send(.join(secondOptions))) }
        try await awaitMembers(server, "g", 2)
        try await produce(admin, "t", partitions: 4, perPartition: 3, tag: "during")
        let during = try Reply.polled(try await first.send(.poll(group: "g", member: one.memberID, generation: one.generation, maxRecords: 100, maxBytes: 1 << 20, maxWaitMs: 0)))
        #expect(during.rebalancing, "the reply says to rejoin")
        #expect(during.records.count == 12, "but the member keeps consuming its partitions meanwhile")

        // It rejoins: it keeps two partitions (and their positions); two move to the newcomer,
        // revoked first (generation N) and assigned in a follow-up generation (N + 1).
        var rejoin = options
        rejoin.member = one.memberID
        let kept = try Reply.joined(try await first.send(.join(rejoin)))
        let newcomer = try await secondJoin.value
        #expect(kept.assignment?.count == 2)
        #expect(newcomer.assignment == [], "nothing moves to the newcomer until its old owner has let go")
        var secondRejoin = options
        secondRejoin.member = newcomer.memberID
        let rejoinOptions = rejoin
        async let firstAgain = first.send(.join(rejoinOptions))
        async let secondAgain = second.send(.join(secondRejoin))
        let followUpFirst = try Reply.joined(try await firstAgain)
        let followUpSecond = try Reply.joined(try await secondAgain)
        #expect(followUpFirst.generation == kept.generation + 1)
        #expect(Set(followUpFirst.assignment ?? []) == Set(kept.assignment ?? []), "the first member kept its two partitions")
        #expect(followUpSecond.assignment?.count == 2)
        #expect(Set(followUpFirst.assignment ?? []).isDisjoint(with: followUpSecond.assignment ?? []))

        try await produce(admin, "t", partitions: 4, perPartition: 1, tag: "after")
        let later = try Reply.polled(try await first.send(.poll(
            group: "g", member: one.memberID, generation: followUpFirst.generation, maxRecords: 100, maxBytes: 1 << 20, maxWaitMs: 0)))
        #expect(later.records.count == 2, "positions of kept partitions survived: only the new records come")
        await first.close()
        await second.close()
        await server.stop()
    }

    @Test func eagerMembersStopDuringARebalance() async throws {
        let server = try await groupServer()
        let admin = try await server.client()
        try await admin.createTopic("t", partitions: 2)
        let first = try await BrookConnection.connect(to: server.address)
        let one = try Reply.joined(try await first.send(.join(JoinOptions(group: "g", topics: ["t"]))))
        let second = try await BrookConnection.connect(to: server.address)
        let secondJoin = Task { try await second.send(.join(JoinOptions(group: "g", topics: ["t"]))) }
        try await awaitMembers(server, "g", 2)
        await expectBrookError(.rebalanceInProgress) {
            _ = try Reply.polled(try await first.send(.poll(group: "g", member: one.memberID, generation: one.generation, maxRecords: 10, maxBytes: 1 << 20, maxWaitMs: 0)))
        }
        var rejoin = JoinOptions(group: "g", topics: ["t"])
        rejoin.member = one.memberID
        _ = try Reply.joined(try await first.send(.join(rejoin)))
        _ = try await secondJoin.value
        await first.close()
        await second.close()
        await server.stop()
    }

    @Test func staticMemberRestartingWithinItsTimeoutKeepsItsPartitionsAndGeneration() async throws {
        let server = try await groupServer()
        let admin = try await server.client()
        try await admin.createTopic("t", partitions: 4)
        func staticJoin(_ instance: String, member: String = "") -> JoinOptions {
            var options = JoinOptions(group: "g", topics: ["t"])
            options.instance = instance
            options.member = member
            options.sessionTimeoutMs = 10_000
            return options
        }
        let a = try await BrookConnection.connect(to: server.address)
        let b = try await BrookConnection.connect(to: server.address)
        let aFirst = try Reply.joined(try await a.send(.join(staticJoin("a"))))
        async let bJoin = b.send(.join(staticJoin("b")))
        try await awaitMembers(server, "g", 2)
        let aStable = try Reply.joined(try await a.send(.join(staticJoin("a", member: aFirst.memberID))))
        let bStable = try Reply.joined(try await bJoin)
        #expect(aStable.generation == bStable.generation)

        // "a" restarts: its connection drops (a static member does not leave) and it comes back.
        await a.close()
        #expect(try await eventually { server.server.connections == 2 }, "the server saw a's connection close")
        let restarted = try await BrookConnection.connect(to: server.address)
        let back = try Reply.joined(try await restarted.send(.join(staticJoin("a"))))
        #expect(back.generation == aStable.generation, "no rebalance")
        #expect(Set(back.assignment ?? []) == Set(aStable.assignment ?? []), "the same partitions")
        #expect(back.memberID != aStable.memberID)
        try Reply.check(try await b.send(.heartbeat(group: "g", member: bStable.memberID, generation: bStable.generation)))
        await expectBrookError(.fencedInstanceID) {
            try Reply.check(try await restarted.send(.heartbeat(group: "g", member: aStable.memberID, generation: aStable.generation)))
        }
        await restarted.close()
        await b.close()
        await server.stop()
    }

    /// Gives even partitions to the member whose id sorts first and odd ones to the rest — a
    /// strategy the coordinator does not know.
    struct EvenOddAssignor: PartitionAssignor {
        let name = "even-odd"
        func assign(members: [GroupMemberInfo], partitions: [String: Int]) -> [String: [TopicPartition]] {
            let ids = members.map(\.memberID).sorted()
            var result: [String: [TopicPartition]] = [:]
            for (topic, count) in partitions {
                for partition in 0..<count {
                    let owner = partition % 2 == 0 ? ids[0] : ids[1 % ids.count]
                    result[owner, default: []].append(TopicPartition(topic, partition))
                }
            }
            return result
        }
    }

    @Test func leaderAssignedGroupUsesTheClientsCustomAssignor() async throws {
        let server = try await groupServer()
        let admin = try await server.client()
        try await admin.createTopic("t", partitions: 6)
        var configuration = consumerConfiguration("g", ["t"])
        configuration.assignment = .leader(EvenOddAssignor())
        let consumers = [
            GroupConsumer(client: try await server.client(), configuration: configuration),
            GroupConsumer(client: try await server.client(), configuration: configuration),
        ]
        let collector = Collector()
        let tasks = consumers.enumerated().map { run($1, "c\($0)", into: collector) }
        #expect(try await eventually {
            let a = await consumers[0].assignment, b = await consumers[1].assignment
            return a.count == 3 && b.count == 3
        })
        let ids = [await consumers[0].memberID, await consumers[1].memberID]
        let first = ids[0] < ids[1] ? 0 : 1
        #expect(await consumers[first].assignment.map(\.partition).sorted() == [0, 2, 4])
        #expect(await consumers[1 - first].assignment.map(\.partition).sorted() == [1, 3, 5])
        #expect(try await admin.describeGroup("g").mode == .leader)
        for task in tasks { task.cancel() }
        for consumer in consumers { await consumer.close() }
        await server.stop()
    }
}

struct GroupConsumerFeatureTests {
    actor Events {
        var assigned: [[TopicPartition]] = []
        var revoked: [[TopicPartition]] = []
        func assign(_ partitions: [TopicPartition]) { assigned.append(partitions) }
        func revoke(_ partitions: [TopicPartition]) { revoked.append(partitions) }
    }

    @Test func seekPauseResumeCommitAsyncAndCallbacks() async throws {
        let server = try await groupServer()
        let admin = try await server.client()
        try await admin.createTopic("t", partitions: 2)
        try await produce(admin, "t", partitions: 2, perPartition: 10, tag: "a")
        let events = Events()
        let consumer = GroupConsumer(client: try await server.client(), configuration: consumerConfiguration("g", ["t"]))
        await consumer.onRebalance(revoked: { await events.revoke($0) }, assigned: { await events.assign($0) })
        var seen: [TopicPartition: [Int64]] = [:]
        while seen.values.reduce(0, { $0 + $1.count }) < 20 {
            for item in try await consumer.poll() { seen[item.partition, default: []].append(item.record.offset) }
        }
        #expect(await events.assigned == [[TopicPartition("t", 0), TopicPartition("t", 1)]])

        // Seek back on t:0.
        try await consumer.seek(TopicPartition("t", 0), to: 5)
        var again: [Int64] = []
        let deadline = ContinuousClock.now + .seconds(20)
        while again.count < 5, ContinuousClock.now < deadline { again += try await consumer.poll().filter { $0.partition.partition == 0 }.map(\.record.offset) }
        #expect(again == [5, 6, 7, 8, 9])

        // Pause t:1: its new records wait until it is resumed.
        try await consumer.pause([TopicPartition("t", 1)])
        try await produce(admin, "t", partitions: 2, perPartition: 1, tag: "b")
        var whilePaused: [ConsumedRecord] = []
        while whilePaused.isEmpty { whilePaused += try await consumer.poll() }
        #expect(whilePaused.map(\.partition) == [TopicPartition("t", 0)])
        try await consumer.resume([TopicPartition("t", 1)])
        var resumed: [ConsumedRecord] = []
        while resumed.isEmpty { resumed += try await consumer.poll() }
        #expect(resumed.map(\.partition) == [TopicPartition("t", 1)])

        await consumer.commitAsync()
        #expect(try await eventually { try await admin.committedOffsets(group: "g").map(\.1) == [11, 11] })

        // A second member makes the first give up (eager) everything, then take one partition back.
        let other = GroupConsumer(client: try await server.client(), configuration: consumerConfiguration("g", ["t"]))
        let task = run(other, "other", into: Collector())
        #expect(try await eventually {
            _ = try await consumer.poll()
            return await consumer.assignment.count == 1
        })
        #expect(await events.revoked.first == [TopicPartition("t", 0), TopicPartition("t", 1)], "eager: everything revoked")
        #expect(await events.assigned.count == 2)
        task.cancel()
        await other.close()
        await consumer.close()
        await server.stop()
    }
}

struct GroupEdgeTests {
    @Test func aDroppedConnectionIsALeaveForADynamicMember() async throws {
        let server = try await groupServer()
        let admin = try await server.client()
        try await admin.createTopic("t", partitions: 2)
        let leaving = try await BrookConnection.connect(to: server.address)
        var options = JoinOptions(group: "g", topics: ["t"])
        options.sessionTimeoutMs = 60_000
        _ = try Reply.joined(try await leaving.send(.join(options)))
        // The stayer's JOIN waits for the first member to rejoin (up to its 60 s rebalance timeout);
        // the first member's connection drops instead, which is a leave: the group goes on at once.
        let stayer = GroupConsumer(client: try await server.client(), configuration: consumerConfiguration("g", ["t"]))
        let task = run(stayer, "stayer", into: Collector())
        try await awaitMembers(server, "g", 2)
        #expect(await stayer.assignment.isEmpty, "still waiting for the first member")
        await leaving.close()
        #expect(try await eventually(5) { await stayer.assignment.count == 2 }, "long before the 60 s session and rebalance timeouts")
        task.cancel()
        await stayer.close()
        await server.stop()
    }

    @Test func resetAndDeleteAreRefusedWhileMembersLive() async throws {
        let server = try await groupServer()
        let admin = try await server.client()
        try await admin.createTopic("t")
        let member = try await BrookConnection.connect(to: server.address)
        _ = try Reply.joined(try await member.send(.join(JoinOptions(group: "g", topics: ["t"]))))
        await expectBrookError(.nonEmptyGroup) { try await admin.resetGroup("g", topic: "t", to: "earliest") }
        await expectBrookError(.nonEmptyGroup) { try await admin.deleteGroup("g") }
        await expectBrookError(.groupIDNotFound) { try await admin.deleteGroup("nobody") }
        await member.close()
        #expect(try await eventually(5) { (try? await admin.resetGroup("g", topic: "t", to: "latest")) != nil })
        await server.stop()
    }

    @Test func commitMetadataRoundTrips() async throws {
        let server = try await groupServer()
        let admin = try await server.client()
        try await admin.createTopic("t", partitions: 2)
        try Reply.check(try await admin.connection.send(.commit(
            group: "tools", member: "", generation: -1,
            offsets: [CommittedPosition(TopicPartition("t", 0), 3), CommittedPosition(TopicPartition("t", 1), 4)], metadata: "batch 7 done")))
        let offsets = try await admin.committedOffsets(group: "tools")
        #expect(offsets.map(\.1) == [3, 4])
        #expect(offsets.map(\.metadata) == ["batch 7 done", "batch 7 done"])
        await server.stop()
    }

    @Test func deletingASubscribedTopicRebalancesAndMembersStay() async throws {
        let server = try await groupServer()
        let admin = try await server.client()
        try await admin.createTopic("a", partitions: 2)
        try await admin.createTopic("b", partitions: 2)
        let consumer = GroupConsumer(client: try await server.client(), configuration: consumerConfiguration("g", ["a", "b"]))
        let task = run(consumer, "c", into: Collector())
        #expect(try await eventually(5) { await consumer.assignment.count == 4 })
        try await admin.deleteTopic("b")
        #expect(try await eventually(5) { await consumer.assignment == [TopicPartition("a", 0), TopicPartition("a", 1)] })
        task.cancel()
        await consumer.close()
        await server.stop()
    }
}

extension GroupEdgeTests {
    @Test func theMemberLimitIsAnnouncedAndEnforced() async throws {
        let server = try await TestServer.start(broker: {
            $0.groups.initialRebalanceDelayMs = 0
            $0.groups.maxMembersPerGroup = 1
        })
        let admin = try await server.client()
        try await admin.createTopic("t")
        #expect(admin.connection.greeting.option("max_group_members") == "1")
        let first = try await BrookConnection.connect(to: server.address)
        _ = try Reply.joined(try await first.send(.join(JoinOptions(group: "g", topics: ["t"]))))
        let second = try await BrookConnection.connect(to: server.address)
        await expectBrookError(.groupMaxSizeReached) { _ = try Reply.joined(try await second.send(.join(JoinOptions(group: "g", topics: ["t"])))) }
        await first.close()
        await second.close()
        await server.stop()
    }
}
