import Synchronization
import BrookBroker
import BrookClient
import BrookModel
import BrookTestSupport
import Foundation
import NIOPosix
import Testing

/// A free loopback port for a server that is killed and restarted on the same address. It is
/// taken below the kernel's ephemeral range (32768–60999 by default): a port from that range
/// can be handed to any client connection of the test run while the server is down, and the
/// restart then cannot bind it.
func freePort() throws -> Int {
    for _ in 0..<200 {
        let candidate = Int.random(in: 20_000..<32_000)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(candidate).bigEndian
        let length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        if bound == 0 { return candidate }
    }
    throw BrookError(.brokerNotAvailable, "no free loopback port between 20000 and 32000")
}

/// What producers had acknowledged, by value.
actor Acknowledged {
    var positions: [String: RecordPosition] = [:]
    func add(_ value: String, _ position: RecordPosition) { positions[value] = position }

    /// Waits (up to `limit`) until at least `count` more records are acknowledged than `since`.
    func waitForProgress(_ count: Int, since: Int, limit: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + limit
        while positions.count < since + count && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}

struct CrashTests {
    @Test(arguments: [Acks.all, Acks.leader])
    func killNineNeverLosesOrDuplicatesAnAcknowledgedRecord(_ acks: Acks) async throws {
        let dir = TemporaryDirectory("brook-crash")
        let db = dir.file("brook.db")
        let port = try freePort()
        var server = try await CLI.Server(db: db, in: dir, port: port)
        let address = ServerAddress(host: "127.0.0.1", port: port)
        let admin = try await BrookClient.connect(to: address)
        try await admin.createTopic("t", partitions: 3)
        await admin.close()

        let acknowledged = Acknowledged()
        let producers = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<4 {
                    group.addTask {
                        var configuration = ProducerConfiguration()
                        configuration.acks = acks
                        configuration.lingerMs = 0
                        let producer = try await Producer(client: try await BrookClient.connect(to: address), topic: "t", configuration: configuration)
                        var sequence = 0
                        while !Task.isCancelled {
                            let value = "p\(index)-\(sequence)"
                            guard let position = try? await producer.send(ProducerRecord(key: "p\(index)", value: value)) else { continue }
                            await acknowledged.add(value, position)
                            sequence += 1
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        var logs: [String] = []
        for _ in 0..<4 {
            // Each incarnation acknowledges some records (however loaded the machine), then dies at
            // a random moment.
            try await acknowledged.waitForProgress(50, since: await acknowledged.positions.count)
            try await Task.sleep(for: .milliseconds(Int.random(in: 0...300)))
            _ = try await server.stop(signal: SIGKILL)
            logs.append(server.log)
            server = try await CLI.Server(db: db, in: dir, port: port)
        }
        try await acknowledged.waitForProgress(50, since: await acknowledged.positions.count)
        producers.cancel()
        _ = await producers.result
        #expect(try await server.stop(signal: SIGTERM) == 0)

        let acked = await acknowledged.positions
        #expect(acked.count >= 250, "producers made progress across the kills (\(acked.count) acknowledged)")
        // At least one restart found committed transactions in the WAL and said so.
        let restartLogs = try logs.dropFirst().map { try String(contentsOfFile: $0, encoding: .utf8) } + [try String(contentsOfFile: server.log, encoding: .utf8)]
        #expect(restartLogs.contains { $0.contains("recovered_wal_frames=") }, "recovery is logged")

        let broker = try Broker(path: db)
        var seen: [String: RecordPosition] = [:]
        var duplicates: [String] = []
        for partition in 0..<3 {
            let records = try await broker.fetch(topic: "t", partition: partition, offset: 0, maxRecords: 100_000, maxBytes: 1 << 30).records
            var lastOfProducer: [Substring: Int] = [:]
            for record in records {
                let value = String(decoding: record.value ?? [], as: UTF8.self)
                if seen[value] != nil { duplicates.append(value) }
                seen[value] = RecordPosition(partition: partition, offset: record.offset)
                let parts = value.split(separator: "-")
                let number = Int(parts[1])!
                #expect(number > lastOfProducer[parts[0], default: -1], "order per producer held in partition \(partition)")
                lastOfProducer[parts[0]] = number
            }
        }
        #expect(duplicates.isEmpty, "no record written twice: \(duplicates.prefix(5))")
        for (value, position) in acked {
            #expect(seen[value] == position, "acknowledged \(value) at \(position) is there")
        }
        await broker.close()
    }
}

/// Deliveries and acknowledged commits of a group, in the order they happened.
actor GroupLedger {
    var delivered: [TopicPartition: [(at: ContinuousClock.Instant, offset: Int64)]] = [:]
    var commits: [TopicPartition: [(at: ContinuousClock.Instant, offset: Int64)]] = [:]
    var sampledBackwards: [String] = []
    var lastSample: [TopicPartition: Int64] = [:]

    func deliver(_ records: [ConsumedRecord]) {
        for item in records { delivered[item.partition, default: []].append((.now, item.record.offset)) }
    }

    func committed(_ positions: [TopicPartition: Int64], at time: ContinuousClock.Instant) {
        for (partition, offset) in positions { commits[partition, default: []].append((time, offset)) }
    }

    func sample(_ offsets: [(TopicPartition, Int64, metadata: String)]) {
        for (partition, offset, _) in offsets {
            if let last = lastSample[partition], offset < last { sampledBackwards.append("\(partition): \(last) -> \(offset)") }
            lastSample[partition] = offset
        }
    }

    var uniqueDelivered: Int { delivered.values.reduce(0) { $0 + Set($1.map(\.offset)).count } }
}

extension CrashTests {
    @Test func killNineNeverMovesACommittedOffsetBackOrRedeliversBelowIt() async throws {
        let dir = TemporaryDirectory("brook-crash-group")
        let db = dir.file("brook.db")
        let port = try freePort()
        var server = try await CLI.Server(db: db, in: dir, port: port, extra: ["--group-initial-rebalance-delay-ms", "0"])
        let address = ServerAddress(host: "127.0.0.1", port: port)
        let admin = try await BrookClient.connect(to: address)
        try await admin.createTopic("t", partitions: 3)
        for partition in 0..<3 {
            try await admin.produce(topic: "t", records: (0..<600).map { ProducerRecord(key: nil, value: "\(partition)-\($0)", partition: partition) }, acks: .all)
        }
        await admin.close()

        let ledger = GroupLedger()
        let consumers = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<2 {
                    group.addTask {
                        var configuration = ConsumerConfiguration(group: "g", topics: ["t"])
                        configuration.enableAutoCommit = false
                        configuration.autoOffsetReset = .earliest
                        configuration.maxPollRecords = 10
                        configuration.heartbeatIntervalMs = 100
                        configuration.pollWaitMs = 50
                        configuration.sessionTimeoutMs = 5_000
                        let consumer = GroupConsumer(client: try await BrookClient.connect(to: address), configuration: configuration)
                        while !Task.isCancelled {
                            guard let batch = try? await consumer.poll(), !batch.isEmpty else { continue }
                            await ledger.deliver(batch)
                            try? await Task.sleep(for: .milliseconds(25))  // processing
                            var positions: [TopicPartition: Int64] = [:]
                            for item in batch { positions[item.partition] = item.record.offset + 1 }
                            if (try? await consumer.commitSync()) != nil { await ledger.committed(positions, at: .now) }
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        let sampler = Task {
            var client: BrookClient?
            while !Task.isCancelled {
                do {
                    if client == nil { client = try await BrookClient.connect(to: address) }
                    await ledger.sample(try await client!.committedOffsets(group: "g"))
                } catch {
                    client = nil
                }
                try? await Task.sleep(for: .milliseconds(30))
            }
        }
        var kills: [ContinuousClock.Instant] = []
        for _ in 0..<3 {
            // Each incarnation serves some consumption before it dies (waiting on progress, not a
            // fixed time, keeps the test meaningful on a loaded machine).
            let before = await ledger.uniqueDelivered
            let progress = ContinuousClock.now + .seconds(20)
            while await ledger.uniqueDelivered < before + 20, ContinuousClock.now < progress { try await Task.sleep(for: .milliseconds(20)) }
            try await Task.sleep(for: .milliseconds(Int.random(in: 100...400)))
            kills.append(.now)
            _ = try await server.stop(signal: SIGKILL)
            server = try await CLI.Server(db: db, in: dir, port: port, extra: ["--group-initial-rebalance-delay-ms", "0"])
        }
        let lastRestart = ContinuousClock.now
        let deadline = ContinuousClock.now + .seconds(60)
        while await ledger.uniqueDelivered < 1_800, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
        consumers.cancel()
        sampler.cancel()
        // Bounded, so that a consumer that ignores its cancellation fails this test instead of
        // hanging the suite.
        let stopped = await finishes(within: .seconds(30)) {
            _ = await consumers.result
            _ = await sampler.result
        }
        #expect(stopped, "the consumers and the sampler stopped within 30 s of their cancellation")
        #expect(try await server.stop(signal: SIGTERM) == 0)

        #expect(await ledger.uniqueDelivered == 1_800, "every record was consumed")
        let backwards = await ledger.sampledBackwards
        #expect(backwards.isEmpty, "a committed offset moved backwards: \(backwards)")
        let delivered = await ledger.delivered
        let commits = await ledger.commits
        let times = delivered.values.flatMap { $0.map(\.at) }
        #expect(times.contains { $0 < kills[0] } && times.contains { $0 > lastRestart }, "consumption spanned the kills")
        var redelivered: [String] = []
        for (partition, deliveries) in delivered {
            for delivery in deliveries {
                // A commit acknowledged before this delivery, past its offset, would mean the group
                // went back behind what it had committed.
                if let commit = commits[partition]?.first(where: { $0.at < delivery.at && $0.offset > delivery.offset }) {
                    redelivered.append("\(partition) offset \(delivery.offset) after commit \(commit.offset)")
                }
            }
        }
        #expect(redelivered.isEmpty, "redelivered below a committed offset: \(redelivered.prefix(5))")
        let commitCount = commits.values.reduce(0) { $0 + $1.count }
        #expect(commitCount > 10, "commits happened across the kills")
    }
}

struct BackupEndToEndTests {
    @Test func backupWhileProducingServesEveryRecordUpToItWithConsistentOffsets() async throws {
        let dir = TemporaryDirectory("brook-backup")
        let server = try await CLI.Server(db: dir.file("brook.db"), in: dir, extra: ["--group-initial-rebalance-delay-ms", "0"])
        let address = ServerAddress(host: "127.0.0.1", port: server.port)
        let admin = try await BrookClient.connect(to: address)
        try await admin.createTopic("t", partitions: 2)
        let writers = Task {
            let producer = try await Producer(client: try await BrookClient.connect(to: address), topic: "t")
            var sequence = 0
            while !Task.isCancelled {
                await producer.sendAsync(ProducerRecord(key: "k\(sequence % 7)", value: "v\(sequence)"))
                sequence += 1
                if sequence % 100 == 0 { try await Task.sleep(for: .milliseconds(5)) }
            }
        }
        let committer = Task {
            var configuration = ConsumerConfiguration(group: "g", topics: ["t"])
            configuration.enableAutoCommit = false
            configuration.autoOffsetReset = .earliest
            let consumer = GroupConsumer(client: try await BrookClient.connect(to: address), configuration: configuration)
            while !Task.isCancelled {
                _ = try await consumer.poll()
                try await consumer.commitSync()
            }
        }
        // Back up once there is a backlog, while the producer and the group keep going.
        #expect(try await eventually(30) { try await admin.describeTopic("t").partitions.reduce(0) { $0 + $1.recordCount } >= 500 })
        // … and the group has committed (under a loaded test run it may join after the backlog).
        #expect(try await eventually(30) { !(try await admin.committedOffsets(group: "g")).isEmpty })
        let backup = try await CLI.run(["backup", dir.file("copy.db"), "--server", server.address], in: dir)
        #expect(backup.status == 0 && backup.stdout.contains("integrity ok"), "\(backup.stderr)")
        // The producer goes on past the backup point (however slowly a loaded machine runs it).
        let afterBackup = try await admin.describeTopic("t").partitions.reduce(0) { $0 + $1.recordCount }
        #expect(try await eventually(30) { try await admin.describeTopic("t").partitions.reduce(0) { $0 + $1.recordCount } > afterBackup })
        writers.cancel()
        committer.cancel()
        _ = await writers.result
        _ = await committer.result
        let original = try await admin.describeTopic("t")
        await admin.close()
        #expect(try await server.stop() == 0)

        // Serve the copy and compare it with the original file.
        let restored = try await CLI.Server(db: dir.file("copy.db"), in: dir)
        let client = try await BrookClient.connect(to: ServerAddress(host: "127.0.0.1", port: restored.port))
        let copy = try await client.describeTopic("t")
        let originalBroker = try Broker(path: dir.file("brook.db"))
        var copied = 0
        for partition in copy.partitions {
            #expect(partition.nextOffset <= original.partitions[partition.index].nextOffset)
            let records = try await client.fetch(topic: "t", partition: partition.index, offset: 0, maxRecords: 100_000, maxBytes: 1 << 30).records
            let source = try await originalBroker.fetch(topic: "t", partition: partition.index, offset: 0, maxRecords: records.count == 0 ? 1 : records.count, maxBytes: 1 << 30).records
            #expect(records.count == Int(partition.nextOffset), "every record up to the backup point is there")
            #expect(records.map(\.value) == Array(source.prefix(records.count)).map(\.value), "the copy is a prefix of the log")
            copied += records.count
        }
        #expect(copied >= 500, "the backup holds the backlog (\(copied) records)")
        #expect(original.partitions.reduce(0) { $0 + $1.recordCount } > Int64(copied), "and the producer kept writing after it")
        let committed = try await client.committedOffsets(group: "g")
        #expect(!committed.isEmpty, "the group's committed offsets are in the copy")
        for (partition, offset, _) in committed {
            #expect(offset <= copy.partitions[partition.partition].nextOffset, "committed offsets never point past the copied log")
        }
        await originalBroker.close()
        await client.close()
        #expect(try await restored.stop() == 0)
    }
}

extension BackupEndToEndTests {
    /// A server killed while it streams a BACKUP leaves its temporary copy beside the database
    /// (as large as the database); the next start on that database removes it.
    @Test func aBackupCopyLeftByAKilledServerIsRemovedAtTheNextStart() async throws {
        let dir = TemporaryDirectory("brook-backup-kill")
        let db = dir.file("brook.db")
        let server = try await CLI.Server(db: db, in: dir)
        let client = try await BrookClient.connect(to: ServerAddress(host: "127.0.0.1", port: server.port))
        try await client.createTopic("t")
        // 12 MiB: far more than socket buffers hold, so the stream waits on a client that stops reading.
        let value = [UInt8](repeating: 7, count: 10_240)
        for _ in 0..<12 {
            try await client.produce(topic: "t", records: (0..<100).map { _ in ProducerRecord(key: nil, value: value) })
        }
        await client.close()
        let raw = try await RawConnection(port: server.port, receiveBuffer: 65_536)
        _ = try await raw.line()
        try await raw.send("BACKUP\r\n")
        let head = try #require(try await raw.line())
        #expect(head.hasPrefix("OK integrity=ok stream="), "\(head)")
        let leftovers = { ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).filter { $0.contains("brook-backup") } }
        try #require(leftovers().count == 1, "the copy exists while it is streamed: \(leftovers())")
        #expect(try await server.stop(signal: SIGKILL) == SIGKILL)
        try #require(leftovers().count == 1, "a killed server leaves its copy")

        let restarted = try await CLI.Server(db: db, in: dir)
        #expect(leftovers().isEmpty, "the next start removed \(leftovers())")
        let log = try String(contentsOfFile: restarted.log, encoding: .utf8)
        #expect(log.contains("removed a backup copy left by a server stopped mid-backup"), "\(log)")
        #expect(try await restarted.stop() == 0)
        withExtendedLifetime(raw) {}
    }
}
