import ArgumentParser
import BrookClient
import BrookCommandLine
import BrookModel
import BrookStore
import BrookWire
import Foundation
import Histogram
import NIOCore
import Synchronization

/// `brook bench`: the load generator and measurements behind bench/compare.sh.
public struct Bench: AsyncParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        abstract: "Measure throughput and latency (HdrHistogram percentiles).",
        discussion: "Each run prints a report and one RESULT line that bench/compare.sh reads.",
        subcommands: [ProduceBench.self, ConsumeBench.self, EndToEndBench.self, GroupBench.self, CeilingBench.self, PartitionsBench.self, NatsBench.self])
}

/// Latencies in microseconds, with the percentiles a report needs.
struct Latencies: Sendable {
    var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)

    mutating func record(_ duration: Duration) {
        let micros = duration.components.seconds * 1_000_000 + duration.components.attoseconds / 1_000_000_000_000
        // A wait past the histogram's range counts as its top value instead of being dropped.
        _ = histogram.record(min(UInt64(max(0, micros)), histogram.highestTrackableValue))
    }

    mutating func merge(_ other: Latencies) {
        histogram.add(other.histogram)
    }

    /// Drains `target` records from sources holding `available` each (partitions, streams), the
    /// first ones first, one reader per source at the same time, and adds up what they read.
    static func ofDrain(
        target: Int, available: [Int], _ read: @escaping @Sendable (_ index: Int, _ want: Int) async throws -> (records: Int, bytes: Int, latencies: Latencies)
    ) async throws -> (records: Int, bytes: Int, latencies: Latencies) {
        try await withThrowingTaskGroup(of: (records: Int, bytes: Int, latencies: Latencies).self) { group in
            var remaining = target
            for (index, count) in available.enumerated() where remaining > 0 && count > 0 {
                let want = min(remaining, count)
                remaining -= want
                group.addTask { try await read(index, want) }
            }
            var total = (records: 0, bytes: 0, latencies: Latencies())
            for try await part in group {
                total.records += part.records
                total.bytes += part.bytes
                total.latencies.merge(part.latencies)
            }
            return total
        }
    }

    /// Runs one load per connection, each with its share of `messages` (the first ones take the
    /// remainder), at the same time, and merges their latencies.
    static func ofShares(
        of messages: Int, connections: Int, _ load: @escaping @Sendable (_ index: Int, _ share: Int) async throws -> Latencies
    ) async throws -> Latencies {
        try await withThrowingTaskGroup(of: Latencies.self) { group in
            for index in 0..<connections {
                let share = messages / connections + (index < messages % connections ? 1 : 0)
                group.addTask { try await load(index, share) }
            }
            var all = Latencies()
            for try await part in group { all.merge(part) }
            return all
        }
    }

    func ms(_ percentile: Double) -> Double { Double(histogram.valueAtPercentile(percentile)) / 1_000 }
    var maxMs: Double { Double(histogram.max) / 1_000 }

    var summary: String {
        String(format: "p50 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  max %.3f ms", ms(50), ms(99), ms(99.9), maxMs)
    }

    var fields: String {
        String(format: "p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f", ms(50), ms(99), ms(99.9), maxMs)
    }
}

/// A counter shared by the load tasks, printed to stderr once a second.
final class Progress: Sendable {
    private let done = Atomic<Int>(0)
    private let task: Mutex<Task<Void, Never>?> = Mutex(nil)

