import ArgumentParser
import BrookClient
import BrookCommandLine
import BrookModel
import Foundation
import Synchronization

/// `brook bench partitions`: what a topic of many partitions costs everyone else. Measures, on a
/// running server with a fresh database:
/// - FETCH and SQL latency on a small topic while the file holds about 10 partitions;
/// - creating a topic of `--partitions` partitions, and the latency of single-record produces to
///   another topic meanwhile;
/// - FETCH and SQL latency on the small topic again, now beside the wide topic;
/// - the first FETCH and SQL on every reader connection right after another topic is created
///   (a schema change makes each connection read the schema again before its next statement).
struct PartitionsBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "partitions", abstract: "Create a topic of many partitions; latency of others' produces, fetches and SQL.")
    @OptionGroup var server: ServerOptions
    @Option(help: "Partitions of the wide topic.") var partitions = 10_000
    @Option(help: "Timed FETCH and SQL requests per phase.") var reads = 2_000
    @Option(help: "Topics created to time the first reads after a schema change.") var creates = 5
    @Option(help: "Concurrent connections for the first reads after a create (at least the server's readers).") var connections = 8

    func run() async throws {
        try await reportingErrors {
            let address = try server.address()
            let admin = try await BrookClient.connect(to: address)
            let small = "pb-small"
            _ = try await admin.createTopic(small, partitions: 10)
            let value = [UInt8](repeating: UInt8(ascii: "x"), count: 100)
            for _ in 0..<10 {
                _ = try await admin.produce(topic: small, records: [ProducerRecord](repeating: ProducerRecord(value: value, partition: 0), count: 100))
            }

            let before = try await readLatencies(admin, topic: small)
            Output.line("10 partitions in the file: FETCH \(before.fetch.summary)")
            Output.line("10 partitions in the file: SQL   \(before.sql.summary)")

            // Single-record produces to the small topic while the wide one is created.
            let producer = try await BrookClient.connect(to: address)
            let stop = Atomic<Bool>(false)
            let producing = Task {
                var latencies = Latencies()
                while !stop.load(ordering: .relaxed) {
                    let sent = ContinuousClock.now
                    _ = try await producer.produce(topic: small, records: [ProducerRecord(value: value, partition: 1)])
                    latencies.record(ContinuousClock.now - sent)
                }
                return latencies
            }
            try await Task.sleep(for: .milliseconds(200))
            let createStarted = ContinuousClock.now
            _ = try await admin.createTopic("pb-wide", partitions: partitions)
            let createTime = ContinuousClock.now - createStarted
            stop.store(true, ordering: .relaxed)
            let produceLatencies = try await producing.value
            await producer.close()
            Output.line(String(format: "create %d partitions: %.3f s", partitions, seconds(createTime)))
            Output.line("produce to another topic meanwhile: \(produceLatencies.summary)")

            let after = try await readLatencies(admin, topic: small)
            Output.line("\(partitions + 10) partitions in the file: FETCH \(after.fetch.summary)")
            Output.line("\(partitions + 10) partitions in the file: SQL   \(after.sql.summary)")

            // The first reads on every connection after a topic create.
            var firstFetch = Latencies()
            var firstSQL = Latencies()
            var clients: [BrookClient] = []
            for _ in 0..<connections { clients.append(try await BrookClient.connect(to: address)) }
            for round in 0..<creates {
                _ = try await admin.createTopic("pb-probe-\(round)", partitions: 1)
                let fetches = try await withThrowingTaskGroup(of: Latencies.self) { group in
                    for client in clients {
                        group.addTask {
                            var latencies = Latencies()
                            let sent = ContinuousClock.now
                            _ = try await client.fetch(topic: small, partition: 0, offset: 0, maxRecords: 10)
                            latencies.record(ContinuousClock.now - sent)
                            return latencies
                        }
                    }
                    var all = Latencies()
                    for try await part in group { all.merge(part) }
                    return all
                }
                firstFetch.merge(fetches)
                _ = try await admin.createTopic("pb-probe-sql-\(round)", partitions: 1)
                let sent = ContinuousClock.now
                _ = try await admin.query("SELECT offset FROM \"\(small)\" WHERE partition = 0 AND offset = 5")
                firstSQL.record(ContinuousClock.now - sent)
            }
            for client in clients { await client.close() }
            Output.line("first FETCH per connection after a topic create: \(firstFetch.summary)")
            Output.line("first SQL after a topic create: \(firstSQL.summary)")
            await admin.close()
            Output.line(String(
                format: "RESULT bench=partitions partitions=%d create_s=%.3f produce_max_ms=%.3f produce_p99_ms=%.3f fetch_p50_ms_before=%.3f fetch_p50_ms_after=%.3f fetch_p99_ms_before=%.3f fetch_p99_ms_after=%.3f sql_p50_ms_before=%.3f sql_p50_ms_after=%.3f first_fetch_max_ms=%.3f first_sql_max_ms=%.3f",
                partitions, seconds(createTime), produceLatencies.maxMs, produceLatencies.ms(99), before.fetch.ms(50), after.fetch.ms(50),
                before.fetch.ms(99), after.fetch.ms(99), before.sql.ms(50), after.sql.ms(50), firstFetch.maxMs, firstSQL.maxMs))
        }
    }

    /// Sequential FETCHes of 10 records at spread offsets, then as many small SQL queries.
    private func readLatencies(_ client: BrookClient, topic: String) async throws -> (fetch: Latencies, sql: Latencies) {
        var fetch = Latencies()
        var sql = Latencies()
        for index in 0..<reads {
            let sent = ContinuousClock.now
            _ = try await client.fetch(topic: topic, partition: 0, offset: Int64((index * 37) % 990), maxRecords: 10)
            fetch.record(ContinuousClock.now - sent)
        }
        for index in 0..<max(1, reads / 10) {
            let sent = ContinuousClock.now
            _ = try await client.query("SELECT offset, value FROM \"\(topic)\" WHERE partition = 0 AND offset = \((index * 37) % 990)")
            sql.record(ContinuousClock.now - sent)
        }
        return (fetch, sql)
    }
}
