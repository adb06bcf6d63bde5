import ArgumentParser
import BrookClient
import BrookCommandLine
import BrookModel
import BrookWire
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `brook soak`: the fault-injecting soak behind bench/soak.sh.
public struct Soak: AsyncParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        abstract: "A soak under faults: producers, a consumer group and admin operations against a server it starts and kills.",
        discussion: """
            `brook soak run` starts `brook serve` on a loopback port, then for the given time runs \
            idempotent acks=all producers, a consumer group of separate processes that write what \
            they consume to ledgers, and periodic admin operations, while it SIGKILLs and restarts \
            the server, SIGKILLs consumers, opens connections that vanish mid-frame and keeps a \
            consumer that never reads its socket. At the end it checks the log and the ledgers and \
            prints the counts; it exits non-zero when a check fails.
            """,
        subcommands: [SoakRun.self, SoakConsumer.self])
}

/// What the soak saw, shared by its tasks.
actor SoakLedger {
    var acked: [String: RecordPosition] = [:]
    var failedAttempts: Set<String> = []
    var brokerKills: [UInt64] = []
    var consumerKills: [Int: UInt64] = [:]
    var counts: [String: Int] = [:]
    var incarnations: [(rss: Int, fds: Int)] = []

    func ack(_ value: String, _ position: RecordPosition) { acked[value] = position }
    func failed(_ value: String) { failedAttempts.insert(value) }
    func count(_ name: String, _ amount: Int = 1) { counts[name, default: 0] += amount }
    /// `at`: taken just before the signal is sent, since what the death sets off (a rebalance,
    /// reconnects) can happen before the soak sees the process gone.
    func brokerKilled(at: UInt64) {
        brokerKills.append(at)
        incarnations.append((0, 0))
    }
    func consumerKilled(_ index: Int, at: UInt64) { consumerKills[index] = at }
    func sample(rss: Int, fds: Int) {
        if incarnations.isEmpty { incarnations.append((0, 0)) }
        incarnations[incarnations.count - 1].rss = max(incarnations[incarnations.count - 1].rss, rss)
        incarnations[incarnations.count - 1].fds = max(incarnations[incarnations.count - 1].fds, fds)
    }
}

