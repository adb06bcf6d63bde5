import BrookBroker
import BrookModel
import BrookTestSupport
import NIOCore
import Testing

@testable import BrookKafka

/// Kafka's group APIs over real sockets, as a client frames them: the two-step join, the
/// protocol vote, the leader's view, SyncGroup, static members, batch leaves and offset commits.
struct KafkaGroupTests {
    static func start() async throws -> KafkaTestServer {
        try await KafkaTestServer.start(broker: { $0.groups.initialRebalanceDelayMs = 0 })
    }

    struct Joined {
        var error: Int16
        var generation: Int32
        var protocolName: String
        var leader: String
        var memberID: String
        var members: [(id: String, instanceID: String?, metadata: [UInt8])]
    }

    static func join(
        _ connection: KafkaRawConnection, version: Int16 = 5, group: String = "g", memberID: String = "", instanceID: String? = nil,
        protocols: [(String, [UInt8])] = [("range", [1, 2, 3])]
    ) async throws -> Joined {
        var body = try #require(try await connection.roundTrip(api: 11, version: version) { body in
            body.writeKafkaString(group)
            body.writeInteger(Int32(10_000))  // session timeout
            if version >= 1 { body.writeInteger(Int32(10_000)) }  // rebalance timeout
            body.writeKafkaString(memberID)
            if version >= 5 { body.writeKafkaString(instanceID) }
            body.writeKafkaString("consumer")
            body.writeKafkaArrayCount(protocols.count)
            for (name, metadata) in protocols {
                body.writeKafkaString(name)
                body.writeInteger(Int32(metadata.count))
                body.writeBytes(metadata)
            }
        })
        var reader = KafkaReader(body)
        if version >= 2 { _ = try reader.int32() }
        let error = try reader.int16()
        let generation = try reader.int32()
        let protocolName = try reader.string()
        let leader = try reader.string()
        let member = try reader.string()
        let members = try reader.array { item in
            (id: try item.string(), instanceID: version >= 5 ? try item.nullableString() : nil,
             metadata: Array(buffer: try item.nullableBytes() ?? ByteBuffer()))
        } ?? []
        body = reader.buffer
        #expect(body.readableBytes == 0)
        return Joined(error: error, generation: generation, protocolName: protocolName, leader: leader, memberID: member, members: members)
    }

    /// JoinGroup v5 the way librdkafka does it: the first answer is MEMBER_ID_REQUIRED with an id.
    static func joinTwoStep(_ connection: KafkaRawConnection, group: String = "g", protocols: [(String, [UInt8])] = [("range", [1, 2, 3])]) async throws -> Joined {
        let first = try await join(connection, group: group, protocols: protocols)
        #expect(first.error == KafkaErrorCode.memberIDRequired)
        return try await join(connection, group: group, memberID: first.memberID, protocols: protocols)
    }

    static func sync(
        _ connection: KafkaRawConnection, group: String = "g", generation: Int32, memberID: String, assignments: [(String, [UInt8])] = []
    ) async throws -> (error: Int16, assignment: [UInt8]) {
        let body = try #require(try await connection.roundTrip(api: 14, version: 3) { body in
            body.writeKafkaString(group)
            body.writeInteger(generation)
            body.writeKafkaString(memberID)
            body.writeKafkaString(nil)
            body.writeKafkaArrayCount(assignments.count)
            for (member, bytes) in assignments {
                body.writeKafkaString(member)
                body.writeInteger(Int32(bytes.count))
                body.writeBytes(bytes)
            }
        })
        var reader = KafkaReader(body)
        _ = try reader.int32()
        return (try reader.int16(), Array(buffer: try reader.nullableBytes() ?? ByteBuffer()))
    }

    static func heartbeat(_ connection: KafkaRawConnection, group: String = "g", generation: Int32, memberID: String) async throws -> Int16 {
        var body = try #require(try await connection.roundTrip(api: 12, version: 3) { body in
            body.writeKafkaString(group)
            body.writeInteger(generation)
            body.writeKafkaString(memberID)
            body.writeKafkaString(nil)
        })
        _ = body.readInteger(as: Int32.self)
        return body.readInteger(as: Int16.self)!
    }

    /// OffsetCommit v7, or the older shapes: v1 (a commit timestamp per partition) and v2–4 (a
    /// retention time).
    static func commit(
        _ connection: KafkaRawConnection, version: Int16 = 7, group: String = "g", generation: Int32, memberID: String,
        offsets: [(String, Int32, Int64, String?)]
    ) async throws -> [Int16] {
        let body = try #require(try await connection.roundTrip(api: 8, version: version) { body in
            body.writeKafkaString(group)
            body.writeInteger(generation)
            body.writeKafkaString(memberID)
            if version >= 7 { body.writeKafkaString(nil) }  // instance id
            if (2...4).contains(version) { body.writeInteger(Int64(86_400_000)) }  // retention_time_ms
            body.writeKafkaArrayCount(offsets.count)
            for (topic, partition, offset, metadata) in offsets {
                body.writeKafkaString(topic)
                body.writeKafkaArrayCount(1)
                body.writeInteger(partition)
                body.writeInteger(offset)
                if version >= 6 { body.writeInteger(Int32(-1)) }  // leader epoch
                if version == 1 { body.writeInteger(Int64(-1)) }  // commit timestamp
                body.writeKafkaString(metadata)
            }
        })
        var reader = KafkaReader(body)
        if version >= 3 { _ = try reader.int32() }  // throttle time
        let topics: [[Int16]] = try reader.array { topic -> [Int16] in
            _ = try topic.string()
            return try topic.array { partition -> Int16 in
                _ = try partition.int32()
                return try partition.int16()
            } ?? []
        } ?? []
        return topics.flatMap { $0 }
    }

    /// OffsetFetch v5; nil topics asks for every committed offset.
    static func fetchOffsets(
        _ connection: KafkaRawConnection, group: String = "g", topics: [(String, [Int32])]?
    ) async throws -> (error: Int16, offsets: [String: (offset: Int64, metadata: String?)]) {
        let body = try #require(try await connection.roundTrip(api: 9, version: 5) { body in
            body.writeKafkaString(group)
            guard let topics else {
                body.writeInteger(Int32(-1))
                return
            }
            body.writeKafkaArrayCount(topics.count)
            for (topic, partitions) in topics {
                body.writeKafkaString(topic)
                body.writeKafkaArrayCount(partitions.count)
                for partition in partitions { body.writeInteger(partition) }
            }
        })
        var reader = KafkaReader(body)
        _ = try reader.int32()
        var offsets: [String: (offset: Int64, metadata: String?)] = [:]
        _ = try reader.array { topic -> Void in
            let name = try topic.string()
            _ = try topic.array { partition -> Void in
                let index = try partition.int32()
                let offset = try partition.int64()
                _ = try partition.int32()  // leader epoch
                offsets["\(name)-\(index)"] = (offset, try partition.nullableString())
                let error = try partition.int16()
                #expect(error == KafkaErrorCode.none)
            }
        }
        return (try reader.int16(), offsets)
    }

    /// Runs `body` on a connection of its own in a task, for a member that waits while the test
    /// drives another.
    static func member<T: Sendable>(_ server: KafkaTestServer, _ body: @escaping @Sendable (KafkaRawConnection) async throws -> T) -> Task<T, Error> {
        Task {
            let connection = try await server.connect()
            return try await body(connection)
        }
    }

    // MARK: Tests

    @Test func joinV4AndLaterFirstHandsOutAMemberIDAndV3JoinsAtOnce() async throws {
        let server = try await Self.start()
        let connection = try await server.connect()
        let first = try await Self.join(connection, version: 4)
        #expect(first.error == KafkaErrorCode.memberIDRequired)
        #expect(first.generation == -1)
        #expect(!first.memberID.isEmpty)
        // The id is not a member yet: the group has none.
        #expect(try await server.broker.groups.describe(group: "g").members.isEmpty)
        let joined = try await Self.join(connection, version: 4, memberID: first.memberID)
        #expect(joined.error == KafkaErrorCode.none)
        #expect(joined.memberID == first.memberID)
        #expect(joined.leader == first.memberID)
        #expect(joined.generation == 1)
        #expect(joined.protocolName == "range")
        #expect(joined.members.map(\.id) == [first.memberID])
        #expect(joined.members.map(\.metadata) == [[1, 2, 3]])

        let old = try await Self.join(connection, version: 3, group: "old")
        #expect(old.error == KafkaErrorCode.none)
        #expect(!old.memberID.isEmpty)
        #expect(old.leader == old.memberID)
        // An id the coordinator never issued is unknown.
        #expect(try await Self.join(connection, version: 5, group: "old", memberID: "made-up").error == KafkaErrorCode.unknownMemberID)
        await server.stop()
    }

    @Test func anUnboundedMaxPollIntervalIsAcceptedAndNoProtocolIsInconsistent() async throws {
        let server = try await Self.start()
        let connection = try await server.connect()
        // Rebalance timeout Int32.max (max.poll.interval.ms as some set it): Kafka accepts it.
        var body = try #require(try await connection.roundTrip(api: 11, version: 5) { body in
            body.writeKafkaString("g")
            body.writeInteger(Int32(10_000))
            body.writeInteger(Int32.max)
            body.writeKafkaString("")
            body.writeKafkaString("static")
            body.writeKafkaString("consumer")
            body.writeKafkaArrayCount(1)
            body.writeKafkaString("range")
            body.writeInteger(Int32(0))
        })
        _ = body.readInteger(as: Int32.self)
        #expect(body.readInteger(as: Int16.self) == KafkaErrorCode.none)
        #expect(try await Self.join(connection, group: "h", instanceID: "i", protocols: []).error == KafkaErrorCode.inconsistentGroupProtocol)
        await server.stop()
    }

    @Test func theLeaderGetsEveryMembersMetadataAndEachMemberItsAssignment() async throws {
        let server = try await Self.start()
        let a = try await server.connect()
        let first = try await Self.joinTwoStep(a, protocols: [("range", [0xA])])
        #expect(try await Self.sync(a, generation: first.generation, memberID: first.memberID, assignments: [(first.memberID, [1])]).assignment == [1])

        // A second member: the first learns of the rebalance from its heartbeat and rejoins. The
        // second's SyncGroup waits for the leader's.
        let second = Self.member(server) { b in
            let joined = try await Self.joinTwoStep(b, protocols: [("range", [0xB])])
            let synced = try await Self.sync(b, generation: joined.generation, memberID: joined.memberID)
            return (joined, synced, [
                try await Self.heartbeat(b, generation: joined.generation, memberID: joined.memberID),
                try await Self.heartbeat(b, generation: joined.generation - 1, memberID: joined.memberID),
                try await Self.heartbeat(b, generation: joined.generation, memberID: "nobody"),
            ])
        }
        while try await Self.heartbeat(a, generation: first.generation, memberID: first.memberID) == KafkaErrorCode.none {
            try await Task.sleep(for: .milliseconds(10))
        }
        let rejoined = try await Self.join(a, memberID: first.memberID, protocols: [("range", [0xA])])
        #expect(rejoined.error == KafkaErrorCode.none)
        #expect(rejoined.generation == first.generation + 1)
        #expect(rejoined.leader == first.memberID)
        let followerID = try #require(rejoined.members.map(\.id).first { $0 != first.memberID })
        #expect(Dictionary(uniqueKeysWithValues: rejoined.members.map { ($0.id, $0.metadata) }) == [first.memberID: [0xA], followerID: [0xB]])
        let leaderSync = try await Self.sync(
            a, generation: rejoined.generation, memberID: rejoined.memberID, assignments: [(rejoined.memberID, [7]), (followerID, [8, 9])])
        #expect(leaderSync.error == KafkaErrorCode.none && leaderSync.assignment == [7])

        let (follower, synced, heartbeats) = try await second.value
        #expect(follower.error == KafkaErrorCode.none && follower.memberID == followerID)
        #expect(follower.generation == rejoined.generation && follower.leader == first.memberID)
        #expect(follower.members.isEmpty)
        #expect(synced.error == KafkaErrorCode.none && synced.assignment == [8, 9])
        #expect(heartbeats == [KafkaErrorCode.none, KafkaErrorCode.illegalGeneration, KafkaErrorCode.unknownMemberID])
        await server.stop()
    }

    @Test func theProtocolIsVotedAndAMemberWithNoCommonOneIsRefused() async throws {
        let server = try await Self.start()
        let a = try await server.connect()
        let c = try await server.connect()
        let first = try await Self.joinTwoStep(a, protocols: [("range", []), ("roundrobin", [])])
        _ = try await Self.sync(a, generation: first.generation, memberID: first.memberID, assignments: [])
        let second = Self.member(server) { b in try await Self.joinTwoStep(b, protocols: [("roundrobin", [])]) }
        while try await Self.heartbeat(a, generation: first.generation, memberID: first.memberID) == KafkaErrorCode.none {
            try await Task.sleep(for: .milliseconds(10))
        }
        let rejoined = try await Self.join(a, memberID: first.memberID, protocols: [("range", []), ("roundrobin", [])])
        #expect(try await second.value.protocolName == "roundrobin")
        #expect(rejoined.protocolName == "roundrobin")
        let refused = try await Self.join(c, memberID: "", instanceID: "c", protocols: [("sticky", [])])
        #expect(refused.error == KafkaErrorCode.inconsistentGroupProtocol)
        await server.stop()
    }

    @Test func staticMembersLeaveTogetherByInstanceIDAndAReplacedOneIsFenced() async throws {
        let server = try await Self.start()
        let a = try await server.connect()
        let joined = try await Self.join(a, instanceID: "instance-a")
        #expect(joined.error == KafkaErrorCode.none)  // a static member needs no second step
        _ = try await Self.sync(a, generation: joined.generation, memberID: joined.memberID, assignments: [(joined.memberID, [5])])

        // The same instance restarts: it takes a new id and the same assignment, with no rebalance.
        let restarted = try await Self.join(a, instanceID: "instance-a")
        #expect(restarted.error == KafkaErrorCode.none)
        #expect(restarted.memberID != joined.memberID)
        #expect(restarted.generation == joined.generation)
        #expect(try await Self.sync(a, generation: restarted.generation, memberID: restarted.memberID).assignment == [5])
        #expect(try await Self.heartbeat(a, generation: joined.generation, memberID: joined.memberID) == KafkaErrorCode.fencedInstanceID)

        let other = Self.member(server) { b in try await Self.join(b, instanceID: "instance-b") }
        while try await Self.heartbeat(a, generation: restarted.generation, memberID: restarted.memberID) == KafkaErrorCode.none {
            try await Task.sleep(for: .milliseconds(10))
        }
        _ = try await Self.join(a, memberID: restarted.memberID, instanceID: "instance-a")
        #expect(try await other.value.error == KafkaErrorCode.none)

        // LeaveGroup v3: both by instance id, plus one nobody has.
        var body = try #require(try await a.roundTrip(api: 13, version: 3) { body in
            body.writeKafkaString("g")
            body.writeKafkaArrayCount(3)
            for instance in ["instance-a", "instance-b", "instance-z"] {
                body.writeKafkaString("")
                body.writeKafkaString(instance)
            }
        })
        _ = body.readInteger(as: Int32.self)
        #expect(body.readInteger(as: Int16.self) == KafkaErrorCode.none)
        var reader = KafkaReader(body)
        let outcomes: [(String?, Int16)] = try reader.array { member -> (String?, Int16) in
            _ = try member.string()
            return (try member.nullableString(), try member.int16())
        } ?? []
        #expect(outcomes.map(\.0) == ["instance-a", "instance-b", "instance-z"])
        #expect(outcomes.map(\.1) == [KafkaErrorCode.none, KafkaErrorCode.none, KafkaErrorCode.unknownMemberID])
        #expect(try await server.broker.groups.describe(group: "g").state == .empty)
        await server.stop()
    }

    @Test func commitsFromOutsideTheGroupOnlyWhileItIsEmptyAndTheirMetadataIsKept() async throws {
        let server = try await Self.start()
        try await server.broker.createTopic("t", partitions: 2)
        let connection = try await server.connect()
        // Generation -1 and no member id: an admin tool's commit to an unknown group.
        #expect(try await Self.commit(connection, generation: -1, memberID: "", offsets: [("t", 0, 5, "note"), ("t", 9, 1, nil)])
            == [KafkaErrorCode.none, KafkaErrorCode.unknownTopicOrPartition])
        let all = try await Self.fetchOffsets(connection, topics: nil)
        #expect(all.error == KafkaErrorCode.none)
        #expect(all.offsets.mapValues(\.offset) == ["t-0": 5])
        #expect(all.offsets["t-0"]?.metadata == "note")
        let asked = try await Self.fetchOffsets(connection, topics: [("t", [0, 1])])
        #expect(asked.offsets.mapValues(\.offset) == ["t-0": 5, "t-1": -1])

        // With a member, only the member's current generation may commit.
        let joined = try await Self.joinTwoStep(connection)
        _ = try await Self.sync(connection, generation: joined.generation, memberID: joined.memberID, assignments: [])
        #expect(try await Self.commit(connection, generation: -1, memberID: "", offsets: [("t", 0, 6, nil)]) == [KafkaErrorCode.unknownMemberID])
        #expect(try await Self.commit(connection, generation: joined.generation + 1, memberID: joined.memberID, offsets: [("t", 0, 6, nil)])
            == [KafkaErrorCode.illegalGeneration])
        #expect(try await Self.commit(connection, generation: joined.generation, memberID: joined.memberID, offsets: [("t", 1, 3, "m")])
            == [KafkaErrorCode.none])
        // The same table the line protocol reads.
        #expect(try await server.broker.committedOffsets(group: "g").map { "\($0.topic)-\($0.partition)=\($0.offset) \($0.metadata)" } == ["t-0=5 note", "t-1=3 m"])
        await server.stop()
    }

    /// sarama before 1.26 commits with v1 (a timestamp per partition) or, given a retention, v2,
    /// whatever Kafka version it is configured for.
    @Test func olderOffsetCommitVersionsCommitAsTheCurrentOneDoes() async throws {
        let server = try await Self.start()
        try await server.broker.createTopic("t", partitions: 3)
        let connection = try await server.connect()
        let joined = try await Self.joinTwoStep(connection)
        _ = try await Self.sync(connection, generation: joined.generation, memberID: joined.memberID, assignments: [])
        for (version, partition) in [(Int16(1), Int32(0)), (2, 1), (4, 2)] {
            #expect(
                try await Self.commit(
                    connection, version: version, generation: joined.generation, memberID: joined.memberID,
                    offsets: [("t", partition, Int64(10 + version), "v\(version)")]) == [KafkaErrorCode.none], "v\(version)")
        }
        // The generation is checked in v1 as in v7.
        #expect(
            try await Self.commit(connection, version: 1, generation: joined.generation + 1, memberID: joined.memberID, offsets: [("t", 0, 99, nil)])
                == [KafkaErrorCode.illegalGeneration])
        #expect(try await server.broker.committedOffsets(group: "g").map { "\($0.topic)-\($0.partition)=\($0.offset) \($0.metadata)" }
            == ["t-0=11 v1", "t-1=12 v2", "t-2=14 v4"])
        await server.stop()
    }

    @Test func groupAPIsAreAdvertisedBelowTheirFlexibleVersions() async throws {
        let server = try await Self.start()
        let connection = try await server.connect()
        let apis = try await KafkaListenerTests.apiVersions(connection).apis
        let expected: [Int16: ClosedRange<Int16>] = [8: 1...7, 9: 1...5, 10: 0...2, 11: 0...5, 12: 0...3, 13: 0...3, 14: 0...3, 15: 0...4, 16: 0...2, 42: 0...1, 47: 0...0]
        for (key, range) in expected { #expect(apis[key] == range, "API \(key)") }
        await server.stop()
    }
}

