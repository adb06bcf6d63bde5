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

        #expect(try await CLI.run(["users", "add", "alice", "--db", db], stdinFile: password, in: dir).status == 0)
        let server = try await CLI.Server(db: db, in: dir, extra: ["--auth"])
        let created = try await CLI.run(["topics", "create", "t", "--server", server.address, "--user", "alice"], stdinFile: password, in: dir)
        #expect(created.status == 0, "\(created.stderr)")
        let denied = try await CLI.run(["topics", "list", "--server", server.address, "--user", "alice"], stdinFile: wrong, in: dir)
        #expect(denied.status != 0 && denied.stderr.contains("SASL_AUTHENTICATION_FAILED authentication of user 'alice' with SCRAM-SHA-256 failed"), "\(denied.stderr)")
        let anonymous = try await CLI.run(["topics", "list", "--server", server.address], in: dir)
        #expect(anonymous.status != 0 && anonymous.stderr.contains("requires authentication: give a user (--user NAME"), "\(anonymous.stderr)")
        let listed = try await CLI.run(["topics", "list", "--server", server.address, "--user", "alice"], stdinFile: password, in: dir)
        #expect(listed.stdout.contains("t "), "\(listed.stderr)")
        #expect(try await server.stop() == 0)
    }
}
