import BrookClient
import BrookCommandLine
import BrookModel
import Foundation

/// The soak's verdict: counts, and whether every check held.
struct SoakReport {
    var lines: [String] = []
    var passed = true

    mutating func fact(_ text: String) { lines.append("  \(text)") }

    /// A check: printed with PASS or FAIL.
    mutating func check(_ holds: Bool, _ text: String) {
        lines.append("\(holds ? "PASS" : "FAIL") \(text)")
        if !holds { passed = false }
    }

    var text: String { lines.joined(separator: "\n") }
}

extension SoakRun {
    private struct Delivery {
        var at: UInt64
        var consumer: Int
        var partition: Int
        var offset: Int64
        var value: Substring
    }

    /// Reads the whole log back and every consumer's ledger, and checks them against what the
    /// producers were told.
    static func check(
        client: BrookClient, dir: String, partitions: Int, ledger: SoakLedger, drained: Bool, maxRss: Int, maxFds: Int
    ) async throws -> SoakReport {
        var report = SoakReport()
        let acked = await ledger.acked
        let failedAttempts = await ledger.failedAttempts
        let brokerKills = await ledger.brokerKills.sorted()
        let consumerKills = await ledger.consumerKills
        let incarnations = await ledger.incarnations
        for (name, count) in await ledger.counts.sorted(by: { $0.key < $1.key }) { report.fact("\(name): \(count)") }
        report.fact("server kills: \(brokerKills.count), consumer kills: \(consumerKills.count)")

        // The log as it is now.
        var log: [[String]] = []
        var positions: [String: [RecordPosition]] = [:]
        for partition in 0..<partitions {
            var values: [String] = []
            var offset: Int64 = 0
            while true {
                let fetched = try await client.fetch(topic: "soak", partition: partition, offset: offset, maxRecords: 10_000, maxBytes: 16 << 20)
                for record in fetched.records {
                    let value = String(decoding: record.value ?? [], as: UTF8.self)
                    values.append(value)
                    positions[value, default: []].append(RecordPosition(partition: partition, offset: record.offset))
                }
                offset = fetched.records.last.map { $0.offset + 1 } ?? offset
                if fetched.records.isEmpty || offset >= fetched.highWatermark { break }
            }
            log.append(values)
        }
        let total = log.reduce(0) { $0 + $1.count }
        report.fact("records in the log: \(total); acknowledged: \(acked.count)")

        let lost = acked.filter { value, position in positions[value]?.contains(position) != true }
        report.check(lost.isEmpty, "no acknowledged record lost (\(lost.count) missing\(lost.isEmpty ? "" : ", e.g. \(lost.first!.key)"))")
        let written = positions.filter { $0.value.count > 1 }
        let unexplained = written.keys.filter { !failedAttempts.contains($0) }
        report.check(
            unexplained.isEmpty,
            "no record written twice except by an application retry after a failed send (\(written.count) written twice, \(unexplained.count) unexplained)")
        var outOfOrder = 0
        for values in log {
            var last: [Substring: Int] = [:]
            for value in values {
                let parts = value.split(separator: "-")
                guard parts.count == 2, let sequence = Int(parts[1]) else { continue }
                if sequence < last[parts[0], default: -1] { outOfOrder += 1 }
                last[parts[0]] = sequence
            }
        }
        report.check(outOfOrder == 0, "each producer's records in order within each partition (\(outOfOrder) out of order)")

        // What the group consumed.
        var deliveries: [Delivery] = []
        var commits: [Int: [(at: UInt64, next: Int64)]] = [:]
        /// Each member's acknowledged commit times per partition, by (consumer, partition).
        var commitTimes: [[Int]: [UInt64]] = [:]
        var consumerErrors = 0
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".ledger") }
        for file in files {
            guard let consumer = Int(file.dropFirst("consumer-".count).dropLast(".ledger".count)) else { continue }
            let text = try String(contentsOfFile: dir + "/" + file, encoding: .utf8)
            for line in text.split(separator: "\n") {
                let fields = line.split(separator: " ", maxSplits: 4)
                switch fields.first {
                case "D" where fields.count == 5:
                    deliveries.append(Delivery(
                        at: UInt64(fields[1]) ?? 0, consumer: consumer, partition: Int(fields[2]) ?? -1,
                        offset: Int64(fields[3]) ?? -1, value: fields[4]))
                case "C" where fields.count == 4:
                    commits[Int(fields[2]) ?? -1, default: []].append((UInt64(fields[1]) ?? 0, Int64(fields[3]) ?? -1))
                    commitTimes[[consumer, Int(fields[2]) ?? -1], default: []].append(UInt64(fields[1]) ?? 0)
                case "E":
                    consumerErrors += 1
                default:
                    break
                }
            }
        }
        report.fact("consumer processes: \(files.count); deliveries: \(deliveries.count); acknowledged commits: \(commits.values.reduce(0) { $0 + $1.count }); retried consumer errors: \(consumerErrors)")
        report.check(drained, "the group drained the topic after the faults stopped")

        var byPosition: [RecordPosition: [Delivery]] = [:]
        var wrongValue = 0
        for delivery in deliveries {
            let position = RecordPosition(partition: delivery.partition, offset: delivery.offset)
            if delivery.partition < 0 || delivery.partition >= partitions || delivery.offset < 0
                || delivery.offset >= Int64(log[delivery.partition].count) || log[delivery.partition][Int(delivery.offset)] != delivery.value
            {
                wrongValue += 1
            }
            byPosition[position, default: []].append(delivery)
        }
        report.check(wrongValue == 0, "every delivery matches the log at its position (\(wrongValue) do not)")
        let undelivered = (0..<partitions).reduce(0) { sum, partition in
            sum + (0..<log[partition].count).filter { byPosition[RecordPosition(partition: partition, offset: Int64($0))] == nil }.count
        }
        report.check(undelivered == 0, "every record in the log delivered to the group at least once (\(undelivered) never delivered)")

        // Redeliveries: explained by a crash before a commit, never below an acknowledged commit.
        var sortedCommits: [Int: [(at: UInt64, next: Int64)]] = [:]
        for (partition, list) in commits {
            var running: Int64 = -1
            sortedCommits[partition] = list.sorted { $0.at < $1.at }.map { entry in
                running = max(running, entry.next)
                return (entry.at, running)
            }
        }
        func committed(_ partition: Int, before time: UInt64) -> Int64 {
            guard let list = sortedCommits[partition] else { return -1 }
            var low = 0
            var high = list.count
            while low < high {
                let middle = (low + high) / 2
                if list[middle].at < time { low = middle + 1 } else { high = middle }
            }
            return low == 0 ? -1 : list[low - 1].next
        }
        for key in commitTimes.keys { commitTimes[key]!.sort() }
        /// When `consumer` last had a commit of `partition` acknowledged before `time` (0: never).
        func lastCommit(_ consumer: Int, _ partition: Int, before time: UInt64) -> UInt64 {
            commitTimes[[consumer, partition]]?.last { $0 < time } ?? 0
        }
        var redelivered = 0
        var belowCommit = 0
        var afterConsumerKill = 0
        var afterServerKill = 0
        var afterRebalance = 0
        for (position, list) in byPosition where list.count > 1 {
            let ordered = list.sorted { $0.at < $1.at }
            for (earlier, later) in zip(ordered, ordered.dropFirst()) {
                redelivered += 1
                if committed(position.partition, before: later.at) > position.offset { belowCommit += 1 }
                // The crash must fall after the deliverer's last acknowledged commit of the partition
                // (what it read since was uncommitted) and before the redelivery. It may precede
                // the earlier delivery's ledger line: a reply already on its way still lands.
                let since = lastCommit(earlier.consumer, position.partition, before: earlier.at)
                if let killed = consumerKills[earlier.consumer], killed > since, killed < later.at {
                    afterConsumerKill += 1
                } else if brokerKills.contains(where: { $0 > since && $0 < later.at }) {
                    afterServerKill += 1
                } else {
                    afterRebalance += 1
                }
            }
        }
        report.fact(
            "redeliveries: \(redelivered) (after a consumer was killed before committing: \(afterConsumerKill); after a server kill: \(afterServerKill); after a rebalance without a crash: \(afterRebalance))")
        report.check(belowCommit == 0, "no record redelivered below an acknowledged commit (\(belowCommit))")
        report.check(afterRebalance == 0, "redeliveries only after a crash (\(afterRebalance) without one)")

        // Resources of each server incarnation.
        let peakRss = incarnations.map(\.rss).max() ?? 0
        let peakFds = incarnations.map(\.fds).max() ?? 0
        report.fact("server incarnations: \(incarnations.count); peak RSS per incarnation (MB): \(incarnations.map { String($0.rss / 1_048_576) }.joined(separator: " "))")
        report.fact("peak open descriptors per incarnation: \(incarnations.map { String($0.fds) }.joined(separator: " "))")
        report.check(peakRss > 0 && peakRss <= maxRss, "server RSS stayed bounded (peak \(peakRss / 1_048_576) MB, limit \(maxRss / 1_048_576) MB)")
        report.check(peakFds > 0 && peakFds <= maxFds, "server descriptors stayed bounded (peak \(peakFds), limit \(maxFds))")
        return report
    }
}
