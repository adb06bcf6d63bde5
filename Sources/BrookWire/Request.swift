import BrookModel
import NIOCore

/// Topic settings a CREATE or ALTER names; unnamed ones keep their default or current value.
public struct TopicSettings: Hashable, Sendable {
    public var partitions: Int?
    public var retentionMs: Int64?
    public var retentionBytes: Int64?
    public var maxMessageBytes: Int?
    public var messageTimestampType: MessageTimestampType?
    public var compressionType: CompressionType?

    public init(
        partitions: Int? = nil, retentionMs: Int64? = nil, retentionBytes: Int64? = nil, maxMessageBytes: Int? = nil,
        messageTimestampType: MessageTimestampType? = nil, compressionType: CompressionType? = nil
    ) {
        self.partitions = partitions
        self.retentionMs = retentionMs
        self.retentionBytes = retentionBytes
        self.maxMessageBytes = maxMessageBytes
        self.messageTimestampType = messageTimestampType
        self.compressionType = compressionType
    }

    /// `config` with these settings applied.
    public func applied(to config: TopicConfig) -> TopicConfig {
        var config = config
        if let retentionMs { config.retentionMs = retentionMs }
        if let retentionBytes { config.retentionBytes = retentionBytes }
        if let maxMessageBytes { config.maxMessageBytes = maxMessageBytes }
        if let messageTimestampType { config.messageTimestampType = messageTimestampType }
        if let compressionType { config.compressionType = compressionType }
        return config
    }

    var isEmpty: Bool { self == TopicSettings() }
}

/// One request of the line protocol (docs/protocol.md).
/// An offset a COMMIT stores: the next offset to read in a partition.
public struct CommittedPosition: Hashable, Sendable {
    public var partition: TopicPartition
    public var offset: Int64

    public init(_ partition: TopicPartition, _ offset: Int64) {
        self.partition = partition
        self.offset = offset
    }
}

/// The options of a JOIN (docs/protocol.md, "JOIN").
public struct JoinOptions: Hashable, Sendable {
    public var group: String
    public var topics: [String]
    public var member = ""
    public var instance: String?
    public var client = "brook"
    public var sessionTimeoutMs: Int64 = GroupDefaults.sessionTimeoutMs
    public var rebalanceTimeoutMs: Int64 = GroupDefaults.rebalanceTimeoutMs
    public var assignment = AssignmentMode.coordinator
    public var strategies = [AssignmentStrategy.range.rawValue]
    public var rebalance = RebalanceProtocol.eager
    public var autoCommitMs: Int64 = 0
    public var autoOffsetReset = OffsetResetPolicy.latest
    /// `initial_rebalance_delay_ms`: how long a group this member starts (new or empty) waits for
    /// more members, when shorter than the server's `group.initial.rebalance.delay.ms`.
    public var initialRebalanceDelayMs: Int64?
    /// Opaque member metadata the leader sees (leader mode).
    public var metadata: [UInt8]?

    public init(group: String, topics: [String]) {
        self.group = group
        self.topics = topics
    }
}

/// A partition and the offset to read it from.
public struct PartitionOffset: Hashable, Sendable {
    public var partition: Int
    public var offset: Int64

    public init(partition: Int, offset: Int64) {
        self.partition = partition
        self.offset = offset
    }
}

