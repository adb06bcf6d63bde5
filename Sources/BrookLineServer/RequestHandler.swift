import BrookBroker
import BrookModel
import BrookWire
import Foundation
import NIOCore

/// Answers one parsed request by calling the broker, and encodes the reply.
struct RequestHandler: Sendable {
    let server: LineServer
    /// The connection's id and peer, for group membership.
    var connection: UInt64 = 0
    var peer = ""
    /// The connection's user, for the ACL checks each request makes (docs/security.md).
    var access: Access
    var broker: Broker { server.broker }
    var consumers: ServerSideConsumers { server.consumers }

    func respond(to request: Request) async throws -> ReplyBody {
        var buffer = ByteBuffer()
        switch request {
        case .topicCreate(let name, let settings):
            if !access.allows(.create, .cluster) { try access.check(.create, .topic(name)) }
            let topic = try await broker.createTopic(
                name, partitions: settings.partitions ?? 1, config: settings.applied(to: TopicConfig()))
            Reply.topics([topic.topicDescription], partitions: true, into: &buffer)
        case .help:
            Reply.help(into: &buffer)
        case .topicList:
            Reply.topics(
                try broker.listTopics().filter { access.allows(.describe, .topic($0.name)) }.map(\.topicDescription), partitions: false,
                into: &buffer)
        case .topicDescribe(let name):
            try access.check(.describe, .topic(name))
            Reply.topics([try broker.describeTopic(name).topicDescription], partitions: true, into: &buffer)
        case .topicAlter(let name, let settings):
            try access.check(.describe, .topic(name))
            var topic = try broker.describeTopic(name)
            let config = settings.applied(to: topic.config)
            if config != topic.config { try access.check(.alterConfigs, .topic(name)) }
            if settings.partitions != nil { try access.check(.alter, .topic(name)) }
            if config != topic.config { topic = try await broker.alterTopic(name, config: config) }
            if let partitions = settings.partitions { topic = try await broker.addPartitions(name, count: partitions) }
            Reply.topics([topic.topicDescription], partitions: true, into: &buffer)
        case .topicDelete(let name):
            try access.check(.delete, .topic(name))
            try await broker.deleteTopic(name)
            Reply.ok(into: &buffer)
        case .metadata(let names):
            let topics = try names.isEmpty
                ? broker.listTopics().filter { access.allows(.describe, .topic($0.name)) }
                : names.map { name in
                    try access.check(.describe, .topic(name))
                    return try broker.describeTopic(name)
                }
            let address = try await server.localAddress()
            Reply.metadata(
                host: server.configuration.host == "0.0.0.0" ? (address.ipAddress ?? "127.0.0.1") : server.configuration.host,
                port: address.port ?? server.configuration.port, topics: topics.map(\.topicDescription), into: &buffer)
        case .listOffsets(let topic, let partition, let spec):
            try access.check(.describe, .topic(topic))
            Reply.listedOffset(try await broker.listOffset(topic: topic, partition: partition, spec), into: &buffer)
        case .sql(let statement):
            // SQL reads every topic and group: the cluster-wide read right (docs/security.md).
            try access.check(.clusterAction, .cluster)
            var result = try await broker.query(statement, into: WireSQLSink.self)
            Reply.rows(columns: result.columns, rows: result.rows, truncated: result.truncated, block: &result.block, into: &buffer)
        case .backup:
            // A copy of everything, users' verifiers and ACLs included.
            try access.check(.clusterAction, .cluster)
            return try await backup()
        case .initProducer(let key):
            if !access.allows(.idempotentWrite, .cluster) && !access.control.allowsSome(access.user, host: access.host, .write, on: .topic) {
                try access.check(.idempotentWrite, .cluster)
            }
            let producer = try await broker.initProducer(clientKey: key)
            Reply.ok("producer=\(producer.id) epoch=\(producer.epoch)", into: &buffer)
        case .ping, .produce, .fetch, .fetchPartitions, .quit, .auth:
            throw BrookError(.unknownServerError, "\(request) is answered by the connection, not the request handler")
        case .join(let options):
            try access.check(.read, .group(options.group))
            for topic in options.topics { try access.check(.read, .topic(topic)) }
            var join = ServerSideConsumers.JoinRequest(group: options.group, topics: options.topics)
            join.memberID = options.member
            join.instanceID = options.instance
            join.clientID = options.client
            join.clientHost = peer
            join.sessionTimeoutMs = options.sessionTimeoutMs
            join.rebalanceTimeoutMs = options.rebalanceTimeoutMs
            join.mode = options.assignment
            join.strategies = options.strategies
            join.userData = options.metadata
            join.rebalance = options.rebalance
            join.autoCommitMs = options.autoCommitMs
            join.autoOffsetReset = options.autoOffsetReset
            join.initialRebalanceDelayMs = options.initialRebalanceDelayMs
            join.connection = connection
            Reply.joined(try await consumers.join(join), into: &buffer)
        case .sync(let group, let member, let generation, let assignments):
            try access.check(.read, .group(group))
            let partitions = try await consumers.sync(group: group, memberID: member, generation: generation, assignments: assignments)
            Reply.assigned(generation: generation, partitions, into: &buffer)
        case .heartbeat(let group, let member, let generation):
            try access.check(.read, .group(group))
            try await consumers.heartbeat(group: group, memberID: member, generation: generation)
            Reply.ok(into: &buffer)
        case .leave(let group, let member):
            try access.check(.read, .group(group))
            try await consumers.leave(group: group, memberID: member)
            Reply.ok(into: &buffer)
        case .commit(let group, let member, let generation, let offsets, let metadata):
            try access.check(.read, .group(group))
            for topic in Set(offsets.map(\.partition.topic)) { try access.check(.read, .topic(topic)) }
            try await consumers.commit(
                group: group, memberID: member, generation: generation,
                offsets: offsets.map { OffsetCommit(topic: $0.partition.topic, partition: $0.partition.partition, offset: $0.offset, metadata: metadata) })
            Reply.ok(into: &buffer)
        case .offsets(let group, let topic):
            try access.check(.describe, .group(group))
            let offsets = try await broker.committedOffsets(group: group, topic: topic).filter { access.allows(.describe, .topic($0.topic)) }
            Reply.committedOffsets(offsets.map { (TopicPartition($0.topic, $0.partition), $0.offset, $0.metadata) }, into: &buffer)
        case .poll(let group, let member, let generation, let maxRecords, let maxBytes, let maxWaitMs):
            try access.check(.read, .group(group))
            let polled = try await consumers.poll(
                group: group, memberID: member, generation: generation, maxRecords: maxRecords, maxBytes: maxBytes, maxWait: .milliseconds(maxWaitMs))
            Reply.polled(polled.records, rebalancing: polled.rebalancing, into: &buffer)
        case .seek(let group, let member, let partition, let offset):
            try access.check(.read, .group(group))
            try access.check(.read, .topic(partition.topic))
            try await consumers.seek(group: group, memberID: member, partition: partition, offset: offset)
            Reply.ok(into: &buffer)
        case .pause(let group, let member, let partitions, let paused):
            try access.check(.read, .group(group))
            try await consumers.pause(group: group, memberID: member, partitions: partitions, paused: paused)
            Reply.ok(into: &buffer)
        case .groupList:
            let all = access.allows(.describe, .cluster)
            Reply.groups(try await broker.groups.listGroups().filter { all || access.allows(.describe, .group($0.group)) }, into: &buffer)
        case .groupDescribe(let group):
            try access.check(.describe, .group(group))
            Reply.group(try await broker.groups.describe(group: group), into: &buffer)
        case .groupReset(let group, let topic, let target):
            try access.check(.read, .group(group))
            try access.check(.read, .topic(topic))
            let commits = try await broker.groups.reset(group: group, topic: topic, to: target)
            Reply.committedOffsets(commits.map { (TopicPartition($0.topic, $0.partition), $0.offset, "") }, into: &buffer)
        case .groupDelete(let group):
            try access.check(.delete, .group(group))
            try await broker.groups.delete(group: group)
            Reply.ok(into: &buffer)
        case .acl(let command):
            try await acl(command, into: &buffer)
        case .user(let command):
            try await user(command, into: &buffer)
        }
        return .buffer(buffer)
    }

