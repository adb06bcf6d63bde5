import ArgumentParser
import BrookAuth
import BrookCommandLine
import BrookModel
import BrookStore

struct Users: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Add, list, delete users and change their passwords, in a stopped server's file.",
        discussion: """
            The file keeps SCRAM-SHA-256 and SCRAM-SHA-512 verifiers (salt, iterations, StoredKey, \
            ServerKey), never the password. A password is read from standard input when it is not \
            a terminal (one line), else prompted for twice without echo; it is never an argument. \
            See docs/security.md.
            """,
        subcommands: [Add.self, List.self, Delete.self, Passwd.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a user; the password comes from stdin or a prompt.")
        @Argument(help: "The user name (1 to 255 bytes).") var name: String
        @Flag(name: .customLong("super"), help: "A super user passes every ACL check.") var isSuper = false
        @Option(help: "SCRAM iterations, 4096 to 1000000.") var iterations = ScramCredential.minIterations
        @Option(help: "The database file of a stopped server.") var db = "brook.db"

        func run() async throws {
            try await reportingErrors {
                try UserName.validate(name)
                let password = try PasswordInput.read(for: name, confirm: true)
                let credentials = try ScramCredential.makeAll(password: password, iterations: iterations)
                let writer = try LogWriter(path: db)
                defer { writer.close() }
                let now = WallClock.nowMillis()
                try writer.addUser(BrookUser(name: name, isSuper: isSuper, credentials: credentials, createdMs: now, updatedMs: now))
                Output.line("added \(isSuper ? "super user" : "user") \(name) to \(db) (SCRAM-SHA-256 and SCRAM-SHA-512, \(iterations) iterations)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List users and their mechanisms.")
        @Option(help: "The database file of a stopped server.") var db = "brook.db"

        func run() async throws {
            try await reportingErrors {
                let writer = try LogWriter(path: db)
                defer { writer.close() }
                let users = try writer.users()
                Output.line(table(
                    ["USER", "SUPER", "MECHANISMS", "ITERATIONS"],
                    users.map { user in
                        [user.name, user.isSuper ? "yes" : "no",
                         user.credentials.map(\.mechanism.rawValue).joined(separator: ","),
                         Set(user.credentials.map(\.iterations)).sorted().map(String.init).joined(separator: ",")]
                    }))
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a user.")
        @Argument(help: "The user name.") var name: String
        @Option(help: "The database file of a stopped server.") var db = "brook.db"

        func run() async throws {
            try await reportingErrors {
                let writer = try LogWriter(path: db)
                defer { writer.close() }
                try writer.deleteUser(name)
                Output.line("deleted user \(name) from \(db)")
            }
        }
    }

    struct Passwd: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a user's password; it comes from stdin or a prompt.")
        @Argument(help: "The user name.") var name: String
        @Option(help: "SCRAM iterations, 4096 to 1000000.") var iterations = ScramCredential.minIterations
        @Option(help: "The database file of a stopped server.") var db = "brook.db"

        func run() async throws {
            try await reportingErrors {
                let password = try PasswordInput.read(for: name, confirm: true)
                let credentials = try ScramCredential.makeAll(password: password, iterations: iterations)
                let writer = try LogWriter(path: db)
                defer { writer.close() }
                try writer.replaceCredentials(user: name, with: credentials)
                Output.line("changed the password of user \(name) in \(db)")
            }
        }
    }
}