public enum Request: Hashable, Sendable {
    case ping(String?)
    case topicCreate(String, TopicSettings)
    case topicList
    case topicDescribe(String)
    case topicAlter(String, TopicSettings)
    case topicDelete(String)
    case metadata([String])
    case produce(topic: String, acks: Acks, records: [ProducerRecord], producer: ProducerIdentity? = nil)
    case initProducer(key: String?)
    case fetch(topic: String, partition: Int, offset: Int64, maxRecords: Int, maxBytes: Int, maxWaitMs: Int64)
    /// Many partitions of a topic in one request, each from its own offset.
    case fetchPartitions(topic: String, offsets: [PartitionOffset], maxRecords: Int, maxBytes: Int, maxWaitMs: Int64)
    case listOffsets(topic: String, partition: Int, OffsetSpec)
    case sql(String)
    case backup
    case quit
    // Consumer groups.
    case join(JoinOptions)
    case sync(group: String, member: String, generation: Int, assignments: [String: [TopicPartition]]?)
    case heartbeat(group: String, member: String, generation: Int)
    case leave(group: String, member: String)
    case commit(group: String, member: String, generation: Int, offsets: [CommittedPosition], metadata: String = "")
    case offsets(group: String, topic: String?)
    case poll(group: String, member: String, generation: Int, maxRecords: Int, maxBytes: Int, maxWaitMs: Int64)
    case seek(group: String, member: String, TopicPartition, offset: Int64)
    case pause(group: String, member: String, [TopicPartition], paused: Bool)
    case groupList
    case groupDescribe(String)
    case groupReset(group: String, topic: String, target: GroupResetTarget)
    case groupDelete(String)
    /// HELP: one line per verb, for a person at `nc`.
    case help
    /// `AUTH <mechanism> <base64>` starts an authentication, `AUTH CONTINUE <base64>` answers the
    /// server's challenge. The payload is the SASL message, base64 in the line.
    case auth(mechanism: String, payload: String)
    /// ACL ADD, LIST, DELETE.
    case acl(AclCommand)
    /// USER ADD, PASSWD, DELETE, LIST: super users only.
    case user(UserCommand)

    /// Whether the server answers this request (PRODUCE with acks=0 gets no reply).
    public var expectsReply: Bool {
        if case .produce(_, .noAck, _, _) = self { return false }
        return true
    }

    // MARK: Parsing (server)

    /// Every verb ``parse(_:limits:)`` knows, as a request's first word in upper case.
    public static let verbs = [
        "PING", "TOPIC", "METADATA", "PRODUCE", "FETCH", "LISTOFFSETS", "SQL", "BACKUP", "INITPRODUCER", "QUIT", "HELP", "AUTH",
        "ACL", "USER", "JOIN", "SYNC", "HEARTBEAT", "LEAVE", "COMMIT", "OFFSETS", "POLL", "SEEK", "PAUSE", "RESUME", "GROUP",
    ]