struct SoakRun: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Run the soak and check it.")

    @Option(help: "How long to run, in minutes.")
    var minutes = 10.0
    @Option(help: "The directory for the database, logs and ledgers (default: a new one in /tmp).")
    var dir: String?
    @Option(help: "Idempotent acks=all producers, each sending one record at a time.")
    var producers = 4
    @Option(help: "Consumer processes in the group.")
    var consumers = 3
    @Option(help: "Partitions of the soak topic.")
    var partitions = 6
    @Option(help: "Mean seconds between SIGKILLs of the server.")
    var brokerKillEvery = 60.0
    @Option(help: "Mean seconds between SIGKILLs of a random consumer.")
    var consumerKillEvery = 20.0
    @Option(help: "Largest resident memory of the server, in MB, that passes.")
    var maxRssMb = 512
    @Option(help: "Most open descriptors of the server that pass.")
    var maxFds = 1_024

    func run() async throws {
        try await reportingErrors { try await soak() }
    }

    private func soak() async throws {
        let dir = self.dir ?? NSTemporaryDirectory() + "brook-soak-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let port = RawSocket.freePort()
        let address = ServerAddress(host: "127.0.0.1", port: port)
        let ledger = SoakLedger()
        let deadline = ContinuousClock.now + .milliseconds(Int64(minutes * 60_000))
        let stopping = StopFlag()
        Output.error("soak: \(minutes) min in \(dir), server on port \(port)")

        let cluster = SoakCluster(executable: executable, dir: dir, port: port)
        try await cluster.startBroker()
        let admin = try await BrookClient.connect(to: address)
        if (try? await admin.describeTopic("soak")) == nil {
            _ = try await admin.createTopic("soak", partitions: partitions)
        }
        await admin.close()

        for _ in 0..<consumers { try cluster.startConsumer() }

        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<producers {
                group.addTask { await Self.produce(index: index, address: address, ledger: ledger, stopping: stopping) }
            }
            group.addTask { await Self.admin(address: address, ledger: ledger, stopping: stopping) }
            group.addTask { await Self.vanish(port: port, ledger: ledger, stopping: stopping) }
            group.addTask { await Self.neverRead(port: port, ledger: ledger, stopping: stopping) }
            group.addTask {
                // Samples the server's memory and descriptors once a second.
                while !stopping.isRaised {
                    if let usage = cluster.broker?.usage() { await ledger.sample(rss: usage.rss, fds: usage.fds) }
                    try? await Task.sleep(for: .seconds(1))
                }
            }
            group.addTask {
                // Kills a random consumer now and then and starts a new one in its place.
                while !stopping.isRaised {
                    try? await Task.sleep(for: .milliseconds(Int64(Double.random(in: 0.5...1.5) * consumerKillEvery * 1_000)))
                    if stopping.isRaised { break }
                    guard let (index, victim) = cluster.liveMembers.randomElement() else { continue }
                    let at = wallNanos()
                    await victim.stop(SIGKILL)
                    await ledger.consumerKilled(index, at: at)
                    try? cluster.startConsumer()
                }
            }
            var lastReport = ContinuousClock.now
            // The main loop kills and restarts the server.
            var nextKill = ContinuousClock.now + .milliseconds(Int64(Double.random(in: 0.5...1.5) * brokerKillEvery * 1_000))
            while ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
                if ContinuousClock.now >= nextKill {
                    let at = wallNanos()
                    await cluster.broker?.stop(SIGKILL)
                    await ledger.brokerKilled(at: at)
                    try await Task.sleep(for: .milliseconds(Int.random(in: 0...500)))
                    try await cluster.startBroker()
                    nextKill = ContinuousClock.now + .milliseconds(Int64(Double.random(in: 0.5...1.5) * brokerKillEvery * 1_000))
                }
                if ContinuousClock.now - lastReport >= .seconds(10) {
                    lastReport = .now
                    let acked = await ledger.acked.count
                    let kills = await ledger.brokerKills.count
                    let consumerKills = await ledger.consumerKills.count
                    Output.error("soak: \(acked) acknowledged, \(kills) server kills, \(consumerKills) consumer kills")
                }
            }
            stopping.raise()
            try await group.waitForAll()
        }

        // Let the group drain everything, then stop it.
        Output.error("soak: draining the group")
        let client = try await BrookClient.connect(to: address)
        let drained = try await Self.waitForDrain(client, partitions: partitions)
        for (_, child) in cluster.liveMembers { await child.stop(SIGTERM) }
        var report = try await Self.check(
            client: client, dir: dir, partitions: partitions, ledger: ledger, drained: drained,
            maxRss: maxRssMb * 1_048_576, maxFds: maxFds)
        await client.close()
        let exited = await cluster.broker?.stop(SIGTERM) ?? false
        report.check(exited, "the server shut down on SIGTERM within 30 s")
        if !exited { await cluster.broker?.stop(SIGKILL) }
        print(report.text)
        if !report.passed { throw ExitCode.failure }
    }

    // MARK: Load

    private static func produce(index: Int, address: ServerAddress, ledger: SoakLedger, stopping: StopFlag) async {
        var configuration = ProducerConfiguration()
        configuration.acks = .all
        configuration.lingerMs = 0
        configuration.deliveryTimeoutMs = 30_000
        var producer: Producer?
        var sequence = 0
        while !stopping.isRaised {
            if producer == nil {
                guard let client = try? await BrookClient.connect(to: address),
                    let made = try? await Producer(client: client, topic: "soak", configuration: configuration)
                else {
                    try? await Task.sleep(for: .milliseconds(100))
                    continue
                }
                producer = made
            }
            let value = "p\(index)-\(sequence)"
            do {
                let position = try await producer!.send(ProducerRecord(key: "k\(index)-\(sequence % 64)", value: value))
                await ledger.ack(value, position)
                sequence += 1
            } catch {
                // Sent again (the same value) by a new producer, as an application would.
                await ledger.failed(value)
                await ledger.count("producer errors")
                producer = nil
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    private static func admin(address: ServerAddress, ledger: SoakLedger, stopping: StopFlag) async {
        var round = 0
        while !stopping.isRaised {
            try? await Task.sleep(for: .seconds(2))
            round += 1
            do {
                let client = try await BrookClient.connect(to: address)
                defer { Task { await client.close() } }
                let name = "soak-admin-\(round)"
                _ = try await client.createTopic(name, partitions: 2)
                _ = try await client.produce(topic: name, records: (0..<10).map { ProducerRecord(key: nil, value: "\($0)") })
                _ = try await client.query("SELECT partition, count(*) FROM soak GROUP BY partition")
                _ = try await client.describeGroup("soak")
                _ = try await client.listTopics()
                try await client.deleteTopic(name)
                await ledger.count("admin rounds ok")
            } catch {
                await ledger.count("admin rounds failed (server down)")
            }
        }
    }

    /// Clients that connect, send part of a frame, and vanish (half of them with a reset).
    private static func vanish(port: Int, ledger: SoakLedger, stopping: StopFlag) async {
        let partials: [[UInt8]] = [
            Array("PRODUCE soak value=100\r\nonly part of the value".utf8),
            Array("PRODUCE soak acks=all key=3 value=5\r\nab".utf8),
            Array("FETCH soak 0 0 max_wait_ms=1000".utf8),
            Array("SQL bytes=50\r\nSELECT count(*) FR".utf8),
            Array("JOIN soak member=".utf8),
            [0, 255, 13, 10, 80, 82],
        ]
        while !stopping.isRaised {
            try? await Task.sleep(for: .milliseconds(200))
            guard let fd = RawSocket.connect(port: port) else { continue }
            RawSocket.send(fd, partials.randomElement()!)
            if Bool.random() { RawSocket.reset(fd) } else { close(fd) }
            await ledger.count("vanished clients")
        }
    }

    /// A consumer that asks for much more than its socket takes and never reads: the server must
    /// stop reading it rather than buffer its replies.
    private static func neverRead(port: Int, ledger: SoakLedger, stopping: StopFlag) async {
        let requests = Array(String(repeating: "FETCH soak 0 0 max_records=10000 max_bytes=4194304\r\n", count: 200).utf8)
        var fd: Int32?
        while !stopping.isRaised {
            if fd == nil, let opened = RawSocket.connect(port: port, receiveBuffer: 4_096) {
                // Non-blocking sends (MSG_DONTWAIT): once the server stops reading, the rest is dropped.
                RawSocket.send(opened, requests, flags: Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
                fd = opened
                await ledger.count("never-reading connections")
            }
            try? await Task.sleep(for: .seconds(1))
            // A server restart closes it; open another.
            if let open = fd, !RawSocket.send(open, Array("PING\r\n".utf8), flags: Int32(MSG_NOSIGNAL | MSG_DONTWAIT)), errno != EAGAIN {
                close(open)
                fd = nil
            }
        }
        if let fd { close(fd) }
    }

    /// Waits until the group's committed offsets reach every partition's end.
    private static func waitForDrain(_ client: BrookClient, partitions: Int) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(180)
        while ContinuousClock.now < deadline {
            let ends = try await client.describeTopic("soak").partitions.map(\.nextOffset)
            let committed = (try? await client.committedOffsets(group: "soak", topic: "soak")) ?? []
            var at = [Int64](repeating: -1, count: partitions)
            for (partition, offset, _) in committed where partition.partition < partitions { at[partition.partition] = offset }
            if at == ends { return true }
            try await Task.sleep(for: .milliseconds(500))
        }
        return false
    }
}

/// The soak's child processes: the server and the group's members.
final class SoakCluster: Sendable {
    let executable: String
    let dir: String
    let port: Int
    private let server = Mutex<SoakChild?>(nil)
    private let members = Mutex<[Int: SoakChild]>([:])
    private let nextMember = Atomic<Int>(0)

    init(executable: String, dir: String, port: Int) {
        self.executable = executable
        self.dir = dir
        self.port = port
    }

    var broker: SoakChild? { server.withLock { $0 } }
    var liveMembers: [(Int, SoakChild)] { members.withLock { $0.filter { $0.value.isRunning }.map { ($0.key, $0.value) } } }

    /// Starts `brook serve` on the soak's database and waits until it listens.
    func startBroker() async throws {
        let child = try SoakChild(
            name: "broker", executable: executable,
            arguments: ["serve", "--db", dir + "/soak.db", "--port", "\(port)", "--no-kafka", "--http-port", "0", "--log-level", "notice"],
            log: dir + "/broker.log")
        server.withLock { $0 = child }
        for _ in 0..<3_000 {
            if let fd = RawSocket.connect(port: port) {
                close(fd)
                return
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw BrookError(.brokerNotAvailable, "the server did not listen on port \(port) within 30 s (see \(dir)/broker.log)")
    }

    /// Starts one more group member, with a ledger of its own.
    func startConsumer() throws {
        let index = nextMember.add(1, ordering: .relaxed).newValue
        let child = try SoakChild(
            name: "consumer-\(index)", executable: executable,
            arguments: ["soak", "consumer", "--server", "127.0.0.1:\(port)", "--ledger", "\(dir)/consumer-\(index).ledger"],
            log: "\(dir)/consumer-\(index).log")
        members.withLock { $0[index] = child }
    }
}

/// A flag raised once, read by many.
final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)
    var isRaised: Bool { value.load(ordering: .relaxed) }
    func raise() { value.store(true, ordering: .relaxed) }
}
