import BrookBroker
import BrookClient
import BrookModel
import BrookTestSupport
import Foundation
import Synchronization
import Testing

/// Runs the `brook` executable that `swift test` builds beside the test bundle.
enum CLI {
    static var executable: String {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("brook").path
    }

    struct Outcome {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs `brook ARGS` to completion, feeding `stdinFile`, without blocking a cooperative thread.
    static func run(_ arguments: [String], stdinFile: String? = nil, in dir: TemporaryDirectory) async throws -> Outcome {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = dir.file("out-\(UUID().uuidString)")
        let err = dir.file("err-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: out, contents: nil)
        FileManager.default.createFile(atPath: err, contents: nil)
        process.standardOutputPath = out
        process.standardErrorPath = err
        process.standardInputPath = stdinFile
        try await exit(of: process)
        return Outcome(
            status: process.terminationStatus, stdout: try String(contentsOfFile: out, encoding: .utf8),
            stderr: try String(contentsOfFile: err, encoding: .utf8))
    }

    /// Starts `process` (see ``ChildProcess``, which replaces Foundation's `Process` here) and
    /// waits for it to exit, without blocking a cooperative thread.
    static func exit(of process: ChildProcess) async throws {
        try process.run()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            process.whenExited { continuation.resume() }
        }
    }

    /// A `brook serve` process on a free port.
    final class Server: @unchecked Sendable {
        let process = ChildProcess()
        let log: String
        private(set) var port = 0
        private var exited: Task<Void, Error>?