    /// Parses a frame into a request.
    /// - Throws: `INVALID_REQUEST` (or a more precise code) naming what is wrong.
    public static func parse(_ frame: Frame, limits: WireLimits = WireLimits()) throws -> Request {
        let line = frame.line
        switch line.verb {
        case "PING":
            try line.expect(maxWords: 2, options: [], usage: "PING [WORD]")
            return .ping(line.words.count > 1 ? line.words[1] : nil)
        case "TOPIC":
            return try parseTopic(line)
        case "METADATA":
            try line.expect(maxWords: .max, options: [], usage: "METADATA [TOPIC…]")
            return .metadata(Array(line.words.dropFirst()))
        case "PRODUCE":
            return try parseProduce(frame, limits: limits)
        case "FETCH" where line.words.count == 3:
            let usage = "FETCH <topic> <partition>:<offset>[,<partition>:<offset>…] [max_records=N] [max_bytes=N] [max_wait_ms=N]"
            try line.expect(maxWords: 3, options: ["max_records", "max_bytes", "max_wait_ms"], usage: usage)
            let offsets = try line.word(2, "partitions and offsets: \(usage)").split(separator: ",", omittingEmptySubsequences: false).map { pair in
                let parts = pair.split(separator: ":", omittingEmptySubsequences: false)
                guard parts.count == 2 else { throw BrookError(.invalidRequest, "'\(pair)' is not <partition>:<offset>: \(usage)") }
                return PartitionOffset(partition: try partitionNumber(String(parts[0])), offset: try integer(String(parts[1]), "offset"))
            }
            if Set(offsets.map(\.partition)).count != offsets.count {
                throw BrookError(.invalidRequest, "FETCH names a partition more than once")
            }
            return .fetchPartitions(
                topic: try line.word(1, "a topic: \(usage)"), offsets: offsets,
                maxRecords: Int(try line.int("max_records", in: 1...Int64(Int32.max)) ?? Int64(FetchDefaults.maxRecords)),
                maxBytes: Int(try line.int("max_bytes", in: 1...Int64(Int32.max)) ?? Int64(FetchDefaults.maxBytes)),
                maxWaitMs: try line.int("max_wait_ms", in: 0...FetchDefaults.maxWaitLimitMs) ?? 0)
        case "FETCH":
            let usage = "FETCH <topic> <partition> <offset> [max_records=N] [max_bytes=N] [max_wait_ms=N]"
            try line.expect(maxWords: 4, options: ["max_records", "max_bytes", "max_wait_ms"], usage: usage)
            return .fetch(
                topic: try line.word(1, "a topic: \(usage)"),
                partition: try partitionNumber(try line.word(2, "a partition: \(usage)")),
                offset: try integer(try line.word(3, "an offset: \(usage)"), "offset"),
                maxRecords: Int(try line.int("max_records", in: 1...Int64(Int32.max)) ?? Int64(FetchDefaults.maxRecords)),
                maxBytes: Int(try line.int("max_bytes", in: 1...Int64(Int32.max)) ?? Int64(FetchDefaults.maxBytes)),
                maxWaitMs: try line.int("max_wait_ms", in: 0...FetchDefaults.maxWaitLimitMs) ?? 0)
        case "LISTOFFSETS":
            let usage = "LISTOFFSETS <topic> <partition> earliest|latest|<timestamp-ms>"
            try line.expect(maxWords: 4, options: [], usage: usage)
            let topic = try line.word(1, "a topic: \(usage)")
            let partition = try partitionNumber(try line.word(2, "a partition: \(usage)"))
            let spec: OffsetSpec
            switch try line.word(3, "earliest, latest or a timestamp: \(usage)") {
            case "earliest": spec = .earliest
            case "latest": spec = .latest
            case let time: spec = .timestamp(try integer(time, "timestamp"))
            }
            return .listOffsets(topic: topic, partition: partition, spec)
        case "SQL":
            if line.options.first?.name == "bytes", line.words.count == 1, line.options.count == 1 {
                guard let statement = frame.items.first.map({ String(decoding: $0.readableBytesView, as: UTF8.self) }) else {
                    throw BrookError(.invalidRequest, "SQL bytes=N must be followed by N bytes of SQL")
                }
                return .sql(statement)
            }
            let statement = line.text.drop { $0 == " " || $0 == "\t" }.dropFirst(3)
            guard !statement.allSatisfy({ $0 == " " || $0 == "\t" }) else {
                throw BrookError(.invalidRequest, "SQL needs a statement: SQL <statement> or SQL bytes=N")
            }
            return .sql(String(statement))
        case "BACKUP":
            try line.expect(maxWords: 1, options: [], usage: "BACKUP")
            return .backup
        case "INITPRODUCER":
            try line.expect(maxWords: 1, options: ["id"], usage: "INITPRODUCER [id=KEY]")
            return .initProducer(key: line.option("id"))
        case "QUIT":
            return .quit
        case "HELP":
            try line.expect(maxWords: 1, options: [], usage: "HELP")
            return .help
        case "AUTH":
            // Read from the raw text: base64 ends in '=', which the word splitter takes for an option.
            let usage = "AUTH SCRAM-SHA-256|SCRAM-SHA-512|PLAIN <base64>, then AUTH CONTINUE <base64>"
            let parts = line.text.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard parts.count == 3 else { throw BrookError(.invalidRequest, "AUTH takes a mechanism and a base64 message: \(usage)") }
            return .auth(mechanism: parts[1].uppercased(), payload: String(parts[2]))
        case "ACL":
            return try AccessRequests.parseAcl(line)
        case "USER":
            return try AccessRequests.parseUser(line)
        case "JOIN", "SYNC", "HEARTBEAT", "LEAVE", "COMMIT", "OFFSETS", "POLL", "SEEK", "PAUSE", "RESUME", "GROUP":
            return try GroupRequests.parse(frame)
        case "":
            throw BrookError(.invalidRequest, "empty request")
        default:
            throw BrookError(.invalidRequest, "unknown command '\(Line.printable(line.verb, limit: 32))'; see docs/protocol.md")
        }
    }

