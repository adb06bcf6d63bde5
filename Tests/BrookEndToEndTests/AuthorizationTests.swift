import BrookAuth
import BrookClient
import BrookModel
import BrookTestSupport
import BrookWire
import Testing

/// ACLs on the line protocol: every command checks the operation Kafka checks, and a refusal is
/// NOT_AUTHORIZED naming the user, the operation and the resource.
@Suite("ACLs on the line protocol")
struct AuthorizationTests {
    private static func connect(_ server: AuthenticatedServer, _ user: String) async throws -> BrookClient {
        try await BrookClient.connect(to: server.address, credentials: Credentials(user: user, password: "\(user)-pw"))
    }

    private static func records(_ values: [String]) -> [ProducerRecord] {
        values.map { ProducerRecord(key: nil, value: $0, partition: 0) }
    }

    @Test func aUserAllowedToWriteTopicAButNotBIsRefusedOnB() async throws {
        let server = try await AuthenticatedServer(
            users: [("root", "root-pw"), ("dave", "dave-pw")], superUsers: ["root"], enforceACLs: true)
        let root = try await Self.connect(server, "root")
        _ = try await root.createTopic("a", partitions: 1)
        _ = try await root.createTopic("b", partitions: 1)
        try await root.addAcl(AclBinding(principal: "User:dave", resourceType: .topic, resourceName: "a", operation: .write))

        let dave = try await Self.connect(server, "dave")
        #expect(try await dave.produce(topic: "a", records: Self.records(["x"])).first?.offset == 0)
        await expectBrookError(.notAuthorized, containing: "user 'dave' may not WRITE topic 'b'") {
            _ = try await dave.produce(topic: "b", records: Self.records(["y"]))
        }
        #expect(try await dave.listTopics().map(\.name) == ["a"], "the list shows only what dave may describe")
        await expectBrookError(.notAuthorized, containing: "DESCRIBE topic 'b'") { _ = try await dave.describeTopic("b") }
        await expectBrookError(.notAuthorized, containing: "READ topic 'a'") { _ = try await dave.fetch(topic: "a", partition: 0, offset: 0) }
        await expectBrookError(.notAuthorized, containing: "CLUSTER_ACTION the cluster") { _ = try await dave.query("SELECT 1") }
        await expectBrookError(.notAuthorized, containing: "DELETE topic 'a'") { try await dave.deleteTopic("a") }
        await expectBrookError(.notAuthorized, containing: "CREATE topic 'c'") { _ = try await dave.createTopic("c", partitions: 1) }
        await expectBrookError(.notAuthorized, containing: "ALTER the cluster") {
            try await dave.addAcl(AclBinding(principal: "User:dave", resourceType: .topic, resourceName: "b", operation: .write))
        }
        // The connection stays usable after a refusal.
        #expect(try await dave.produce(topic: "a", records: Self.records(["z"])).first?.offset == 1)

        // A rule added through the server holds at once; a DENY wins over it.
        try await root.addAcl(AclBinding(principal: "User:dave", resourceType: .topic, resourceName: "b", operation: .write))
        #expect(try await dave.produce(topic: "b", records: Self.records(["y"])).first?.offset == 0)
        try await root.addAcl(AclBinding(principal: "User:*", resourceType: .topic, patternType: .prefixed, resourceName: "b", operation: .write, permission: .deny))
        await expectBrookError(.notAuthorized) { _ = try await dave.produce(topic: "b", records: Self.records(["w"])) }
        #expect(try await root.listAcls(AclFilter(principal: "User:dave")).count == 2)
        #expect(try await root.deleteAcls(AclFilter(permission: .deny)).count == 1)
        #expect(try await dave.produce(topic: "b", records: Self.records(["w"])).first?.offset == 1)
        #expect(try await root.query("SELECT count(*) FROM b").rows.count == 1, "a super user passes every check")
        await dave.close()
        await root.close()
        await server.stop()
    }

    @Test func aConsumerWithoutReadOnItsGroupIsRefused() async throws {
        let server = try await AuthenticatedServer(users: [("root", "root-pw"), ("erin", "erin-pw")], superUsers: ["root"], enforceACLs: true)
        let root = try await Self.connect(server, "root")
        _ = try await root.createTopic("events", partitions: 1)
        try await root.addAcl(AclBinding(principal: "User:erin", resourceType: .topic, resourceName: "events", operation: .read))
        let erin = try await Self.connect(server, "erin")
        var join = JoinOptions(group: "g", topics: ["events"])
        join.client = "test"
        await expectBrookError(.notAuthorized, containing: "READ group 'g'") { _ = try Reply.check(try await erin.connection.send(BrookWire.Request.join(join))) }
        await expectBrookError(.notAuthorized, containing: "READ group 'g'") {
            _ = try Reply.check(try await erin.connection.send(
                BrookWire.Request.commit(group: "g", member: "", generation: -1, offsets: [CommittedPosition(TopicPartition("events", 0), 1)])))
        }
        await expectBrookError(.notAuthorized, containing: "DESCRIBE group 'g'") { _ = try await erin.describeGroup("g") }
        try await root.addAcl(AclBinding(principal: "User:erin", resourceType: .group, patternType: .prefixed, resourceName: "g", operation: .read))
        _ = try Reply.check(try await erin.connection.send(
            BrookWire.Request.commit(group: "g", member: "", generation: -1, offsets: [CommittedPosition(TopicPartition("events", 0), 1)])))
        #expect(try await erin.listGroups().map(\.group) == ["g"], "READ implies DESCRIBE, so the group is listed")
        await erin.close()
        await root.close()
        await server.stop()
    }

    @Test func usersChangeThroughTheServerOnlyByASuperUser() async throws {
        let server = try await AuthenticatedServer(
            users: [("root", "root-pw"), ("dave", "dave-pw"), ("ops", "ops-pw")], superUsers: ["root"], enforceACLs: true,
            configuredSuperUsers: ["ops"])
        let root = try await Self.connect(server, "root")
        try await root.addUser("frank", isSuper: false, credentials: try ScramCredential.makeAll(password: "frank-pw"))
        _ = try await Self.connect(server, "frank")
        #expect(try await root.listUsers().map(\.name) == ["dave", "frank", "ops", "root"])
        let dave = try await Self.connect(server, "dave")
        await expectBrookError(.notAuthorized, containing: "only a super user may") {
            try await dave.addUser("mallory", isSuper: true, credentials: try ScramCredential.makeAll(password: "x"))
        }
        await expectBrookError(.notAuthorized) { try await dave.changePassword("frank", credentials: try ScramCredential.makeAll(password: "x")) }
        try await dave.changePassword("dave", credentials: try ScramCredential.makeAll(password: "dave-new"))
        _ = try await BrookClient.connect(to: server.address, credentials: Credentials(user: "dave", password: "dave-new"))
        // --super-user: a user the command line names passes the checks the file's super users do.
        let ops = try await Self.connect(server, "ops")
        try await ops.deleteUser("frank")
        await expectBrookError(.saslAuthenticationFailed) { _ = try await Self.connect(server, "frank") }
        await expectBrookError(.resourceNotFound) { try await ops.deleteUser("frank") }
        await ops.close()
        await dave.close()
        await root.close()
        await server.stop()
    }

    @Test func withoutEnforcementEveryUserMayDoEverything() async throws {
        let server = try await AuthenticatedServer(users: [("dave", "dave-pw")])
        let dave = try await Self.connect(server, "dave")
        _ = try await dave.createTopic("t", partitions: 1)
        #expect(try await dave.query("SELECT 1").rows.count == 1)
        await dave.close()
        await server.stop()
    }
}