        /// - Parameter shellSetup: shell commands run before the server starts in that shell's
        ///   process (`ulimit -n 128`: 128 open files, soft and hard).
        init(db: String, in dir: TemporaryDirectory, port listenPort: Int = 0, extra: [String] = [], shellSetup: String? = nil) async throws {
            log = dir.file("serve-\(UUID().uuidString).log")
            // Several servers run at once: none listens for Kafka or HTTP unless a test asks for a port.
            var extra = extra.contains("--kafka-port") ? extra : ["--no-kafka"] + extra
            if !extra.contains("--http-port") { extra = ["--no-http"] + extra }
            FileManager.default.createFile(atPath: log, contents: nil)
            let arguments = ["serve", "--db", db, "--port", "\(listenPort)", "--retention-check-interval-ms", "0"] + extra
            if let shellSetup {
                process.executableURL = URL(fileURLWithPath: "/bin/sh")
                process.arguments = ["-c", "\(shellSetup) && exec \"$0\" \"$@\"", CLI.executable] + arguments
            } else {
                process.executableURL = URL(fileURLWithPath: CLI.executable)
                process.arguments = arguments
            }
            process.standardErrorPath = log
            let process = self.process
            exited = Task { try await CLI.exit(of: process) }
            for _ in 0..<300 {
                let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                if let range = text.range(of: "port=") {
                    port = Int(text[range.upperBound...].prefix { $0.isNumber }) ?? 0
                    if port > 0 { return }
                }
                // A server that exited (it could not bind, say) is reported at once, with its log.
                if process.processIdentifier != 0 && !process.isRunning { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            process.terminate()
            throw BrookError(.brokerNotAvailable, "brook serve did not start: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        }

        var address: String { "127.0.0.1:\(port)" }

        /// A test that fails before ``stop(signal:)`` must not leave a server running.
        deinit {
            if process.isRunning { process.terminate() }
        }

        /// Sends a signal and waits for the process to exit.
        func stop(signal: Int32 = SIGTERM) async throws -> Int32 {
            kill(process.processIdentifier, signal)
            try await exited?.value
            return process.terminationStatus
        }
    }
}

struct CLITests {
    @Test func tenThousandKeyedLinesComeBackOnePartitionPerKeyInOrder() async throws {
        let dir = TemporaryDirectory("brook-cli")
        let server = try await CLI.Server(db: dir.file("brook.db"), in: dir)
        let created = try await CLI.run(["topics", "create", "events", "--partitions", "3", "--server", server.address], in: dir)
        #expect(created.status == 0, "\(created.stderr)")

        let input = dir.file("lines.txt")
        let lines = (0..<10_000).map { "key-\($0 % 37)\tvalue-\($0)" }
        try (lines.joined(separator: "\n") + "\n").write(toFile: input, atomically: true, encoding: .utf8)
        let produced = try await CLI.run(
            ["produce", "events", "--parse-key", "--print-offsets", "--batch-size", "500", "--server", server.address], stdinFile: input, in: dir)
        #expect(produced.status == 0, "\(produced.stderr)")
        #expect(produced.stdout.split(separator: "\n").count == 10_000, "one PARTITION:OFFSET per acknowledged line")

        let consumed = try await CLI.run(
            ["consume", "events", "--from-beginning", "--max-messages", "10000", "--timeout-ms", "10000",
             "--format", "%p\\t%o\\t%k\\t%v\\n", "--server", server.address], in: dir)
        #expect(consumed.status == 0, "\(consumed.stderr)")
        let rows = consumed.stdout.split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
        #expect(rows.count == 10_000)
        #expect(Set(rows.map { "\($0[2])\t\($0[3])" }) == Set(lines), "every line came back")
        var partitionOfKey: [String: String] = [:]
        var lastSequenceOfKey: [String: Int] = [:]
        for row in rows {
            let (partition, key, sequence) = (row[0], row[2], Int(row[3].dropFirst("value-".count))!)
            #expect(partitionOfKey[key, default: partition] == partition, "key \(key) stayed on one partition")
            partitionOfKey[key] = partition
            #expect(sequence > lastSequenceOfKey[key, default: -1], "order per key held")
            lastSequenceOfKey[key] = sequence
            #expect(String(Partitioner.partition(forKey: Array(key.utf8), partitionCount: 3)) == partition, "Kafka's partition for \(key)")
        }
        #expect(try await server.stop() == 0)
    }

    @Test func clientCommandsFailWithOneClearLine() async throws {
        let dir = TemporaryDirectory("brook-cli")
        let unreachable = try await CLI.run(["topics", "list", "--server", "127.0.0.1:1"], in: dir)
        #expect(unreachable.status != 0)
        #expect(unreachable.stderr.hasPrefix("brook: BROKER_NOT_AVAILABLE cannot connect to 127.0.0.1:1"))
        #expect(unreachable.stderr.split(separator: "\n").count == 1)

        let server = try await CLI.Server(db: dir.file("brook.db"), in: dir)
        let second = try await CLI.run(["serve", "--db", dir.file("brook.db"), "--port", "0", "--no-kafka", "--no-http"], in: dir)
        #expect(second.status != 0)
        // The holder's pid comes from /proc/locks, which may not show it yet on a loaded machine
        // ("pid ?"); the code, the file and the advice are always there.
        #expect(second.stderr.contains("brook: STORAGE_ERROR '\(dir.file("brook.db"))' is in use by another Brook process (pid "), "\(second.stderr)")
        #expect(second.stderr.contains("(pid \(server.process.processIdentifier))") || second.stderr.contains("(pid ?)"), "\(second.stderr)")
        let unknown = try await CLI.run(["consume", "nope", "--server", server.address], in: dir)
        #expect(unknown.status != 0)
        #expect(unknown.stderr == "brook: UNKNOWN_TOPIC topic 'nope' does not exist\n")
        let invalid = try await CLI.run(["topics", "create", "bad/name", "--server", server.address], in: dir)
        #expect(invalid.status != 0 && invalid.stderr.hasPrefix("brook: INVALID_TOPIC"))
        let acks = try await CLI.run(["produce", "t", "--acks", "2", "--server", server.address], in: dir)
        #expect(acks.status != 0 && acks.stderr.hasPrefix("brook: INVALID_REQUEST --acks must be 0, 1 or all"))
        let idempotence = try await CLI.run(["produce", "t", "--idempotence", "maybe", "--server", server.address], in: dir)
        #expect(idempotence.status != 0 && idempotence.stderr.hasPrefix("brook: INVALID_REQUEST --idempotence must be true or false"))
        // Both kinds of producer write the same records.
        _ = try await CLI.run(["topics", "create", "both", "--partitions", "2", "--server", server.address], in: dir)
        try "k1\ta\nk2\tb\n".write(toFile: dir.file("two.txt"), atomically: true, encoding: .utf8)
        for setting in ["true", "false"] {
            let produced = try await CLI.run(
                ["produce", "both", "--parse-key", "--idempotence", setting, "--print-offsets", "--server", server.address], stdinFile: dir.file("two.txt"), in: dir)
            #expect(produced.status == 0, "\(produced.stderr)")
            let keyed = ["k1", "k2"].map { "\(Partitioner.partition(forKey: Array($0.utf8), partitionCount: 2))" }
            #expect(produced.stdout.split(separator: "\n").map { String($0.split(separator: ":")[0]) } == keyed, "Kafka's partitions either way")
        }
        #expect(try await server.stop() == 0)
    }

    @Test func sqlAndBackupThroughTheServerAndOnAFile() async throws {
        let dir = TemporaryDirectory("brook-cli")
        let server = try await CLI.Server(db: dir.file("brook.db"), in: dir)
        _ = try await CLI.run(["topics", "create", "orders", "--server", server.address], in: dir)
        try "u1\t{\"total\":5}\nu2\t{\"total\":7}\n".write(toFile: dir.file("in.txt"), atomically: true, encoding: .utf8)
        _ = try await CLI.run(["produce", "orders", "--parse-key", "--server", server.address], stdinFile: dir.file("in.txt"), in: dir)
        let csv = try await CLI.run(["sql", "SELECT key, json_extract(value, '$.total') AS total FROM orders ORDER BY key", "--format", "csv", "--server", server.address], in: dir)
        #expect(csv.stdout == "key,total\nu1,5\nu2,7\n", "\(csv.stderr)")
        let backup = try await CLI.run(["backup", dir.file("copy.db"), "--server", server.address], in: dir)
        #expect(backup.status == 0, "\(backup.stderr)")
        #expect(try await server.stop() == 0)
        let json = try await CLI.run(["sql", "SELECT count(*) AS n FROM orders", "--db", dir.file("copy.db"), "--format", "json"], in: dir)
        #expect(json.stdout == "[{\"n\":2}]\n", "\(json.stderr)")
        let fileBackup = try await CLI.run(["backup", dir.file("copy2.db"), "--db", dir.file("brook.db")], in: dir)
        #expect(fileBackup.status == 0 && fileBackup.stdout.contains("integrity ok"), "\(fileBackup.stderr)")
    }

    @Test func sigtermShutdownLosesNoAcknowledgedRecord() async throws {
        let dir = TemporaryDirectory("brook-cli")
        let db = dir.file("brook.db")
        let server = try await CLI.Server(db: db, in: dir)
        let address = ServerAddress(host: "127.0.0.1", port: server.port)
        let setup = try await BrookClient.connect(to: address)
        try await setup.createTopic("t", partitions: 2)
        await setup.close()

        // Four producers write numbered records until the server goes away; each keeps what was
        // acknowledged.
        let progress = AcknowledgedCount()
        let acknowledged = try await withThrowingTaskGroup(of: [RecordPosition: String].self) { group in
            for producer in 0..<4 {
                group.addTask {
                    // On a loaded machine a producer may first connect after the signal: it then
                    // has nothing acknowledged.
                    guard let client = try? await BrookClient.connect(to: address) else { return [:] }
                    var acked: [RecordPosition: String] = [:]
                    var sequence = 0
                    while true {
                        let values = (0..<20).map { "p\(producer)-\(sequence + $0)" }
                        do {
                            let positions = try await client.produce(topic: "t", records: values.map { ProducerRecord(key: nil, value: $0) })
                            for (position, value) in zip(positions, values) { acked[position] = value }
                            progress.value.add(positions.count, ordering: .relaxed)
                        } catch {
                            break
                        }
                        sequence += 20
                    }
                    await client.close()
                    return acked
                }
            }
            group.addTask {
                // The signal comes while producers run: once they have had records acknowledged
                // (however slowly a loaded machine lets them start), and a moment later.
                let deadline = ContinuousClock.now + .seconds(30)
                while progress.value.load(ordering: .relaxed) <= 100 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
                try await Task.sleep(for: .milliseconds(200))
                #expect(try await server.stop(signal: SIGTERM) == 0, "a clean exit on SIGTERM")
                return [:]
            }
            return try await group.reduce(into: [RecordPosition: String]()) { $0.merge($1) { a, _ in a } }
        }
        #expect(acknowledged.count > 100, "producers were running when the signal came")
        let log = try String(contentsOfFile: server.log, encoding: .utf8)
        #expect(log.contains("closed Brook database"), "the broker closed the file: \(log)")

        let broker = try Broker(path: db)
        for partition in 0..<2 {
            let stored = try await broker.fetch(topic: "t", partition: partition, offset: 0, maxRecords: 100_000, maxBytes: 1 << 30).records
            let byOffset = Dictionary(uniqueKeysWithValues: stored.map { ($0.offset, String(decoding: $0.value ?? [], as: UTF8.self)) })
            for (position, value) in acknowledged where position.partition == partition {
                #expect(byOffset[position.offset] == value, "acknowledged \(value) at \(partition):\(position.offset) survived")
            }
        }
        await broker.close()
    }

    @Test func groupConsumeDescribeShowsNoLagAndResetReplays() async throws {
        let dir = TemporaryDirectory("brook-cli")
        let server = try await CLI.Server(db: dir.file("brook.db"), in: dir, extra: ["--group-initial-rebalance-delay-ms", "0"])
        _ = try await CLI.run(["topics", "create", "t", "--partitions", "3", "--server", server.address], in: dir)
        // Keyed, so every partition gets records.
        try (0..<30).map { "k\($0)\tline-\($0)" }.joined(separator: "\n").appending("\n").write(toFile: dir.file("in.txt"), atomically: true, encoding: .utf8)
        _ = try await CLI.run(["produce", "t", "--parse-key", "--server", server.address], stdinFile: dir.file("in.txt"), in: dir)
        let sizes = try await CLI.run(["sql", "SELECT count(DISTINCT partition) FROM t", "--format", "csv", "--server", server.address], in: dir)
        #expect(sizes.stdout.hasSuffix("\n3\n"), "records in all three partitions")

        let consumed = try await CLI.run(
            ["consume", "t", "--group", "billing", "--from-beginning", "--max-messages", "30", "--timeout-ms", "5000", "--server", server.address], in: dir)
        #expect(consumed.status == 0, "\(consumed.stderr)")
        #expect(Set(consumed.stdout.split(separator: "\n").map(String.init)) == Set((0..<30).map { "line-\($0)" }))

        let described = try await CLI.run(["groups", "describe", "billing", "--server", server.address], in: dir)
        #expect(described.status == 0, "\(described.stderr)")
        let rows = described.stdout.split(separator: "\n").dropFirst(2).map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }
        #expect(rows.count == 3, "\(described.stdout)")
        #expect(rows.allSatisfy { $0[4] == "0" }, "LAG 0 everywhere: \(described.stdout)")
        #expect(rows.map { Int($0[2]) ?? -1 }.reduce(0, +) == 30, "committed offsets add up to every record")
        let listed = try await CLI.run(["groups", "list", "--server", server.address], in: dir)
        #expect(listed.stdout.contains("billing"))

        let reset = try await CLI.run(["groups", "reset", "billing", "--topic", "t", "--to-earliest", "--server", server.address], in: dir)
        #expect(reset.status == 0, "\(reset.stderr)")
        let replayed = try await CLI.run(
            ["consume", "t", "--group", "billing", "--max-messages", "30", "--timeout-ms", "5000", "--server", server.address], in: dir)
        #expect(replayed.stdout.split(separator: "\n").count == 30, "reset --to-earliest replays everything: \(replayed.stderr)")

        let deleted = try await CLI.run(["groups", "delete", "billing", "--server", server.address], in: dir)
        #expect(deleted.status == 0, "\(deleted.stderr)")
        let gone = try await CLI.run(["groups", "describe", "billing", "--server", server.address], in: dir)
        #expect(gone.status != 0 && gone.stderr.hasPrefix("brook: GROUP_ID_NOT_FOUND"))
        #expect(try await server.stop() == 0)
    }
}

/// Records acknowledged so far, shared by producer tasks.
private final class AcknowledgedCount: Sendable {
    let value = Atomic<Int>(0)
}

extension CLITests {
    /// `brook consume` reads every partition of a topic over one connection, many partitions per
    /// FETCH: a server that allows two connections serves a 1,100-partition topic (before, it
    /// opened one connection per partition).
    @Test func consumeReadsAWideTopicOverOneConnection() async throws {
        let server = try await TestServer.start(server: { $0.limits.maxConnections = 2 })
        let client = try await server.client()
        let partitions = 1_100
        try await client.createTopic("wide", partitions: partitions)
        try await client.produce(topic: "wide", records: (0..<partitions).map { ProducerRecord(key: nil, value: "v\($0)", partition: $0) })
        try await client.produce(topic: "wide", records: [ProducerRecord(key: nil, value: "second", partition: 1_099)])
        await client.close()
        let consumed = try await CLI.run(
            ["consume", "wide", "--from-beginning", "--max-messages", "\(partitions + 1)", "--format", "%p:%o:%v\\n", "--server", "127.0.0.1:\(server.address.port)"],
            in: server.dir)
        #expect(consumed.status == 0, "\(consumed.stderr)")
        let lines = consumed.stdout.split(separator: "\n").map(String.init)
        #expect(Set(lines) == Set((0..<partitions).map { "\($0):0:v\($0)" } + ["1099:1:second"]), "\(lines.count) lines")
        #expect(lines.count == partitions + 1)
        await server.stop()
    }
}