    init(label: String, total: Int) {
        let started = ContinuousClock.now
        let counter = self
        task.withLock {
            $0 = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(1))
                    let count = counter.done.load(ordering: .relaxed)
                    let seconds = Double((ContinuousClock.now - started).components.seconds) + 1e-9
                    Output.error(String(format: "%@: %d/%d (%.0f/s)", label, count, total, Double(count) / max(seconds, 1)))
                }
            }
        }
    }

    func add(_ count: Int) { done.add(count, ordering: .relaxed) }
    var count: Int { done.load(ordering: .relaxed) }
    func stop() { task.withLock { $0?.cancel() } }
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func report(_ name: String, messages: Int, size: Int, elapsed: Duration, latencies: Latencies?, extra: String = "") {
    let rate = Double(messages) / seconds(elapsed)
    let megabytes = rate * Double(size) / 1_048_576
    Output.line(String(format: "%@: %d messages in %.2f s: %.0f msgs/s, %.1f MB/s", name, messages, seconds(elapsed), rate, megabytes))
    if let latencies { Output.line("  latency per request: \(latencies.summary)") }
    Output.line(String(format: "RESULT bench=%@ messages=%d seconds=%.3f msgs_per_s=%.0f mb_per_s=%.2f", name, messages, seconds(elapsed), rate, megabytes)
        + (latencies.map { " " + $0.fields } ?? "") + (extra.isEmpty ? "" : " " + extra))
}

struct ProduceBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "produce", abstract: "Produce N records as fast as the server takes them.")
    @OptionGroup var server: ServerOptions
    @Option var topic = "bench"
    @Option var messages = 1_000_000
    @Option(help: "Value bytes per record.") var size = 100
    @Option(help: "Records per PRODUCE request.") var batch = 100
    @Option var connections = 4
    @Option(help: "Requests in flight per connection.") var window = 8
    @Option var acks = "1"
    @Option(help: "Partitions of the topic, if it is created.") var partitions = 4

    func run() async throws {
        try await reportingErrors {
            guard let acks = Acks(rawValue: acks) else { throw BrookError(.invalidRequest, "--acks must be 0, 1 or all") }
            let address = try server.address()
            let admin = try await BrookClient.connect(to: address)
            if (try? await admin.describeTopic(topic)) == nil { try await admin.createTopic(topic, partitions: partitions) }
            let partitionCount = try await admin.describeTopic(topic).partitionCount
            await admin.close()
            let value = [UInt8](repeating: UInt8(ascii: "x"), count: size)
            let progress = Progress(label: "produce", total: messages)
            let started = ContinuousClock.now
            let latencies = try await Latencies.ofShares(of: messages, connections: connections) { index, share in
                let client = try await BrookClient.connect(to: address)
                let load = ProduceLoad(
                    client: client, topic: topic, acks: acks, value: value, batch: batch, window: window, share: share,
                    partition: index % partitionCount, partitionStep: connections, partitionCount: partitionCount, progress: progress)
                let latencies = try await load.run()
                await client.close()
                return latencies
            }
            progress.stop()
            report("produce", messages: messages, size: size, elapsed: ContinuousClock.now - started, latencies: acks == .noAck ? nil : latencies,
                   extra: "batch=\(batch) connections=\(connections) acks=\(acks.rawValue) size=\(size)")
        }
    }
}

/// One connection's share of `bench produce`: up to `window` requests in flight, each next one
/// sent from the previous reply's callback on the client's event loop — as a Kafka producer's
/// send callback — so the load generator spends little of the CPU it shares with the server.
final class ProduceLoad: Sendable {
    private struct State {
        var sent = 0
        var inFlight = 0
        var partition: Int
        var latencies = Latencies()
        var finished: CheckedContinuation<Latencies, Error>?
    }

    private let client: BrookClient
    private let topic: String
    private let acks: Acks
    private let value: [UInt8]
    private let batch: Int
    private let window: Int
    private let share: Int
    private let partitionStep: Int
    private let partitionCount: Int
    private let progress: Progress
    private let state: Mutex<State>

    init(
        client: BrookClient, topic: String, acks: Acks, value: [UInt8], batch: Int, window: Int, share: Int,
        partition: Int, partitionStep: Int, partitionCount: Int, progress: Progress
    ) {
        self.client = client
        self.topic = topic
        self.acks = acks
        self.value = value
        self.batch = batch
        self.window = window
        self.share = share
        self.partitionStep = partitionStep
        self.partitionCount = partitionCount
        self.progress = progress
        state = Mutex(State(partition: partition))
    }

