import ArgumentParser
import BrookAuth
import BrookClient
import BrookCommandLine
import BrookModel
import BrookStore
import BrookWire

struct Users: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Add, list, delete users and change their passwords, in a stopped server's file or through a running server.",
        discussion: """
            With --db FILE the commands change a stopped server's file. Without it they go through \
            the running server (--server, default 127.0.0.1:7665) as a super user (--user, with the \
            password in $BROOK_PASSWORD). The file keeps SCRAM-SHA-256 and SCRAM-SHA-512 verifiers \
            (salt, iterations, StoredKey, ServerKey), never the password; through a server, this \
            command derives the verifiers and only they are sent. A new password is read from \
            standard input when it is not a terminal (one line), else prompted for twice without \
            echo; it is never an argument. See docs/security.md.
            """,
        subcommands: [Add.self, List.self, Delete.self, Passwd.self])

    /// Where the users are: a stopped server's file, or a running server.
    struct Target: ParsableArguments {
        @Option(help: "The database file of a stopped server; without it, the running server.") var db: String?
        @OptionGroup var server: ServerOptions

        /// Runs `file` on a stopped server's file with `--db`, else `server` through the running
        /// server.
        func perform<T>(file: (LogWriter) throws -> T, server body: (BrookClient) async throws -> T) async throws -> T {
            if let db {
                let writer = try LogWriter(path: db)
                defer { writer.close() }
                return try file(writer)
            }
            let client = try await server.connect()
            do {
                let result = try await body(client)
                await client.close()
                return result
            } catch {
                await client.close()
                throw error
            }
        }

        var place: String { db ?? "the server" }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a user; the password comes from stdin or a prompt.")
        @Argument(help: "The user name (1 to 255 bytes).") var name: String
        @Flag(name: .customLong("super"), help: "A super user passes every ACL check.") var isSuper = false
        @Option(help: "SCRAM iterations, 4096 to 1000000.") var iterations = ScramCredential.minIterations
        @OptionGroup var target: Target

        func run() async throws {
            try await reportingErrors {
                try UserName.validate(name)
                // Through a server, the caller's own password is asked for first (or comes from
                // $BROOK_PASSWORD); the new user's follows.
                if target.db == nil { _ = try target.server.credentials() }
                let password = try PasswordInput.read(for: name, confirm: true)
                let credentials = try ScramCredential.makeAll(password: password, iterations: iterations)
                let now = WallClock.nowMillis()
                let user = BrookUser(name: name, isSuper: isSuper, credentials: credentials, createdMs: now, updatedMs: now)
                try await target.perform(file: { try $0.addUser(user) }, server: { try await $0.addUser(name, isSuper: isSuper, credentials: credentials) })
                Output.line("added \(isSuper ? "super user" : "user") \(name) to \(target.place) (SCRAM-SHA-256 and SCRAM-SHA-512, \(iterations) iterations)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List users and their mechanisms.")
        @OptionGroup var target: Target

        func run() async throws {
            try await reportingErrors {
                let users = try await target.perform(file: { try $0.users().map(UserSummary.init) }, server: { try await $0.listUsers() })
                Output.line(table(
                    ["USER", "SUPER", "MECHANISMS", "ITERATIONS"],
                    users.map { user in
                        [user.name, user.isSuper ? "yes" : "no", user.mechanisms.map(\.rawValue).joined(separator: ","),
                         user.iterations.map(String.init).joined(separator: ",")]
                    }))
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a user.")
        @Argument(help: "The user name.") var name: String
        @OptionGroup var target: Target

        func run() async throws {
            try await reportingErrors {
                try await target.perform(file: { try $0.deleteUser(name) }, server: { try await $0.deleteUser(name) })
                Output.line("deleted user \(name) from \(target.place)")
            }
        }
    }

    struct Passwd: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a user's password; it comes from stdin or a prompt.")
        @Argument(help: "The user name.") var name: String
        @Option(help: "SCRAM iterations, 4096 to 1000000.") var iterations = ScramCredential.minIterations
        @OptionGroup var target: Target

        func run() async throws {
            try await reportingErrors {
                if target.db == nil { _ = try target.server.credentials() }
                let password = try PasswordInput.read(for: name, confirm: true)
                let credentials = try ScramCredential.makeAll(password: password, iterations: iterations)
                try await target.perform(
                    file: { try $0.replaceCredentials(user: name, with: credentials) },
                    server: { try await $0.changePassword(name, credentials: credentials) })
                Output.line("changed the password of user \(name) in \(target.place)")
            }
        }
    }
}