    private static let topicOptions: Set<String> = [
        "partitions", "retention.ms", "retention.bytes", "max.message.bytes", "message.timestamp.type", "compression.type",
    ]
    private static let topicOptionsUsage =
        "[partitions=N] [retention.ms=MS] [retention.bytes=B] [max.message.bytes=B] [message.timestamp.type=CreateTime|LogAppendTime] [compression.type=producer|uncompressed|gzip|snappy|lz4|zstd]"

    private static func parseTopic(_ line: Line) throws -> Request {
        let usage = "TOPIC CREATE|LIST|DESCRIBE|ALTER|DELETE …"
        switch try line.subcommand(1, "a subcommand: \(usage)") {
        case "CREATE":
            let usage = "TOPIC CREATE <name> \(topicOptionsUsage)"
            try line.expect(maxWords: 3, options: topicOptions, usage: usage)
            return .topicCreate(try line.word(2, "a name: \(usage)"), try settings(line))
        case "LIST":
            try line.expect(maxWords: 2, options: [], usage: "TOPIC LIST")
            return .topicList
        case "DESCRIBE":
            try line.expect(maxWords: 3, options: [], usage: "TOPIC DESCRIBE <name>")
            return .topicDescribe(try line.word(2, "a name: TOPIC DESCRIBE <name>"))
        case "ALTER":
            let usage = "TOPIC ALTER <name> \(topicOptionsUsage)"
            try line.expect(maxWords: 3, options: topicOptions, usage: usage)
            let settings = try settings(line)
            if settings.isEmpty { throw BrookError(.invalidRequest, "TOPIC ALTER needs a setting to change: \(usage)") }
            return .topicAlter(try line.word(2, "a name: \(usage)"), settings)
        case "DELETE":
            try line.expect(maxWords: 3, options: [], usage: "TOPIC DELETE <name>")
            return .topicDelete(try line.word(2, "a name: TOPIC DELETE <name>"))
        case let other:
            throw BrookError(.invalidRequest, "unknown TOPIC subcommand '\(Line.printable(other, limit: 32))': \(usage)")
        }
    }

    private static func settings(_ line: Line) throws(BrookError) -> TopicSettings {
        TopicSettings(
            partitions: try partitionCount(line),
            retentionMs: try line.int("retention.ms"),
            retentionBytes: try line.int("retention.bytes"),
            maxMessageBytes: try line.int("max.message.bytes", in: Int64(Int32.min)...Int64(Int32.max)).map { Int($0) },
            messageTimestampType: try line.option("message.timestamp.type").map { text throws(BrookError) in try MessageTimestampType(parsing: text) },
            compressionType: try line.option("compression.type").map { text throws(BrookError) in try CompressionType(parsing: text) })
    }

    /// `partitions=N`: a non-number is refused naming the real limit, 1 to
    /// ``TopicName/maxPartitions``; a number outside it is left to the broker's own check.
    private static func partitionCount(_ line: Line) throws(BrookError) -> Int? {
        guard let text = line.option("partitions") else { return nil }
        guard let value = Int32(text) else {
            throw BrookError(.invalidRequest, "partitions=\(Line.printable(text)) is invalid: use a number from 1 to \(TopicName.maxPartitions)")
        }
        return Int(value)
    }

    /// The options of each PRODUCE form, built once rather than as a set literal per request.
    private static let batchProduceOptions: Set<String> = ["records", "bytes", "acks", "producer", "epoch"]
    private static let singleProduceOptions: Set<String> = [
        "acks", "partition", "timestamp", "key", "header", "value", "producer", "epoch", "sequence",
    ]