    func run() async throws -> Latencies {
        try await withCheckedThrowingContinuation { continuation in
            state.withLock { $0.finished = continuation }
            fill()
        }
    }

    /// Sends until the window is full or the share is sent; finishes when all are answered.
    private func fill() {
        while true {
            let next = state.withLock { state -> (count: Int, partition: Int)? in
                guard state.sent < share, state.inFlight < window else { return nil }
                let count = min(batch, share - state.sent)
                defer { state.partition = (state.partition + partitionStep) % partitionCount }
                state.sent += count
                state.inFlight += 1
                return (count, state.partition)
            }
            guard let next else { break }
            let records = [ProducerRecord](repeating: ProducerRecord(key: nil, value: value, partition: next.partition), count: next.count)
            let sentAt = ContinuousClock.now
            client.submitProduce(topic: topic, records: records, acks: acks).whenComplete { [self] result in
                answered(count: next.count, sentAt: sentAt, result.map { _ in () })
            }
        }
        finishIfDone(nil)
    }

    private func answered(count: Int, sentAt: ContinuousClock.Instant, _ result: Result<Void, Error>) {
        if case .failure(let error) = result { return finishIfDone(error) }
        let elapsed = ContinuousClock.now - sentAt
        state.withLock { state in
            state.inFlight -= 1
            state.latencies.record(elapsed)
        }
        progress.add(count)
        fill()
    }

    private func finishIfDone(_ error: Error?) {
        let done = state.withLock { state -> (CheckedContinuation<Latencies, Error>, Latencies)? in
            guard error != nil || (state.sent == share && state.inFlight == 0), let finished = state.finished else { return nil }
            state.finished = nil
            return (finished, state.latencies)
        }
        guard let (continuation, latencies) = done else { return }
        if let error { continuation.resume(throwing: error) } else { continuation.resume(returning: latencies) }
    }
}

struct ConsumeBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "consume", abstract: "Read a backlog from offset 0 in fetches of B records.")
    @OptionGroup var server: ServerOptions
    @Option var topic = "bench"
    @Option var messages = 1_000_000
    @Option(help: "Records per FETCH.") var batch = 1_000

    func run() async throws {
        try await reportingErrors {
            let address = try server.address()
            let admin = try await BrookClient.connect(to: address)
            let description = try await admin.describeTopic(topic)
            await admin.close()
            let available = description.partitions.reduce(0) { $0 + Int($1.recordCount) }
            let target = min(messages, available)
            guard target > 0 else { throw BrookError(.invalidRequest, "topic '\(topic)' has no records; run bench produce first") }
            let progress = Progress(label: "consume", total: target)
            let started = ContinuousClock.now
            let partitions = description.partitions
            let (count, bytes, latencies) = try await Latencies.ofDrain(target: target, available: partitions.map { Int($0.recordCount) }) { index, want in
                let partition = partitions[index]
                let client = try await BrookClient.connect(to: address)
                var latencies = Latencies()
                var offset = partition.logStartOffset
                var read = 0
                var bytes = 0
                while read < want {
                    let sentAt = ContinuousClock.now
                    let fetched = try await client.fetch(topic: topic, partition: partition.index, offset: offset, maxRecords: min(batch, want - read), maxBytes: 64 * 1_048_576)
                    latencies.record(ContinuousClock.now - sentAt)
                    offset = fetched.nextOffset(after: offset)
                    read += fetched.records.count
                    bytes += fetched.records.reduce(0) { $0 + ($1.value?.count ?? 0) }
                    progress.add(fetched.records.count)
                }
                await client.close()
                return (read, bytes, latencies)
            }
            progress.stop()
            report("consume", messages: count, size: count == 0 ? 0 : bytes / count, elapsed: ContinuousClock.now - started, latencies: latencies, extra: "batch=\(batch)")
        }
    }
}