    /// ACL changes need ALTER on the cluster, reading them DESCRIBE, as Kafka's ACL APIs do.
    private func acl(_ command: AclCommand, into buffer: inout ByteBuffer) async throws {
        switch command {
        case .add(let binding):
            try access.check(.alter, .cluster)
            try await broker.createAcls([binding])
            server.logger.info("ACL added", metadata: ["by": "\(access.user ?? "ANONYMOUS")", "peer": "\(peer)", "acl": "\(binding)"])
            Reply.acls([binding], into: &buffer)
        case .list(let filter):
            try access.check(.describe, .cluster)
            Reply.acls(broker.acls(matching: filter), into: &buffer)
        case .delete(let filter):
            try access.check(.alter, .cluster)
            let deleted = try await broker.deleteAcls(matching: [filter])[0]
            for binding in deleted {
                server.logger.info("ACL deleted", metadata: ["by": "\(access.user ?? "ANONYMOUS")", "peer": "\(peer)", "acl": "\(binding)"])
            }
            Reply.acls(deleted, into: &buffer)
        }
    }

    /// Users change through a running server only by a super user.
    private func user(_ command: UserCommand, into buffer: inout ByteBuffer) async throws {
        switch command {
        case .add(let name, let isSuper, let credentials):
            try access.checkSuper("add users")
            let now = WallClock.nowMillis()
            try await broker.addUser(BrookUser(name: name, isSuper: isSuper, credentials: credentials, createdMs: now, updatedMs: now))
            server.logger.info("user added", metadata: ["by": "\(access.user ?? "ANONYMOUS")", "user": "\(name)", "super": "\(isSuper)"])
            Reply.ok(into: &buffer)
        case .passwd(let name, let credentials):
            // A user may change their own password; anyone else's takes a super user.
            if name != access.user { try access.checkSuper("change another user's password") }
            try await broker.replaceCredentials(user: name, with: credentials)
            server.logger.info("password changed", metadata: ["by": "\(access.user ?? "ANONYMOUS")", "user": "\(name)"])
            Reply.ok(into: &buffer)
        case .delete(let name):
            try access.checkSuper("delete users")
            try await broker.deleteUser(name)
            server.logger.info("user deleted", metadata: ["by": "\(access.user ?? "ANONYMOUS")", "user": "\(name)"])
            Reply.ok(into: &buffer)
        case .list:
            try access.checkSuper("list users")
            Reply.users(broker.users.all.map(UserSummary.init), into: &buffer)
        }
    }

