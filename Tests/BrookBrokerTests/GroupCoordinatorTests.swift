import BrookBroker
import BrookModel
import BrookTestSupport
import Foundation
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

struct GroupCoordinatorTests {
    func broker(_ dir: TemporaryDirectory) async throws -> Broker {
        let broker = try openBroker(dir) { $0.groups.initialRebalanceDelayMs = 0 }
        try await broker.createTopic("t", partitions: 6)
        return broker
    }

    func request(_ member: String = "", topics: [String] = ["t"]) -> JoinRequest {
        var request = JoinRequest(group: "g", topics: topics)
        request.memberID = member
        request.sessionTimeoutMs = 10_000
        request.rebalanceTimeoutMs = 5_000
        return request
    }

    @Test func secondMemberSplitsThePartitionsAfterTheFirstRejoins() async throws {
        let dir = TemporaryDirectory()
        let broker = try await broker(dir)
        let coordinator = broker.groups
        let first = try await coordinator.join(request())
        #expect(first.generation == 1 && first.assignment?.count == 6)

        let second = Task { try await coordinator.join(request()) }
        try await Task.sleep(for: .milliseconds(100))
        await expectBrookError(.rebalanceInProgress) { try await coordinator.heartbeat(group: "g", memberID: first.memberID, generation: 1) }
        let rejoined = try await coordinator.join(request(first.memberID))
        let joined = try await second.value
        #expect(rejoined.generation == 2 && joined.generation == 2)
        let a = Set(rejoined.assignment!)
        let b = Set(joined.assignment!)
        #expect(a.isDisjoint(with: b) && a.union(b).count == 6 && a.count == 3)
        try await coordinator.heartbeat(group: "g", memberID: joined.memberID, generation: 2)

        // A commit with the old generation is refused; with the current one it is kept.
        await expectBrookError(.illegalGeneration) {
            try await coordinator.commit(group: "g", memberID: first.memberID, generation: 1, offsets: [OffsetCommit(topic: "t", partition: 0, offset: 1)])
        }
        try await coordinator.commit(group: "g", memberID: first.memberID, generation: 2, offsets: [OffsetCommit(topic: "t", partition: 0, offset: 1)])
        await expectBrookError(.unknownMemberID) {
            try await coordinator.commit(group: "g", memberID: "stranger", generation: 2, offsets: [OffsetCommit(topic: "t", partition: 0, offset: 1)])
        }
        await broker.close()
    }
}