/// Kafka members beside line-protocol members, and the group admin APIs.
struct KafkaGroupSharingTests {
    /// A member as the line protocol's JOIN makes one (ServerSideConsumers): consumer-protocol
    /// subscription bytes, in the given assignment mode.
    static func lineStyleJoin(_ broker: Broker, mode: AssignmentMode, topics: [String]) async throws -> JoinGroupResult {
        let metadata = ConsumerProtocol.Subscription(topics: topics).encoded()
        var join = JoinGroupRequest(group: "g", protocols: [GroupProtocol(name: "range", metadata: metadata)])
        join.mode = mode
        join.clientID = "line-client"
        return try await broker.groups.join(join)
    }

    @Test func aCoordinatorAssignedLineGroupRefusesKafkaMembersAndTheReverse() async throws {
        let server = try await KafkaGroupTests.start()
        try await server.broker.createTopic("t", partitions: 2)
        let connection = try await server.connect()
        _ = try await Self.lineStyleJoin(server.broker, mode: .coordinator, topics: ["t"])
        let refused = try await KafkaGroupTests.join(connection, instanceID: "kafka-member")
        #expect(refused.error == KafkaErrorCode.inconsistentGroupProtocol)

        let kafka = try await KafkaGroupTests.join(connection, group: "k", instanceID: "kafka-member")
        #expect(kafka.error == KafkaErrorCode.none)
        var join = JoinGroupRequest(group: "k", protocols: [GroupProtocol(name: "range", metadata: ConsumerProtocol.Subscription(topics: ["t"]).encoded())])
        join.mode = .coordinator
        await #expect(throws: BrookError.self) { _ = try await server.broker.groups.join(join) }
        await server.stop()
    }

