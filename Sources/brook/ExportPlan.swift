import ArgumentParser
import BrookClient
import BrookCommandLine
import BrookModel
import Foundation

/// `brook export-plan`: what moving this server's data to a Kafka or Redpanda cluster involves,
/// as MirrorMaker 2 and Redpanda Migrator will see it (docs/scaling.md).
struct ExportPlan: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-plan",
        abstract: "Print what a move to Kafka or Redpanda involves: each topic's partitions and configs, and each group's committed offsets with the timestamps the tools translate them by.",
        discussion: """
            For a committed offset O, Redpanda Migrator reads the record at O-1 and commits, on the \
            target, the first offset whose timestamp is at or after that record's. This command shows \
            that timestamp for every committed offset, and flags the offsets the tools cannot \
            translate: at or below the log start (nothing to read; commit the target's earliest \
            offset by hand). See docs/scaling.md.
            """)

    @OptionGroup var server: ServerOptions

    func run() async throws {
        try await reportingErrors {
            let client = try await server.connect()
            let topics = try await client.listTopics()
            var described: [TopicDescription] = []
            for topic in topics { described.append(try await client.describeTopic(topic.name)) }
            Output.line("TOPICS (create them on the target with these partition counts and configs)")
            Output.line(table(
                ["TOPIC", "PARTITIONS", "RECORDS", "RETENTION.MS", "RETENTION.BYTES", "MAX.MESSAGE.BYTES", "TIMESTAMP.TYPE", "COMPRESSION.TYPE"],
                described.map { topic in
                    let records = topic.partitions.reduce(Int64(0)) { $0 + $1.nextOffset - $1.logStartOffset }
                    return [
                        topic.name, "\(topic.partitionCount)", "\(records)", "\(topic.config.retentionMs)", "\(topic.config.retentionBytes)",
                        "\(topic.config.maxMessageBytes)", topic.config.messageTimestampType.rawValue, topic.config.compressionType.rawValue,
                    ]
                }))
            let partitions = Dictionary(
                described.flatMap { topic in topic.partitions.map { (TopicPartition(topic.name, $0.index), $0) } },
                uniquingKeysWith: { first, _ in first })
            var rows: [[String]] = []
            let groups = try await client.listGroups()
            for group in groups {
                for (partition, offset, _) in try await client.committedOffsets(group: group.group) {
                    let counters = partitions[partition]
                    let logStart = counters?.logStartOffset ?? 0
                    let end = counters?.nextOffset ?? 0
                    var timestamp = "-"
                    var note = ""
                    if counters == nil {
                        note = "the topic or partition is gone"
                    } else if offset <= logStart {
                        note = "at or below the log start: commit the target's earliest offset"
                    } else if offset > end {
                        note = "past the end: commit the target's latest offset"
                    } else {
                        let fetched = try await client.fetch(topic: partition.topic, partition: partition.partition, offset: offset - 1, maxRecords: 1)
                        if let record = fetched.records.first, record.offset == offset - 1 {
                            timestamp = "\(record.timestamp)"
                        } else {
                            note = "no record at \(offset - 1)"
                        }
                    }
                    rows.append([
                        group.group, group.state, partition.topic, "\(partition.partition)", "\(offset)", "\(logStart)", "\(end)", "\(end - max(offset, logStart))",
                        timestamp, note,
                    ])
                }
            }
            Output.line("")
            Output.line("GROUPS (move only empty groups; the tools translate each offset by the timestamp of the record before it)")
            Output.line(table(
                ["GROUP", "STATE", "TOPIC", "PARTITION", "COMMITTED", "LOG-START", "LOG-END", "LAG", "TIMESTAMP(O-1)", "NOTE"], rows))
            await client.close()
        }
    }
}
