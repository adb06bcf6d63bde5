import BrookBroker
import BrookWire
import Foundation
import NIOCore

/// Answers one parsed request by calling the broker, and encodes the reply.
struct RequestHandler: Sendable {
    let server: LineServer
    var broker: Broker { server.broker }

    func respond(to request: Request) async throws -> ReplyBody {
        var buffer = ByteBuffer()
        switch request {
        case .topicCreate(let name, let settings):
            let topic = try await broker.createTopic(
                name, partitions: settings.partitions ?? 1, config: settings.applied(to: TopicConfig()))
            Reply.topics([topic.topicDescription], partitions: true, into: &buffer)
        case .topicList:
            Reply.topics(try broker.listTopics().map(\.topicDescription), partitions: false, into: &buffer)
        case .topicDescribe(let name):
            Reply.topics([try broker.describeTopic(name).topicDescription], partitions: true, into: &buffer)
        case .topicAlter(let name, let settings):
            var topic = try broker.describeTopic(name)
            let config = settings.applied(to: topic.config)
            if config != topic.config { topic = try await broker.alterTopic(name, config: config) }
            if let partitions = settings.partitions { topic = try await broker.addPartitions(name, count: partitions) }
            Reply.topics([topic.topicDescription], partitions: true, into: &buffer)
        case .topicDelete(let name):
            try await broker.deleteTopic(name)
            Reply.ok(into: &buffer)
        case .metadata(let names):
            let topics = try names.isEmpty ? broker.listTopics() : names.map { try broker.describeTopic($0) }
            let address = try await server.localAddress()
            Reply.metadata(
                host: server.configuration.host == "0.0.0.0" ? (address.ipAddress ?? "127.0.0.1") : server.configuration.host,
                port: address.port ?? server.configuration.port, topics: topics.map(\.topicDescription), into: &buffer)
        case .fetch(let topic, let partition, let offset, let maxRecords, let maxBytes, let maxWaitMs):
            let fetched = try await broker.fetch(
                topic: topic, partition: partition, offset: offset, maxRecords: maxRecords, maxBytes: maxBytes,
                maxWait: .milliseconds(maxWaitMs), into: WireFetchSink.self)
            var block = fetched.sink.block
            Reply.fetchHead(
                records: fetched.sink.count, highWatermark: fetched.highWatermark, logStart: fetched.logStartOffset,
                nextOffset: fetched.sink.lastOffset.map { $0 + 1 } ?? offset, blockBytes: block.readableBytes, into: &buffer)
            buffer.writeBuffer(&block)
            buffer.writeStaticString("\r\n")
        case .listOffsets(let topic, let partition, let spec):
            Reply.listedOffset(try await broker.listOffset(topic: topic, partition: partition, spec), into: &buffer)
        case .sql(let statement):
            Reply.rows(try await broker.query(statement), into: &buffer)
        case .backup:
            return try await backup()
        case .ping, .produce, .quit:
            preconditionFailure("answered by the connection")
        }
        return .buffer(buffer)
    }

    /// Writes a checked copy beside the database, to be streamed and then deleted.
    private func backup() async throws -> ReplyBody {
        let directory = URL(fileURLWithPath: broker.path).deletingLastPathComponent().path
        let path = "\(directory)/.brook-backup-\(UUID().uuidString).db"
        do {
            let report = try await broker.backup(to: path)
            let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0
            var head = ByteBuffer()
            Reply.ok("integrity=\(report.integrity) stream=\(size)", into: &head)
            return .file(head: head, path: path, size: size)
        } catch {
            try? FileManager.default.removeItem(atPath: path)
            throw error
        }
    }
}

/// Encodes fetched records as RECORD frames on the reader thread, straight from SQLite's
/// buffers: one pass, no per-record allocation.
struct WireFetchSink: FetchSink {
    var block = ByteBufferAllocator().buffer(capacity: 4_096)
    var count = 0
    var lastOffset: Int64?

    init() {}

    mutating func append(_ record: RecordView) {
        RecordFrames.write(
            offset: record.offset, timestamp: record.timestamp, key: record.key, encodedHeaders: record.encodedHeaders,
            value: record.value, into: &block)
        count += 1
        lastOffset = record.offset
    }
}
