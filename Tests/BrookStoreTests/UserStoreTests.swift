import BrookModel
import BrookStore
import BrookTestSupport
import Foundation
import Testing

@Suite("Users in the file")
struct UserStoreTests {
    private func credential(_ mechanism: ScramMechanism, _ fill: UInt8) -> ScramCredential {
        ScramCredential(
            mechanism: mechanism, salt: [UInt8](repeating: fill, count: 24), iterations: 4096,
            storedKey: [UInt8](repeating: fill &+ 1, count: mechanism.keyByteCount),
            serverKey: [UInt8](repeating: fill &+ 2, count: mechanism.keyByteCount))
    }

    @Test func usersAndTheirVerifiersSurviveAReopenAndChangeInPlace() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("u.db")
        let alice = BrookUser(name: "alice", isSuper: true, credentials: [credential(.sha512, 1), credential(.sha256, 2)], createdMs: 10, updatedMs: 10)
        do {
            let writer = try LogWriter(path: path)
            try writer.addUser(alice)
            try writer.addUser(BrookUser(name: "bob, the =builder", isSuper: false, credentials: [credential(.sha256, 3)], createdMs: 11, updatedMs: 11))
            expectBrookError(.duplicateResource) {
                try writer.addUser(BrookUser(name: "alice", isSuper: false, credentials: [], createdMs: 12, updatedMs: 12))
            }
            writer.close()
        }
        let writer = try LogWriter(path: path)
        let users = try writer.users()
        #expect(users.map(\.name) == ["alice", "bob, the =builder"])
        #expect(users[0] == alice, "verifiers come back byte for byte, sorted by mechanism")
        #expect(users[0].credentials.map(\.mechanism) == [.sha256, .sha512])

        try writer.replaceCredentials(user: "bob, the =builder", with: [credential(.sha256, 9), credential(.sha512, 9)], now: 99)
        let bob = try #require(try writer.users().last)
        #expect(bob.credentials == [credential(.sha256, 9), credential(.sha512, 9)])
        #expect(bob.updatedMs == 99 && bob.createdMs == 11)

        try writer.deleteUser("alice")
        #expect(try writer.users().map(\.name) == ["bob, the =builder"])
        expectBrookError(.resourceNotFound, containing: "brook users add alice") { try writer.deleteUser("alice") }
        expectBrookError(.resourceNotFound) { try writer.replaceCredentials(user: "carol", with: []) }
        expectBrookError(.invalidRequest) {
            try writer.addUser(BrookUser(name: " padded", isSuper: false, credentials: [], createdMs: 1, updatedMs: 1))
        }
        writer.close()
    }

    /// SQL reads the rest of the file, users included, but never the verifiers.
    @Test func sqlCannotReadTheVerifiers() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("u.db")
        let writer = try LogWriter(path: path)
        try writer.addUser(BrookUser(name: "alice", isSuper: false, credentials: [credential(.sha256, 5)], createdMs: 1, updatedMs: 1))
        let sql = try ReadOnlySQL(path: path)
        #expect(try sql.query("SELECT name, super FROM __brook_users").rows.count == 1)
        for query in ["SELECT stored_key FROM __brook_scram_credentials", "SELECT count(*) FROM __brook_scram_credentials WHERE salt IS NOT NULL"] {
            expectBrookError(.notAuthorized) { _ = try sql.query(query) }
        }
        writer.close()
    }

    @Test func aclsSurviveAReopenAndAreDeletedByFilter() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("acl.db")
        let write = AclBinding(principal: "User:dave", resourceType: .topic, resourceName: "a", operation: .write)
        let read = AclBinding(principal: "User:dave", resourceType: .topic, patternType: .prefixed, resourceName: "app-", operation: .read)
        let deny = AclBinding(principal: "User:*", host: "10.0.0.9", resourceType: .group, resourceName: "g", operation: .all, permission: .deny)
        do {
            let writer = try LogWriter(path: path)
            try writer.addAcls([write, read])
            try writer.addAcls([deny, write])  // an existing rule is kept once, as Kafka's CreateAcls does
            expectBrookError(.invalidRequest) {
                try writer.addAcls([AclBinding(principal: "dave", resourceType: .topic, resourceName: "a", operation: .read)])
            }
            writer.close()
        }
        let writer = try LogWriter(path: path)
        #expect(try writer.acls() == [deny, read, write].sorted())
        let (deleted, remaining) = try writer.deleteAcls(matching: [
            AclFilter(resourceType: .topic, pattern: .match, resourceName: "app-orders"), AclFilter(principal: "User:nobody"),
        ])
        #expect(deleted == [[read], []])
        #expect(remaining == [deny, write].sorted())
        #expect(try writer.acls() == remaining)

        try writer.addUser(BrookUser(name: "dave", isSuper: false, credentials: [credential(.sha256, 1)], createdMs: 1, updatedMs: 1))
        try writer.setSuper(user: "dave", true, now: 5)
        #expect(try writer.users().first?.isSuper == true)
        expectBrookError(.resourceNotFound) { try writer.setSuper(user: "nobody", true) }
        writer.close()
    }
}