struct EndToEndBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "e2e", abstract: "Produce at a fixed rate while a consumer long-polls; latency from send to receipt.")
    @OptionGroup var server: ServerOptions
    @Option var topic = "bench-e2e"
    @Option(help: "Records per second.") var rate = 10_000
    @Option(help: "Seconds.") var duration = 10
    @Option var size = 100
    @Option var acks = "1"

    func run() async throws {
        try await reportingErrors {
            guard let acks = Acks(rawValue: acks) else { throw BrookError(.invalidRequest, "--acks must be 0, 1 or all") }
            let address = try server.address()
            let admin = try await BrookClient.connect(to: address)
            if (try? await admin.describeTopic(topic)) == nil { try await admin.createTopic(topic) }
            let start = try await admin.listOffset(topic: topic, partition: 0, .latest)?.offset ?? 0
            await admin.close()
            let total = rate * duration
            let origin = ContinuousClock.now
            let consumerClient = try await BrookClient.connect(to: address)
            // The consumer: long polls, each next FETCH sent from the previous reply's callback on
            // the client's event loop; reads the send time in each value.
            let consumer = Task {
                try await TailLoad(connection: consumerClient.connection, topic: topic, from: start, total: total, origin: origin).run()
            }
            let producer = try await BrookClient.connect(to: address)
            // Paced on the producer connection's event loop, by timers due at each send's time, so
            // each record is written where it is stamped, with no hop between threads, and the
            // load generator's pacing costs little of the CPU the server shares. Acknowledgements
            // are counted in callbacks: pacing never waits for them.
            let acknowledged = Mutex<(count: Int, failure: Error?)>((0, nil))
            let pacer = Pacer(rate: rate, total: total, origin: origin, loop: producer.connection.eventLoop) { nanos in
                var value = [UInt8](repeating: 0, count: max(8, size))
                for byte in 0..<8 { value[byte] = UInt8(truncatingIfNeeded: nanos >> (8 * UInt64(byte))) }
                producer.submitProduce(topic: topic, records: [ProducerRecord(key: nil, value: value, partition: 0)], acks: acks)
                    .whenComplete { result in
                        acknowledged.withLock { state in
                            state.count += 1
                            if case .failure(let error) = result, state.failure == nil { state.failure = error }
                        }
                    }
            }
            let sent = await pacer.run()
            while acknowledged.withLock({ $0.count }) < sent { try await Task.sleep(for: .milliseconds(5)) }
            if let failure = acknowledged.withLock({ $0.failure }) { throw failure }
            let latencies = try await consumer.value
            await producer.close()
            await consumerClient.close()
            Output.line("e2e: \(total) records at \(rate)/s for \(duration) s, produce-to-receive latency: \(latencies.summary)")
            Output.line("RESULT bench=e2e messages=\(total) rate=\(rate) \(latencies.fields)")
        }
    }
}

/// Calls `send` `total` times at `rate` per second, paced against the schedule from `origin` (a
/// stall is not hidden by sending later ones later), on `loop`, with the send time in nanoseconds
/// since `origin`: one reading of the clock per send.
final class Pacer: Sendable {
    private let interval: Duration
    private let total: Int
    private let origin: ContinuousClock.Instant
    private let loop: any EventLoop
    private let send: @Sendable (UInt64) -> Void
    private let next = Mutex(0)

    init(rate: Int, total: Int, origin: ContinuousClock.Instant, loop: any EventLoop, send: @escaping @Sendable (UInt64) -> Void) {
        interval = Duration.seconds(1) / rate
        self.total = total
        self.origin = origin
        self.loop = loop
        self.send = send
    }

