import BrookModel
import BrookTestSupport
import Foundation
import Testing

/// `brook users` on a stopped server's file: passwords from standard input only, verifiers in
/// the file, clear refusals.
@Suite("brook users")
struct UsersCLITests {
    @Test func addListChangeAndDeleteUsersWithPasswordsFromStandardInput() async throws {
        let dir = TemporaryDirectory("brook-users")
        let db = dir.file("u.db")
        let password = dir.file("pw")
        try "correct horse\n".write(toFile: password, atomically: true, encoding: .utf8)

        let added = try await CLI.run(["users", "add", "alice", "--super", "--db", db], stdinFile: password, in: dir)
        #expect(added.status == 0, "\(added.stderr)")
        #expect(added.stdout.contains("added super user alice"))
        #expect(try await CLI.run(["users", "add", "bob", "--iterations", "8192", "--db", db], stdinFile: password, in: dir).status == 0)

        let listed = try await CLI.run(["users", "list", "--db", db], in: dir)
        let lines = listed.stdout.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }
        #expect(lines == [
            "USER SUPER MECHANISMS ITERATIONS",
            "alice yes SCRAM-SHA-256,SCRAM-SHA-512 4096",
            "bob no SCRAM-SHA-256,SCRAM-SHA-512 8192",
        ])

        // The password is nowhere in the file.
        let file = try Data(contentsOf: URL(fileURLWithPath: db))
        #expect(file.range(of: Data("correct horse".utf8)) == nil)

        let duplicate = try await CLI.run(["users", "add", "alice", "--db", db], stdinFile: password, in: dir)
        #expect(duplicate.status != 0 && duplicate.stderr.contains("DUPLICATE_RESOURCE user 'alice' exists already"))

        let noPassword = try await CLI.run(["users", "add", "carol", "--db", db], in: dir)
        #expect(noPassword.status != 0 && noPassword.stderr.contains("no password for user 'carol' on standard input"))

        #expect(try await CLI.run(["users", "passwd", "bob", "--db", db], stdinFile: password, in: dir).status == 0)
        #expect(try await CLI.run(["users", "delete", "bob", "--db", db], in: dir).status == 0)
        let gone = try await CLI.run(["users", "delete", "bob", "--db", db], in: dir)
        #expect(gone.status != 0 && gone.stderr.contains("RESOURCE_NOT_FOUND user 'bob' does not exist"))
        #expect(try await CLI.run(["users", "list", "--db", db], in: dir).stdout.contains("bob") == false)
    }

    @Test func aRunningServersFileIsRefused() async throws {
        let dir = TemporaryDirectory("brook-users")
        let db = dir.file("u.db")
        let password = dir.file("pw")
        try "pw\n".write(toFile: password, atomically: true, encoding: .utf8)
        let server = try await CLI.Server(db: db, in: dir)
        let refused = try await CLI.run(["users", "add", "alice", "--db", db], stdinFile: password, in: dir)
        #expect(refused.status != 0)
        #expect(refused.stderr.contains(db), "\(refused.stderr)")
        _ = try await server.stop()
        #expect(try await CLI.run(["users", "add", "alice", "--db", db], stdinFile: password, in: dir).status == 0)
    }

    /// `serve --auth` with users, the CLI with `--user`, and the refusals around them.
    @Test func serveWithAuthAndTheCLIWithUser() async throws {
        let dir = TemporaryDirectory("brook-users")
        let db = dir.file("u.db")
        let password = dir.file("pw")
        let wrong = dir.file("wrong")
        try "s3cret\n".write(toFile: password, atomically: true, encoding: .utf8)
        try "guess\n".write(toFile: wrong, atomically: true, encoding: .utf8)

        // No user yet: --auth refuses to start and names the command that creates one.
        let empty = try await CLI.run(["serve", "--db", db, "--port", "0", "--no-kafka", "--no-http", "--auth"], in: dir)
        #expect(empty.status != 0)
        #expect(empty.stderr.contains("--auth needs a user in '\(db)', and it has none: stop here and run brook users add NAME --super --db \(db)"), "\(empty.stderr)")
        // Protected mode: every interface without --auth is refused unless --insecure.
        let open = try await CLI.run(["serve", "--db", db, "--port", "0", "--no-kafka", "--no-http", "--host", "0.0.0.0"], in: dir)
        #expect(open.status != 0 && open.stderr.contains("--host 0.0.0.0 listens beyond this machine"), "\(open.stderr)")

        #expect(try await CLI.run(["users", "add", "alice", "--super", "--db", db], stdinFile: password, in: dir).status == 0)
        let server = try await CLI.Server(db: db, in: dir, extra: ["--auth"])
        let created = try await CLI.run(["topics", "create", "t", "--server", server.address, "--user", "alice"], stdinFile: password, in: dir)
        #expect(created.status == 0, "\(created.stderr)")
        let denied = try await CLI.run(["topics", "list", "--server", server.address, "--user", "alice"], stdinFile: wrong, in: dir)
        #expect(denied.status != 0 && denied.stderr.contains("SASL_AUTHENTICATION_FAILED authentication of user 'alice' with SCRAM-SHA-256 failed"), "\(denied.stderr)")
        let anonymous = try await CLI.run(["topics", "list", "--server", server.address], in: dir)
        #expect(anonymous.status != 0 && anonymous.stderr.contains("requires authentication: give a user (--user NAME"), "\(anonymous.stderr)")
        let listed = try await CLI.run(["topics", "list", "--server", server.address, "--user", "alice"], stdinFile: password, in: dir)
        #expect(listed.stdout.contains("t "), "\(listed.stderr)")

        // Through the running server, as the super user: a new user (alice's password is the first
        // line of standard input, bob's the second), then a rule for bob.
        let twoPasswords = dir.file("two")
        try "s3cret\nb0b-pw\n".write(toFile: twoPasswords, atomically: true, encoding: .utf8)
        let bobPassword = dir.file("bob")
        try "b0b-pw\n".write(toFile: bobPassword, atomically: true, encoding: .utf8)
        let addedBob = try await CLI.run(["users", "add", "bob", "--server", server.address, "--user", "alice"], stdinFile: twoPasswords, in: dir)
        #expect(addedBob.status == 0 && addedBob.stdout.contains("added user bob to the server"), "\(addedBob.stderr)")
        let users = try await CLI.run(["users", "list", "--server", server.address, "--user", "alice"], stdinFile: password, in: dir)
        #expect(Self.squeezed(users.stdout).contains("alice yes") && Self.squeezed(users.stdout).contains("bob no"), "\(users.stdout) \(users.stderr)")
        let refused = try await CLI.run(["topics", "create", "u", "--server", server.address, "--user", "bob"], stdinFile: bobPassword, in: dir)
        #expect(refused.status != 0 && refused.stderr.contains("NOT_AUTHORIZED user 'bob' may not CREATE topic 'u'"), "\(refused.stderr)")
        let notSuper = try await CLI.run(["users", "list", "--server", server.address, "--user", "bob"], stdinFile: bobPassword, in: dir)
        #expect(notSuper.status != 0 && notSuper.stderr.contains("only a super user may"), "\(notSuper.stderr)")
        let rule = try await CLI.run(
            ["acls", "add", "--allow", "bob", "--operation", "create", "--topic", "u", "--prefixed", "--server", server.address, "--user", "alice"],
            stdinFile: password, in: dir)
        #expect(rule.status == 0 && rule.stdout.contains("added ACL: User:bob ALLOW CREATE on TOPIC PREFIXED 'u'"), "\(rule.stdout) \(rule.stderr)")
        let allowed = try await CLI.run(["topics", "create", "u1", "--server", server.address, "--user", "bob"], stdinFile: bobPassword, in: dir)
        #expect(allowed.status == 0, "\(allowed.stderr)")
        let rules = try await CLI.run(["acls", "list", "--server", server.address, "--user", "alice"], stdinFile: password, in: dir)
        #expect(Self.squeezed(rules.stdout).contains("User:bob ALLOW CREATE TOPIC PREFIXED u *"), "\(rules.stdout)")
        let deleted = try await CLI.run(["acls", "delete", "--allow", "bob", "--server", server.address, "--user", "alice"], stdinFile: password, in: dir)
        #expect(deleted.stdout.contains("deleted 1 ACL"), "\(deleted.stdout) \(deleted.stderr)")
        #expect(try await server.stop() == 0)

        // The rules are in the file: a stopped server's file lists them (none now) and takes new ones.
        let added = try await CLI.run(["acls", "add", "--deny", "User:*", "--operation", "all", "--group", "*", "--db", db], in: dir)
        #expect(added.status == 0, "\(added.stderr)")
        let offline = try await CLI.run(["acls", "list", "--db", db], in: dir)
        #expect(Self.squeezed(offline.stdout).contains("User:* DENY ALL GROUP LITERAL * *"), "\(offline.stdout)")
        let everything = try await CLI.run(["acls", "delete", "--db", db], in: dir)
        #expect(everything.status != 0 && everything.stderr.contains("name what to delete"), "\(everything.stderr)")
    }

    /// A table's text with every run of spaces made one, so checks do not depend on column widths.
    private static func squeezed(_ text: String) -> String {
        text.split(separator: "\n").map { $0.split(separator: " ").joined(separator: " ") }.joined(separator: "\n")
    }
}
