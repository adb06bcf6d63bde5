import ArgumentParser
import BrookClient
import BrookCommandLine
import BrookModel
import BrookWire

struct Topics: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, list, describe, alter and delete topics.",
        subcommands: [Create.self, List.self, Describe.self, Alter.self, Delete.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a topic.")
        @OptionGroup var server: ServerOptions
        @Argument(help: "The topic.") var name: String
        @Option(help: "Partitions, 1 to 10000.") var partitions = 1
        @Option(help: "retention.ms; -1 keeps records forever.") var retentionMs: Int64 = TopicConfig.defaultRetentionMs
        @Option(help: "retention.bytes per partition; -1 is unlimited.") var retentionBytes: Int64 = TopicConfig.defaultRetentionBytes
        @Option(help: "max.message.bytes.") var maxMessageBytes = TopicConfig.defaultMaxMessageBytes
        @Option(help: "message.timestamp.type: CreateTime (the producer's) or LogAppendTime (the broker's).")
        var messageTimestampType = MessageTimestampType.createTime.rawValue
        @Option(help: "compression.type of fetched batches: producer, uncompressed, gzip, snappy, lz4 or zstd.")
        var compressionType = CompressionType.producer.rawValue

        func run() async throws {
            try await reportingErrors {
                let config = TopicConfig(
                    retentionMs: retentionMs, retentionBytes: retentionBytes, maxMessageBytes: maxMessageBytes,
                    messageTimestampType: try MessageTimestampType(parsing: messageTimestampType),
                    compressionType: try CompressionType(parsing: compressionType))
                let client = try await server.connect()
                let topic = try await client.createTopic(name, partitions: partitions, config: config)
                Output.line("created topic \(topic.name) with \(topic.partitionCount) partition\(topic.partitionCount == 1 ? "" : "s")")
                await client.close()
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List topics.")
        @OptionGroup var server: ServerOptions

        func run() async throws {
            try await reportingErrors {
                let client = try await server.connect()
                let topics = try await client.listTopics()
                Output.line(table(
                    ["TOPIC", "PARTITIONS", "RETENTION.MS", "RETENTION.BYTES", "MAX.MESSAGE.BYTES", "TIMESTAMP.TYPE", "COMPRESSION.TYPE"],
                    topics.map {
                        [
                            "\($0.name)", "\($0.partitionCount)", "\($0.config.retentionMs)", "\($0.config.retentionBytes)",
                            "\($0.config.maxMessageBytes)", $0.config.messageTimestampType.rawValue, $0.config.compressionType.rawValue,
                        ]
                    }))
                await client.close()
            }
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a topic's settings and partitions.")
        @OptionGroup var server: ServerOptions
        @Argument(help: "The topic.") var name: String

        func run() async throws {
            try await reportingErrors {
                let client = try await server.connect()
                let topic = try await client.describeTopic(name)
                Output.line("topic \(summary(topic))")
                Output.line(table(
                    ["PARTITION", "LOG-START", "NEXT-OFFSET", "RECORDS", "BYTES"],
                    topic.partitions.map { ["\($0.index)", "\($0.logStartOffset)", "\($0.nextOffset)", "\($0.recordCount)", "\($0.bytes)"] }))
                await client.close()
            }
        }
    }

    struct Alter: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add partitions or change a topic's settings.")
        @OptionGroup var server: ServerOptions
        @Argument(help: "The topic.") var name: String
        @Option(help: "The new partition count (never fewer).") var partitions: Int?
        @Option(help: "retention.ms: how long records are kept (-1: forever).") var retentionMs: Int64?
        @Option(help: "retention.bytes: the most record bytes a partition keeps (-1: no limit).") var retentionBytes: Int64?
        @Option(help: "max.message.bytes: the largest record accepted.") var maxMessageBytes: Int?
        @Option(help: "message.timestamp.type: CreateTime (the producer's) or LogAppendTime (the broker's).") var messageTimestampType: String?
        @Option(help: "compression.type of fetched batches: producer, uncompressed, gzip, snappy, lz4 or zstd.") var compressionType: String?

        func run() async throws {
            try await reportingErrors {
                let settings = TopicSettings(
                    partitions: partitions, retentionMs: retentionMs, retentionBytes: retentionBytes, maxMessageBytes: maxMessageBytes,
                    messageTimestampType: try messageTimestampType.map { text throws(BrookError) in try MessageTimestampType(parsing: text) },
                    compressionType: try compressionType.map { text throws(BrookError) in try CompressionType(parsing: text) })
                guard settings != TopicSettings() else {
                    throw BrookError(
                        .invalidRequest,
                        "name something to change: --partitions, --retention-ms, --retention-bytes, --max-message-bytes, --message-timestamp-type or --compression-type")
                }
                let client = try await server.connect()
                let topic = try await client.alterTopic(name, settings)
                Output.line("altered topic \(summary(topic))")
                await client.close()
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a topic and its records.")
        @OptionGroup var server: ServerOptions
        @Argument(help: "The topic.") var name: String

        func run() async throws {
            try await reportingErrors {
                let client = try await server.connect()
                try await client.deleteTopic(name)
                Output.line("deleted topic \(name)")
                await client.close()
            }
        }
    }
}

/// `NAME: N partitions, retention.ms=… retention.bytes=… max.message.bytes=… message.timestamp.type=… compression.type=…`
func summary(_ topic: TopicDescription) -> String {
    "\(topic.name): \(topic.partitionCount) partitions, retention.ms=\(topic.config.retentionMs) "
        + "retention.bytes=\(topic.config.retentionBytes) max.message.bytes=\(topic.config.maxMessageBytes) "
        + "message.timestamp.type=\(topic.config.messageTimestampType.rawValue) compression.type=\(topic.config.compressionType.rawValue)"
}