    /// Sends everything; returns how many were sent.
    func run() async -> Int {
        await withCheckedContinuation { (finished: CheckedContinuation<Int, Never>) in
            loop.execute { self.tick(finished) }
        }
    }

    /// Sends whatever is due, then sleeps until the next one is.
    private func tick(_ finished: CheckedContinuation<Int, Never>) {
        while true {
            let index = next.withLock { $0 }
            guard index < total else { return finished.resume(returning: total) }
            let wait = ContinuousClock.now.duration(to: origin + interval * index)
            if wait > .zero {
                let nanos = wait.components.seconds * 1_000_000_000 + wait.components.attoseconds / 1_000_000_000
                loop.scheduleTask(in: .nanoseconds(nanos)) { self.tick(finished) }
                return
            }
            let elapsed = origin.duration(to: .now).components
            send(UInt64(max(0, elapsed.seconds * 1_000_000_000 + elapsed.attoseconds / 1_000_000_000)))
            next.withLock { $0 += 1 }
        }
    }
}

/// The consumer of `bench e2e`: long-polls partition 0 from `from` until it has `total` records,
/// each FETCH sent from the previous reply's callback on the connection's event loop.
final class TailLoad: Sendable {
    private struct State {
        var offset: Int64
        var received = 0
        var latencies = Latencies()
        var finished: CheckedContinuation<Latencies, Error>?
    }

    private let connection: BrookConnection
    private let topic: String
    private let total: Int
    private let origin: ContinuousClock.Instant
    private let state: Mutex<State>

    init(connection: BrookConnection, topic: String, from offset: Int64, total: Int, origin: ContinuousClock.Instant) {
        self.connection = connection
        self.topic = topic
        self.total = total
        self.origin = origin
        state = Mutex(State(offset: offset))
    }

    func run() async throws -> Latencies {
        try await withCheckedThrowingContinuation { continuation in
            state.withLock { $0.finished = continuation }
            fetch()
        }
    }

    private func fetch() {
        let offset = state.withLock { $0.offset }
        connection.submit(.fetch(topic: topic, partition: 0, offset: offset, maxRecords: 10_000, maxBytes: FetchDefaults.maxBytes, maxWaitMs: 1_000))
            .whenComplete { [self] result in
                let now = ContinuousClock.now
                do {
                    let fetched = try Reply.fetched(try result.get())
                    let done = state.withLock { state -> Bool in
                        for record in fetched.records {
                            let sentNanos = (record.value ?? []).prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
                            state.latencies.record(origin.duration(to: now) - .nanoseconds(Int64(sentNanos)))
                        }
                        state.received += fetched.records.count
                        state.offset = fetched.nextOffset(after: state.offset)
                        return state.received >= total
                    }
                    if done { finish(.success(())) } else { fetch() }
                } catch {
                    finish(.failure(error))
                }
            }
    }

    private func finish(_ result: Result<Void, Error>) {
        let (continuation, latencies) = state.withLock { state in
            defer { state.finished = nil }
            return (state.finished, state.latencies)
        }
        continuation?.resume(with: result.map { latencies })
    }
}