    @Test func aLeaderAssignedLineMemberSharesAGenerationWithAKafkaMember() async throws {
        let server = try await KafkaGroupTests.start()
        try await server.broker.createTopic("t", partitions: 2)
        let subscription = ConsumerProtocol.Subscription(topics: ["t"]).encoded()
        let kafka = try await server.connect()
        let first = try await KafkaGroupTests.join(kafka, instanceID: "kafka-member", protocols: [("range", subscription)])
        _ = try await KafkaGroupTests.sync(kafka, generation: first.generation, memberID: first.memberID, assignments: [])
        let line = Task { try await Self.lineStyleJoin(server.broker, mode: .leader, topics: ["t"]) }
        while try await KafkaGroupTests.heartbeat(kafka, generation: first.generation, memberID: first.memberID) == KafkaErrorCode.none {
            try await Task.sleep(for: .milliseconds(10))
        }
        let rejoined = try await KafkaGroupTests.join(kafka, memberID: first.memberID, instanceID: "kafka-member", protocols: [("range", subscription)])
        let lineJoined = try await line.value
        #expect(rejoined.error == KafkaErrorCode.none)
        #expect(lineJoined.generation == Int(rejoined.generation))
        // The Kafka leader reads the line member's subscription as a Kafka consumer's.
        let lineMetadata = try #require(rejoined.members.first { $0.id == lineJoined.memberID }?.metadata)
        #expect(try ConsumerProtocol.Subscription(decoding: lineMetadata).topics == ["t"])
        await server.stop()
    }

