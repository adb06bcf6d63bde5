import BrookClient
import BrookModel
import BrookTestSupport
import BrookWire
import Foundation
import Testing

/// A `brook` process left running, its stdout going to a file.
final class RunningCLI: @unchecked Sendable {
    let process = ChildProcess()
    let stdout: String
    let stderr: String
    private var exited: Task<Void, Error>?

    init(_ arguments: [String], in dir: TemporaryDirectory) throws {
        stdout = dir.file("out-\(UUID().uuidString)")
        stderr = dir.file("err-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: stdout, contents: nil)
        FileManager.default.createFile(atPath: stderr, contents: nil)
        process.executableURL = URL(fileURLWithPath: CLI.executable)
        process.arguments = arguments
        process.standardOutputPath = stdout
        process.standardErrorPath = stderr
        let process = self.process
        exited = Task { try await CLI.exit(of: process) }
    }

    deinit {
        if process.isRunning { process.terminate() }
    }

    var output: String { (try? String(contentsOfFile: stdout, encoding: .utf8)) ?? "" }
    var errors: String { (try? String(contentsOfFile: stderr, encoding: .utf8)) ?? "" }

    /// Waits (up to 60 s, for a loaded machine) until stdout has `count` lines; whether it did.
    func waitForLines(_ count: Int) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if output.split(separator: "\n").count >= count { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    /// Sends a signal and waits for the process to exit; whether it exited normally, and its status.
    func stop(signal: Int32) async throws -> (normal: Bool, status: Int32) {
        kill(process.processIdentifier, signal)
        try await exited?.value
        return (process.terminationReason == .exit, process.terminationStatus)
    }
}

struct CLIStopTests {
    /// Ctrl-C on `brook consume --group` commits what it printed and leaves the group, as Kafka's
    /// console consumer does (before, the process died with nothing committed).
    @Test(arguments: [SIGINT, SIGTERM])
    func groupConsumerCommitsAndLeavesOnSignal(signal: Int32) async throws {
        let dir = TemporaryDirectory("brook-cli")
        let server = try await CLI.Server(db: dir.file("brook.db"), in: dir, extra: ["--group-initial-rebalance-delay-ms", "0"])
        _ = try await CLI.run(["topics", "create", "t", "--partitions", "2", "--server", server.address], in: dir)
        try (0..<25).map { "k\($0)\tline-\($0)" }.joined(separator: "\n").appending("\n").write(toFile: dir.file("in.txt"), atomically: true, encoding: .utf8)
        let produced = try await CLI.run(["produce", "t", "--parse-key", "--server", server.address], stdinFile: dir.file("in.txt"), in: dir)
        #expect(produced.status == 0, "\(produced.stderr)")

        let consumer = try RunningCLI(["consume", "t", "--group", "g", "--from-beginning", "--server", server.address], in: dir)
        #expect(try await consumer.waitForLines(25), "the consumer printed every record: \(consumer.errors)")
        let exit = try await consumer.stop(signal: signal)
        #expect(exit.normal && exit.status == 0, "a clean exit on the signal: \(consumer.errors)")

        let client = try await BrookClient.connect(to: ServerAddress(host: "127.0.0.1", port: server.port))
        let committed = try await client.committedOffsets(group: "g", topic: "t")
        #expect(committed.map(\.1).reduce(0, +) == 25, "every printed record was committed: \(committed)")
        let description = try await client.describeGroup("g")
        #expect(description.members.isEmpty, "the consumer left the group")
        await client.close()
        #expect(try await server.stop() == 0)
    }
}

/// The commonest mistakes are answered with a code, the thing named, and what to do.
struct CLIErrorTests {
    @Test func noServerSaysConnectionRefusedAndAsksWhetherItRuns() async throws {
        let dir = TemporaryDirectory("brook-cli")
        let outcome = try await CLI.run(["topics", "list", "--server", "127.0.0.1:1"], in: dir)
        #expect(outcome.status != 0)
        #expect(outcome.stderr == "brook: BROKER_NOT_AVAILABLE cannot connect to 127.0.0.1:1: connection refused — is `brook serve` running?\n")
        let socket = try await CLI.run(["topics", "list", "--server", "unix:\(dir.file("none.sock"))"], in: dir)
        #expect(socket.stderr.hasPrefix("brook: BROKER_NOT_AVAILABLE cannot connect to unix:\(dir.file("none.sock")): no socket at that path"), "\(socket.stderr)")
    }

    @Test func portInUseIsNamedAndNoDatabaseIsCreated() async throws {
        let dir = TemporaryDirectory("brook-cli")
        let server = try await CLI.Server(db: dir.file("brook.db"), in: dir)
        let second = try await CLI.run(["serve", "--db", dir.file("other.db"), "--port", "\(server.port)", "--no-http"], in: dir)
        #expect(second.status != 0)
        #expect(second.stderr.contains("brook: INVALID_CONFIG port \(server.port) on 127.0.0.1 is already in use"), "\(second.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("other.db")), "no database file was created")
        #expect(try await server.stop() == 0)
    }

    @Test func backupIntoAMissingDirectoryNamesIt() async throws {
        let dir = TemporaryDirectory("brook-cli")
        let server = try await CLI.Server(db: dir.file("brook.db"), in: dir)
        let missing = dir.file("nodir")
        let remote = try await CLI.run(["backup", "\(missing)/copy.db", "--server", server.address], in: dir)
        #expect(remote.status != 0)
        #expect(remote.stderr == "brook: INVALID_REQUEST backup directory '\(missing)' does not exist; create it first (mkdir -p '\(missing)')\n")
        #expect(try await server.stop() == 0)
        let local = try await CLI.run(["backup", "\(missing)/copy.db", "--db", dir.file("brook.db")], in: dir)
        #expect(local.stderr == remote.stderr, "the same answer from a file backup")
    }
}

/// The CLI's gaps a new user met: options without help, an invisible default, an offset applied to
/// every partition, a line without its key separator, and null keys that print as empty ones.
struct CLIGapTests {
    static let subcommands: [[String]] = [
        ["serve"], ["topics", "create"], ["topics", "list"], ["topics", "describe"], ["topics", "alter"], ["topics", "delete"],
        ["produce"], ["consume"], ["groups", "list"], ["groups", "describe"], ["groups", "reset"], ["groups", "delete"], ["sql"], ["backup"],
    ]

    @Test func everyOptionAndArgumentHasHelpText() async throws {
        let dir = TemporaryDirectory("brook-cli")
        for command in Self.subcommands {
            let help = try await CLI.run(command + ["--help"], in: dir)
            #expect(help.status == 0, "\(command): \(help.stderr)")
            // Under ARGUMENTS: and OPTIONS:, each entry's name is followed by its text on the same
            // line or the next one, indented further.
            let lines = help.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            var section = ""
            for (index, line) in lines.enumerated() {
                if line.hasSuffix(":") && !line.hasPrefix(" ") { section = line; continue }
                guard section == "ARGUMENTS:" || section == "OPTIONS:", line.hasPrefix("  "), !line.hasPrefix("   ") else { continue }
                let entry = line.trimmingCharacters(in: .whitespaces)
                // The name, its value placeholder and any flag forms come first; text after them is help.
                let text = entry.split(separator: " ").drop { $0.hasPrefix("-") || $0.hasPrefix("<") || $0.hasSuffix(">") || $0.hasSuffix(">...") }
                let sameLine = !text.isEmpty
                let nextLine = index + 1 < lines.count && lines[index + 1].hasPrefix("     ")
                #expect(sameLine || nextLine, "\(command.joined(separator: " ")): '\(entry)' has no help text")
            }
        }
    }

    @Test func keySeparatorDefaultIsVisible() async throws {
        let dir = TemporaryDirectory("brook-cli")
        let help = try await CLI.run(["produce", "--help"], in: dir)
        #expect(help.stdout.contains("(default: \\t)"), "\(help.stdout)")
        #expect(!help.stdout.contains("\t"), "no raw tab in the help")
    }

    @Test func consumeOffsetWithoutPartitionIsRefused() async throws {
        let dir = TemporaryDirectory("brook-cli")
        let server = try await CLI.Server(db: dir.file("brook.db"), in: dir)
        _ = try await CLI.run(["topics", "create", "t", "--partitions", "2", "--server", server.address], in: dir)
        let refused = try await CLI.run(["consume", "t", "--offset", "1", "--max-messages", "1", "--timeout-ms", "100", "--server", server.address], in: dir)
        #expect(refused.status != 0)
        #expect(refused.stderr == "brook: INVALID_REQUEST --offset needs --partition: an offset belongs to one partition\n")
        #expect(try await server.stop() == 0)
    }

    @Test func parseKeyOnALineWithoutTheSeparatorNamesTheLine() async throws {
        let dir = TemporaryDirectory("brook-cli")
        let server = try await CLI.Server(db: dir.file("brook.db"), in: dir)
        _ = try await CLI.run(["topics", "create", "t", "--server", server.address], in: dir)
        try "a\t1\nb\t2\nno separator\nc\t3\n".write(toFile: dir.file("in.txt"), atomically: true, encoding: .utf8)
        let produced = try await CLI.run(["produce", "t", "--parse-key", "--server", server.address], stdinFile: dir.file("in.txt"), in: dir)
        #expect(produced.status != 0)
        #expect(produced.stderr == "brook: INVALID_REQUEST line 3 has no key separator '\\t' for --parse-key; the 2 lines before it were produced\n")
        let keys = try await CLI.run(["sql", "SELECT key FROM t ORDER BY offset", "--format", "csv", "--server", server.address], in: dir)
        #expect(keys.stdout == "key\na\nb\n", "no keyless record was written: \(keys.stdout)")
        #expect(try await server.stop() == 0)
    }

    @Test func printNullTellsNullKeysFromEmptyOnes() async throws {
        let dir = TemporaryDirectory("brook-cli")
        let server = try await CLI.Server(db: dir.file("brook.db"), in: dir)
        let client = try await BrookClient.connect(to: ServerAddress(host: "127.0.0.1", port: server.port))
        try await client.createTopic("t", partitions: 1)
        _ = try await client.produce(topic: "t", records: [ProducerRecord(key: nil, value: "a"), ProducerRecord(key: "", value: "b")])
        await client.close()
        let plain = try await CLI.run(["consume", "t", "--from-beginning", "--max-messages", "2", "--format", "[%k]%v\\n", "--server", server.address], in: dir)
        #expect(plain.stdout == "[]a\n[]b\n", "without --print-null both print empty")
        let marked = try await CLI.run(
            ["consume", "t", "--from-beginning", "--max-messages", "2", "--format", "[%k]%v\\n", "--print-null", "--server", server.address], in: dir)
        #expect(marked.stdout == "[NULL]a\n[]b\n", "\(marked.stderr)")
        #expect(try await server.stop() == 0)
    }
}

/// The version, licence and changelog a user looks for.
struct ReleaseFilesTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func versionIsThePackageVersionAndTheChangelogHasIt() async throws {
        let dir = TemporaryDirectory("brook-cli")
        let version = try await CLI.run(["--version"], in: dir)
        #expect(version.stdout == "\(WireProtocol.serverVersion)\n")
        let changelog = try String(contentsOf: Self.root.appendingPathComponent("CHANGELOG.md"), encoding: .utf8)
        #expect(changelog.contains("## Unreleased") && changelog.contains("## \(WireProtocol.serverVersion)"))
        let license = try String(contentsOf: Self.root.appendingPathComponent("LICENSE"), encoding: .utf8)
        #expect(license.contains("Apache License") && license.contains("Version 2.0, January 2004"))
    }
}

/// `brook restore`: a backup goes back in place only while no server holds the file, only when it
/// is a sound Brook database, and with the old file's -wal and -shm gone.
struct CLIRestoreTests {
    @Test func restoreRefusesARunningServerAndABadSourceThenReplacesTheFile() async throws {
        let dir = TemporaryDirectory("brook-cli")
        let db = dir.file("brook.db")
        var server = try await CLI.Server(db: db, in: dir)
        _ = try await CLI.run(["topics", "create", "t", "--server", server.address], in: dir)
        try "one\ntwo\n".write(toFile: dir.file("first.txt"), atomically: true, encoding: .utf8)
        _ = try await CLI.run(["produce", "t", "--server", server.address], stdinFile: dir.file("first.txt"), in: dir)
        let backup = try await CLI.run(["backup", dir.file("copy.db"), "--server", server.address], in: dir)
        #expect(backup.status == 0, "\(backup.stderr)")
        try "three\nfour\nfive\n".write(toFile: dir.file("second.txt"), atomically: true, encoding: .utf8)
        _ = try await CLI.run(["produce", "t", "--server", server.address], stdinFile: dir.file("second.txt"), in: dir)

        let whileRunning = try await CLI.run(["restore", dir.file("copy.db"), "--db", db], in: dir)
        #expect(whileRunning.status != 0)
        #expect(whileRunning.stderr.hasPrefix("brook: STORAGE_ERROR '\(db)' is in use by another Brook process (pid \(server.process.processIdentifier))"), "\(whileRunning.stderr)")
        #expect(try await server.stop() == 0)

        try "not a database".write(toFile: dir.file("junk.db"), atomically: true, encoding: .utf8)
        let junk = try await CLI.run(["restore", dir.file("junk.db"), "--db", db], in: dir)
        #expect(junk.status != 0 && junk.stderr.hasPrefix("brook: "), "\(junk.stderr)")
        #expect(!junk.stderr.contains("restored"))
        let missing = try await CLI.run(["restore", dir.file("nope.db"), "--db", db], in: dir)
        #expect(missing.stderr == "brook: INVALID_REQUEST backup '\(dir.file("nope.db"))' does not exist\n")

        // A -wal and -shm left beside the database (a crash, or a copy made by hand) must not
        // be applied to the restored file.
        try "stale".write(toFile: db + "-wal", atomically: false, encoding: .utf8)
        try "stale".write(toFile: db + "-shm", atomically: false, encoding: .utf8)
        let restored = try await CLI.run(["restore", dir.file("copy.db"), "--db", db], in: dir)
        #expect(restored.status == 0 && restored.stdout.contains("integrity ok"), "\(restored.stderr)")
        #expect(!FileManager.default.fileExists(atPath: db + "-wal") && !FileManager.default.fileExists(atPath: db + "-shm"))
        #expect(!FileManager.default.fileExists(atPath: db + ".restoring"))

        server = try await CLI.Server(db: db, in: dir)
        let values = try await CLI.run(["sql", "SELECT value FROM t ORDER BY offset", "--format", "csv", "--server", server.address], in: dir)
        #expect(values.stdout == "value\none\ntwo\n", "the backup's records, and only those: \(values.stdout)")
        #expect(try await server.stop() == 0)
    }
}