    private static func parseProduce(_ frame: Frame, limits: WireLimits) throws -> Request {
        let line = frame.line
        let usage = "PRODUCE <topic> [acks=0|1|all] [partition=P] [timestamp=MS] [key=N] [header=K:V]… value=N|value=null, or PRODUCE <topic> records=N bytes=B [acks=…]"
        let topic = try line.word(1, "a topic: \(usage)")
        var acks = Acks.leader
        if let text = line.option("acks") {
            guard let parsed = Acks(rawValue: text) else {
                throw BrookError(.invalidRequest, "acks=\(Line.printable(text)) is invalid: use acks=0, acks=1 or acks=all")
            }
            acks = parsed
        }
        var producer: ProducerIdentity?
        if let id = try line.int("producer", in: 0...Int64.max) {
            producer = ProducerIdentity(id: id, epoch: Int32(try line.int("epoch", in: 0...Int64(Int32.max)) ?? 0))
        }
        if let count = try line.int("records", in: 0...Int64.max) {
            try line.expect(maxWords: 2, options: Self.batchProduceOptions, usage: usage)
            if count > Int64(limits.maxBatchRecords) {
                throw BrookError(.recordListTooLarge, "batch of \(count) records exceeds max_batch_records \(limits.maxBatchRecords)")
            }
            guard let block = frame.items.first, line.option("bytes") != nil else {
                throw BrookError(.invalidRequest, "PRODUCE records=N needs bytes=B and a block of B bytes")
            }
            var records: [ProducerRecord] = []
            records.reserveCapacity(Int(count))
            try RecordFrames.read(block) { fields in
                if records.count == count {
                    throw BrookError(.invalidRequest, "the block holds more than records=\(count) records")
                }
                records.append(try RecordFrames.producerRecord(fields))
            }
            if records.count != count {
                throw BrookError(.invalidRequest, "the block holds \(records.count) records, not records=\(count)")
            }
            return .produce(topic: topic, acks: acks, records: records, producer: producer)
        }
        try line.expect(maxWords: 2, options: Self.singleProduceOptions, usage: usage)
        // The single-record form: the items follow in token order.
        var fields = RecordFields()
        fields.partition = try line.int("partition")
        fields.timestamp = try line.int("timestamp")
        fields.sequence = try line.int("sequence", in: 0...Int64(Int32.max))
        // A forgotten value=N wrote a null record without a word; a null value is now asked for.
        guard line.option("value") != nil else {
            throw BrookError(.invalidRequest, "PRODUCE needs a value: value=N followed by N bytes, or value=null for a null record: \(usage)")
        }
        var items = frame.items.makeIterator()
        for option in line.options {
            switch option.name {
            case "key": fields.key = items.next()
            case "value" where option.value == "null": fields.value = nil
            case "value": fields.value = items.next()
            case "header":
                if let key = items.next(), let value = items.next() { fields.headers.append((key, value)) }
            default: continue
            }
        }
        return .produce(topic: topic, acks: acks, records: [try RecordFrames.producerRecord(fields)], producer: producer)
    }

    private static func partitionNumber(_ text: String) throws(BrookError) -> Int {
        guard let value = Int32(text), value >= 0 else {
            throw BrookError(.invalidRequest, "partition '\(Line.printable(text))' is invalid: use a number from 0")
        }
        return Int(value)
    }

    private static func integer(_ text: String, _ name: String) throws(BrookError) -> Int64 {
        guard let value = Int64(text) else {
            throw BrookError(.invalidRequest, "\(name) '\(Line.printable(text))' is not an integer")
        }
        return value
    }

    // MARK: Encoding (client)