struct GroupBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "group", abstract: "A group of K consumers drains a topic's backlog; timed from the first record delivered, the group's forming reported apart.")
    @OptionGroup var server: ServerOptions
    @Option var topic = "bench"
    @Option var consumers = 4
    @Option var group = "bench-\(UUID().uuidString.prefix(8))"
    @Option(help: "Records per POLL.") var batch = 1_000

    func run() async throws {
        try await reportingErrors {
            let address = try server.address()
            let admin = try await BrookClient.connect(to: address)
            let total = try await admin.describeTopic(topic).partitions.reduce(0) { $0 + Int($1.recordCount) }
            await admin.close()
            let progress = Progress(label: "group", total: total)
            let started = ContinuousClock.now
            // The drain is timed from the first record delivered: before it, the group forms
            // (the coordinator's group.initial.rebalance.delay.ms, 3 s by default as in Kafka).
            let drain = GroupDrain()
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                for _ in 0..<consumers {
                    tasks.addTask {
                        var configuration = ConsumerConfiguration(group: group, topics: [topic])
                        configuration.autoOffsetReset = .earliest
                        configuration.maxPollRecords = batch
                        configuration.pollWaitMs = 100
                        let consumer = GroupConsumer(client: try await BrookClient.connect(to: address), configuration: configuration)
                        while progress.count < total {
                            let records = try await consumer.poll()
                            guard !records.isEmpty else { continue }
                            drain.firstRecord.withLock { $0 = $0 ?? .now }
                            var polled = 0
                            for consumed in records { polled += (consumed.record.key?.count ?? 0) + (consumed.record.value?.count ?? 0) }
                            drain.bytes.add(polled, ordering: .relaxed)
                            progress.add(records.count)
                        }
                        await consumer.close()
                    }
                }
                try await tasks.waitForAll()
            }
            progress.stop()
            let finished = ContinuousClock.now
            let drainStart = drain.firstRecord.withLock { $0 } ?? finished
            let count = progress.count
            report(
                "group", messages: count, size: count == 0 ? 0 : drain.bytes.load(ordering: .relaxed) / count, elapsed: finished - drainStart, latencies: nil,
                extra: String(format: "consumers=%d join_ms=%.0f", consumers, seconds(drainStart - started) * 1000))
        }
    }
}

/// When a group's drain began (its first record delivered) and the key and value bytes it read.
final class GroupDrain: Sendable {
    let firstRecord = Mutex<ContinuousClock.Instant?>(nil)
    let bytes = Atomic<Int>(0)
}

/// The physical limit: the same libsqlite3 and table shape, a reused prepared statement, the
/// same batch per transaction, and no network, server or protocol.
struct CeilingBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ceiling", abstract: "Raw SQLite insert throughput, no network.")
    @Option var messages = 1_000_000
    @Option var size = 100
    @Option(help: "Records per transaction.") var batch = 100
    @Option(help: "normal or full.") var synchronous = "normal"
    @Option(help: "A file to create (deleted afterwards).") var db = "brook-ceiling.db"

    func run() async throws {
        try await reportingErrors {
            guard synchronous == "normal" || synchronous == "full" else { throw BrookError(.invalidRequest, "--synchronous must be normal or full") }
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: db + suffix) }
            defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: db + suffix) } }
            let connection = try Connection(path: db, mode: .readWrite)
            try connection.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = \(synchronous.uppercased()); PRAGMA cache_size = -16384;")
            try connection.execute("CREATE TABLE log (offset INTEGER PRIMARY KEY, timestamp INTEGER NOT NULL, key BLOB, headers BLOB, value BLOB)")
            let insert = try connection.prepare("INSERT INTO log (offset, timestamp, key, headers, value) VALUES (?, ?, NULL, NULL, ?)")
            let value = [UInt8](repeating: UInt8(ascii: "x"), count: size)
            var latencies = Latencies()
            let started = ContinuousClock.now
            var offset: Int64 = 0
            try value.withUnsafeBytes { bytes in
                while offset < Int64(messages) {
                    let transactionStart = ContinuousClock.now
                    try connection.execute("BEGIN IMMEDIATE")
                    for _ in 0..<min(batch, messages - Int(offset)) {
                        try insert.bind(offset, at: 1)
                        try insert.bind(Int64(0), at: 2)
                        try insert.bindBytes(bytes, at: 3)
                        try insert.run()
                        offset += 1
                    }
                    try connection.execute("COMMIT")
                    latencies.record(ContinuousClock.now - transactionStart)
                }
            }
            report("ceiling", messages: messages, size: size, elapsed: ContinuousClock.now - started, latencies: latencies,
                   extra: "batch=\(batch) synchronous=\(synchronous) size=\(size)")
        }
    }
}