    /// Writes a checked copy beside the database, to be streamed and then deleted (or, after a
    /// crash, removed by the next start).
    private func backup() async throws -> ReplyBody {
        let path = broker.temporaryBackupPath()
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

extension WireFetchSink {
    /// A FETCH reply (one partition): the head line, then the RECORD frames.
    /// - Throws: the fetch's or the partition's error, which is the reply then.
    static func reply(_ result: Result<FetchResponse<WireFetchSink>, Error>) throws -> ByteBuffer {
        let fetched = try result.get().partitions[0]
        if let error = fetched.error { throw error }
        var block = fetched.sink.block
        var buffer = ByteBufferAllocator().buffer(capacity: 128 + block.readableBytes)
        Reply.fetchHead(
            records: fetched.sink.count, highWatermark: fetched.highWatermark, logStart: fetched.logStartOffset,
            nextOffset: fetched.sink.lastOffset.map { $0 + 1 } ?? fetched.offset, blockBytes: block.readableBytes, into: &buffer)
        buffer.writeBuffer(&block)
        buffer.writeStaticString("\r\n")
        return buffer
    }
}

extension WireFetchSink {
    /// A multi-partition FETCH reply: per partition, in request order, a PARTITION line with its
    /// counters and a block of its RECORD frames, or its error.
    static func replyPartitions(_ result: Result<FetchResponse<WireFetchSink>, Error>) -> ByteBuffer {
        do {
            let response = try result.get()
            var block = ByteBufferAllocator().buffer(capacity: 64 * response.partitions.count + response.bytes + 64 * response.recordCount)
            for fetched in response.partitions {
                if let error = fetched.error {
                    Reply.fetchedPartition(fetched.partition, error: error, into: &block)
                    continue
                }
                var records = fetched.sink.block
                Reply.fetchedPartition(
                    fetched.partition, records: fetched.sink.count, highWatermark: fetched.highWatermark, logStart: fetched.logStartOffset,
                    nextOffset: fetched.sink.lastOffset.map { $0 + 1 } ?? fetched.offset, block: &records, into: &block)
            }
            var buffer = ByteBufferAllocator().buffer(capacity: 64 + block.readableBytes)
            buffer.writeLine("OK partitions=\(response.partitions.count) records=\(response.recordCount) bytes=\(block.readableBytes)")
            buffer.writeBuffer(&block)
            buffer.writeStaticString("\r\n")
            return buffer
        } catch {
            return LineConnection.error(error)
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

/// Encodes a SQL result's rows as ROW lines on the SQL thread as they are stepped, straight from
/// SQLite's buffers: no copy of each value first.
struct WireSQLSink: SQLRowSink {
    var block = ByteBufferAllocator().buffer(capacity: 4_096)
    let columns: Int
    var rows = 0
    var truncated = false

    init(columns: [String]) {
        self.columns = columns.count
        Reply.columns(columns, into: &block)
    }

    mutating func append(_ row: [SQLValueView]) {
        Reply.row(row, into: &block)
        rows += 1
    }

    mutating func finish(truncated: Bool) {
        self.truncated = truncated
    }
}