    /// Refuses names that cannot travel as one protocol token (empty, or holding whitespace or
    /// control characters), with `INVALID_TOPIC`, before anything is sent.
    public func checkEncodable() throws(BrookError) {
        let names: [String]
        switch self {
        case .topicCreate(let name, _), .topicDescribe(let name), .topicAlter(let name, _), .topicDelete(let name):
            names = [name]
        case .metadata(let topics):
            names = topics
        case .produce(let topic, _, _, _), .fetch(let topic, _, _, _, _, _), .fetchPartitions(let topic, _, _, _, _), .listOffsets(let topic, _, _):
            names = [topic]
        case .initProducer(let key):
            names = key.map { [$0] } ?? []
        case .ping(let word):
            names = word.map { [$0] } ?? []
        case .sql, .backup, .quit, .help, .topicList, .groupList:
            names = []
        case .auth(let mechanism, _):
            names = [mechanism]  // the payload is base64, which ends in '='; the encoder writes it as is
        case .join(let options):
            names = [options.group, options.member.isEmpty ? "x" : options.member, options.client] + options.topics + (options.instance.map { [$0] } ?? []) + options.strategies
        case .sync(let group, let member, _, let assignments):
            names = [group, member] + (assignments.map { Array($0.keys) + $0.values.flatMap { $0.map(\.topic) } } ?? [])
        case .heartbeat(let group, let member, _), .leave(let group, let member), .poll(let group, let member, _, _, _, _):
            names = [group, member]
        case .commit(let group, let member, _, let offsets, _):
            names = [group, member.isEmpty ? "-" : member] + offsets.map(\.partition.topic)
        case .offsets(let group, let topic):
            names = [group] + (topic.map { [$0] } ?? [])
        case .seek(let group, let member, let partition, _):
            names = [group, member, partition.topic]
        case .pause(let group, let member, let partitions, _):
            names = [group, member] + partitions.map(\.topic)
        case .groupDescribe(let group), .groupDelete(let group):
            names = [group]
        case .groupReset(let group, let topic, _):
            names = [group, topic]
        case .acl(.add(let binding)):
            names = [binding.principal, binding.host, binding.resourceName]
        case .acl(.list(let filter)), .acl(.delete(let filter)):
            names = [filter.principal, filter.host, filter.resourceName].compactMap { $0 }
        case .user(.add(let name, _, _)), .user(.passwd(let name, _)), .user(.delete(let name)):
            names = [name]
        case .user(.list):
            names = []
        }
        for name in names where name.isEmpty || name.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F || $0 == "=" }) {
            throw BrookError(.invalidTopic, "name \(name.isEmpty ? "''" : "'\(Line.printable(name))'") cannot be sent: it is empty or holds whitespace, '=' or control characters")
        }
    }

    /// Writes the request in the wire format.
    public func encode(into buffer: inout ByteBuffer) {
        switch self {
        case .ping(let word):
            buffer.writeLine(word.map { "PING \($0)" } ?? "PING")
        case .topicCreate(let name, let settings):
            buffer.writeLine("TOPIC CREATE \(name)" + Self.render(settings))
        case .topicList:
            buffer.writeLine("TOPIC LIST")
        case .topicDescribe(let name):
            buffer.writeLine("TOPIC DESCRIBE \(name)")
        case .topicAlter(let name, let settings):
            buffer.writeLine("TOPIC ALTER \(name)" + Self.render(settings))
        case .topicDelete(let name):
            buffer.writeLine("TOPIC DELETE \(name)")
        case .metadata(let topics):
            buffer.writeLine((["METADATA"] + topics).joined(separator: " "))
        case .produce(let topic, let acks, let records, let producer):
            var block = ByteBufferAllocator().buffer(capacity: records.reduce(0) { $0 + $1.size + 48 })
            for record in records { RecordFrames.write(record, into: &block) }
            let identity = producer.map { " producer=\($0.id) epoch=\($0.epoch)" } ?? ""
            buffer.writeString("PRODUCE \(topic) records=\(records.count) bytes=\(block.readableBytes) acks=\(acks.rawValue)\(identity)\r\n")
            buffer.writeBuffer(&block)
            buffer.writeStaticString("\r\n")
        case .fetch(let topic, let partition, let offset, let maxRecords, let maxBytes, let maxWaitMs):
            buffer.writeLine("FETCH \(topic) \(partition) \(offset) max_records=\(maxRecords) max_bytes=\(maxBytes) max_wait_ms=\(maxWaitMs)")
        case .fetchPartitions(let topic, let offsets, let maxRecords, let maxBytes, let maxWaitMs):
            let list = offsets.map { "\($0.partition):\($0.offset)" }.joined(separator: ",")
            buffer.writeLine("FETCH \(topic) \(list) max_records=\(maxRecords) max_bytes=\(maxBytes) max_wait_ms=\(maxWaitMs)")
        case .listOffsets(let topic, let partition, let spec):
            let what: String
            switch spec {
            case .earliest: what = "earliest"
            case .latest: what = "latest"
            case .timestamp(let time): what = "\(time)"
            }
            buffer.writeLine("LISTOFFSETS \(topic) \(partition) \(what)")
        case .sql(let statement):
            buffer.writeLine("SQL bytes=\(statement.utf8.count)")
            buffer.writeItem(Array(statement.utf8))
        case .backup:
            buffer.writeLine("BACKUP")
        case .quit:
            buffer.writeLine("QUIT")
        case .auth(let mechanism, let payload):
            buffer.writeLine("AUTH \(mechanism) \(payload)")
        case .help:
            buffer.writeLine("HELP")
        case .initProducer(let key):
            buffer.writeLine(key.map { "INITPRODUCER id=\($0)" } ?? "INITPRODUCER")
        case .join(let options):
            GroupRequests.encodeJoin(options, into: &buffer)
        case .sync(let group, let member, let generation, let assignments):
            GroupRequests.encodeSync(group: group, member: member, generation: generation, assignments: assignments, into: &buffer)
        case .heartbeat(let group, let member, let generation):
            buffer.writeLine("HEARTBEAT \(group) \(member) \(generation)")
        case .leave(let group, let member):
            buffer.writeLine("LEAVE \(group) \(member)")
        case .commit(let group, let member, let generation, let offsets, let metadata):
            GroupRequests.encodeCommit(group: group, member: member, generation: generation, offsets: offsets, metadata: metadata, into: &buffer)
        case .offsets(let group, let topic):
            buffer.writeLine("OFFSETS \(group)" + (topic.map { " \($0)" } ?? ""))
        case .poll(let group, let member, let generation, let maxRecords, let maxBytes, let maxWaitMs):
            buffer.writeLine("POLL \(group) \(member) \(generation) max_records=\(maxRecords) max_bytes=\(maxBytes) max_wait_ms=\(maxWaitMs)")
        case .seek(let group, let member, let partition, let offset):
            buffer.writeLine("SEEK \(group) \(member) \(partition.wire) \(offset)")
        case .pause(let group, let member, let partitions, let paused):
            buffer.writeLine(([paused ? "PAUSE" : "RESUME", group, member] + partitions.map(\.wire)).joined(separator: " "))
        case .groupList:
            buffer.writeLine("GROUP LIST")
        case .groupDescribe(let group):
            buffer.writeLine("GROUP DESCRIBE \(group)")
        case .groupReset(let group, let topic, let target):
            buffer.writeLine("GROUP RESET \(group) \(topic) \(target.text)")
        case .groupDelete(let group):
            buffer.writeLine("GROUP DELETE \(group)")
        case .acl(let command):
            AccessRequests.encode(command, into: &buffer)
        case .user(let command):
            AccessRequests.encode(command, into: &buffer)
        }
    }

    private static func render(_ settings: TopicSettings) -> String {
        var text = ""
        if let partitions = settings.partitions { text += " partitions=\(partitions)" }
        if let retentionMs = settings.retentionMs { text += " retention.ms=\(retentionMs)" }
        if let retentionBytes = settings.retentionBytes { text += " retention.bytes=\(retentionBytes)" }
        if let maxMessageBytes = settings.maxMessageBytes { text += " max.message.bytes=\(maxMessageBytes)" }
        if let type = settings.messageTimestampType { text += " message.timestamp.type=\(type.rawValue)" }
        if let type = settings.compressionType { text += " compression.type=\(type.rawValue)" }
        return text
    }
}
