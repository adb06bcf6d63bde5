import BrookClient
import BrookModel
import BrookTestSupport
import Foundation
import Testing

/// A `brook` process left running, its stdout going to a file.
final class RunningCLI: @unchecked Sendable {
    let process = Process()
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
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: stdout))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderr))
        process.standardInput = FileHandle.nullDevice
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
        let second = try await CLI.run(["serve", "--db", dir.file("other.db"), "--port", "\(server.port)"], in: dir)
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