    @Test func describeShowsMembersWithTheirBytesAndOffsetDeleteSparesSubscribedTopics() async throws {
        let server = try await KafkaGroupTests.start()
        try await server.broker.createTopic("t", partitions: 2)
        try await server.broker.createTopic("old", partitions: 1)
        let connection = try await server.connect()
        #expect(try await KafkaGroupTests.commit(connection, generation: -1, memberID: "", offsets: [("t", 0, 1, nil), ("old", 0, 4, nil)])
            == [KafkaErrorCode.none, KafkaErrorCode.none])
        let subscription = ConsumerProtocol.Subscription(topics: ["t"]).encoded()
        let assignment = ConsumerProtocol.Assignment(partitions: [TopicPartition("t", 0), TopicPartition("t", 1)]).encoded()
        let joined = try await KafkaGroupTests.joinTwoStep(connection, protocols: [("range", subscription)])
        _ = try await KafkaGroupTests.sync(connection, generation: joined.generation, memberID: joined.memberID, assignments: [(joined.memberID, assignment)])

        // DescribeGroups v4: one known group, one unknown (Dead, as Kafka answers it).
        let body = try #require(try await connection.roundTrip(api: 15, version: 4) { body in
            body.writeKafkaArrayCount(2)
            body.writeKafkaString("g")
            body.writeKafkaString("nobody")
            body.writeKafkaBool(false)
        })
        var reader = KafkaReader(body)
        _ = try reader.int32()
        struct Member {
            var id: String, instance: String?, client: String, host: String, metadata: [UInt8], assignment: [UInt8]
        }
        struct Described {
            var error: Int16, id: String, state: String, type: String, name: String, members: [Member]
        }
        let groups = try reader.array { group -> Described in
            let error = try group.int16()
            let id = try group.string()
            let state = try group.string()
            let type = try group.string()
            let name = try group.string()
            let members = try group.array { member -> Member in
                Member(
                    id: try member.string(), instance: try member.nullableString(), client: try member.string(), host: try member.string(),
                    metadata: Array(buffer: try member.nullableBytes() ?? ByteBuffer()), assignment: Array(buffer: try member.nullableBytes() ?? ByteBuffer()))
            } ?? []
            _ = try group.int32()  // authorized operations
            return Described(error: error, id: id, state: state, type: type, name: name, members: members)
        } ?? []
        #expect(reader.remaining == 0)
        #expect(groups.count == 2)
        #expect(groups[0].error == KafkaErrorCode.none && groups[0].id == "g" && groups[0].state == "Stable")
        #expect(groups[0].type == "consumer" && groups[0].name == "range")
        let member = try #require(groups[0].members.first)
        #expect(member.id == joined.memberID && member.client == "brook-tests" && member.host == "/127.0.0.1")
        #expect(member.metadata == subscription && member.assignment == assignment)
        #expect(groups[1].error == KafkaErrorCode.none && groups[1].state == "Dead" && groups[1].members.isEmpty)

        // OffsetDelete: the subscribed topic's offsets stay, the other's go.
        var deleted = try #require(try await connection.roundTrip(api: 47, version: 0) { body in
            body.writeKafkaString("g")
            body.writeKafkaArrayCount(2)
            for topic in ["t", "old"] {
                body.writeKafkaString(topic)
                body.writeKafkaArrayCount(1)
                body.writeInteger(Int32(0))
            }
        })
        #expect(deleted.readInteger(as: Int16.self) == KafkaErrorCode.none)
        _ = deleted.readInteger(as: Int32.self)
        var results = KafkaReader(deleted)
        let codes: [[Int16]] = try results.array { topic -> [Int16] in
            _ = try topic.string()
            return try topic.array { partition -> Int16 in
                _ = try partition.int32()
                return try partition.int16()
            } ?? []
        } ?? []
        #expect(codes == [[KafkaErrorCode.groupSubscribedToTopic], [KafkaErrorCode.none]])
        #expect(try await server.broker.committedOffsets(group: "g").map(\.topic) == ["t"])

        // DeleteGroups refuses the group while it has a member.
        var refused = try #require(try await connection.roundTrip(api: 42, version: 1) { body in
            body.writeKafkaArrayCount(1)
            body.writeKafkaString("g")
        })
        _ = refused.readInteger(as: Int32.self)
        _ = refused.readInteger(as: Int32.self)
        _ = refused.readString(length: Int(refused.readInteger(as: Int16.self)!))
        #expect(refused.readInteger(as: Int16.self) == KafkaErrorCode.nonEmptyGroup)
        await server.stop()
    }

    @Test func emptyGroupsAreForgottenAfterTheOffsetsRetention() async throws {
        let server = try await KafkaGroupTests.start()
        try await server.broker.createTopic("t", partitions: 1)
        let connection = try await server.connect()
        #expect(try await KafkaGroupTests.commit(connection, group: "idle", generation: -1, memberID: "", offsets: [("t", 0, 3, nil)]) == [0])
        #expect(try await KafkaGroupTests.commit(connection, group: "left", generation: -1, memberID: "", offsets: [("t", 0, 3, nil)]) == [0])
        let joined = try await KafkaGroupTests.joinTwoStep(connection, group: "busy")
        _ = try await KafkaGroupTests.sync(connection, group: "busy", generation: joined.generation, memberID: joined.memberID, assignments: [])
        #expect(try await KafkaGroupTests.commit(connection, group: "busy", generation: joined.generation, memberID: joined.memberID, offsets: [("t", 0, 1, nil)]) == [0])
        // "left" had a member, which went.
        let other = try await server.connect()
        let member = try await KafkaGroupTests.joinTwoStep(other, group: "left")
        try await server.broker.groups.leave(group: "left", memberID: member.memberID)

        let retention = GroupDefaults.offsetsRetentionMs
        let now = WallClock.nowMillis()
        #expect(try await server.broker.groups.expireEmptyGroups(nowMs: now).isEmpty)
        #expect(try await server.broker.groups.expireEmptyGroups(nowMs: now + retention - 60_000).isEmpty)
        // One retention later, the groups without members go with their offsets.
        #expect(try await server.broker.groups.expireEmptyGroups(nowMs: now + retention + 60_000) == ["idle", "left"])
        #expect(try await server.broker.committedOffsets(group: "idle").isEmpty)
        #expect(try await server.broker.committedOffsets(group: "left").isEmpty)
        #expect(try await server.broker.groups.listings().map(\.group) == ["busy"])
        #expect(try await server.broker.committedOffsets(group: "busy").map(\.offset) == [1])
        await server.stop()
    }
}
