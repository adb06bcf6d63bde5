import BrookModel
import NIOCore

/// Server replies: writing them (server) and reading them (client). Every reply is one frame: a
/// status line and the data it counts (docs/protocol.md).
public enum Reply {
    // MARK: Writing (server)

    /// - Parameter authMechanisms: when the server requires authentication, the mechanisms AUTH
    ///   takes on this connection, announced as `auth=M1,M2`.
    public static func greeting(
        _ limits: WireLimits, maxGroupMembers: Int, sql: SQLLimits = SQLLimits(), authMechanisms: [String]? = nil, into buffer: inout ByteBuffer
    ) {
        let auth = authMechanisms.map { " auth=\($0.joined(separator: ","))" } ?? ""
        buffer.writeLine(
            "HELLO brook \(WireProtocol.serverVersion) protocol=\(WireProtocol.version) max_line=\(limits.maxLine) "
                + "max_record_bytes=\(limits.maxRecordBytes) max_request_bytes=\(limits.maxRequestBytes) max_batch_records=\(limits.maxBatchRecords) "
                + "max_connections=\(limits.maxConnections) max_in_flight=\(limits.maxInFlight) max_in_flight_bytes=\(limits.maxInFlightBytes) max_long_polls=\(limits.maxLongPolls) idle_timeout_ms=\(limits.idleTimeoutMs) "
                + "max_group_members=\(maxGroupMembers) max_sql_bytes=\(sql.maxStatementBytes) max_sql_result_bytes=\(sql.maxResultBytes) max_sql_queued=\(sql.maxQueued)" + auth)
    }

    public static func ok(_ text: String = "", into buffer: inout ByteBuffer) {
        buffer.writeLine(text.isEmpty ? "OK" : "OK \(text)")
    }

    /// `ERR CODE text`, the text kept to one line.
    public static func error(_ error: BrookError, into buffer: inout ByteBuffer) {
        var text = ""
        text.unicodeScalars.append(contentsOf: error.message.unicodeScalars.map { $0 == "\r" || $0 == "\n" ? " " : $0 })
        buffer.writeLine("ERR \(error.code.rawValue) \(text)")
    }

    /// HELP's lines: each verb with its arguments, for a person typing at `nc`.
    public static let helpLines = [
        "PING [WORD]",
        "TOPIC CREATE|DESCRIBE|ALTER <name> [partitions=N] [retention.ms=MS] [retention.bytes=B] [max.message.bytes=B] [message.timestamp.type=T] [compression.type=C]; TOPIC LIST; TOPIC DELETE <name>",
        "METADATA [TOPIC...]",
        "PRODUCE <topic> [acks=0|1|all] [partition=P] [timestamp=MS] [key=N] [header=K:V]... value=N|value=null, then the data items",
        "FETCH <topic> <partition> <offset> [max_records=N] [max_bytes=N] [max_wait_ms=N]",
        "LISTOFFSETS <topic> <partition> earliest|latest|<timestamp-ms>",
        "SQL <statement> | SQL bytes=N",
        "BACKUP",
        "INITPRODUCER [id=KEY]",
        "JOIN <group> <topic>[,<topic>...] [member=ID] [instance=ID] [auto_commit_ms=N] [auto_offset_reset=earliest|latest|none] ...",
        "SYNC <group> <member> <generation> [bytes=N]",
        "HEARTBEAT <group> <member> <generation>; LEAVE <group> <member>",
        "COMMIT <group> <member> <generation> <topic>:<partition>:<offset>...; OFFSETS <group> [topic]",
        "POLL <group> <member> <generation> [max_records=N] [max_bytes=N] [max_wait_ms=N]",
        "SEEK <group> <member> <topic>:<partition> <offset>; PAUSE|RESUME <group> <member> <topic>:<partition>...",
        "GROUP LIST; GROUP DESCRIBE|DELETE <group>; GROUP RESET <group> <topic> earliest|latest|offset=N|timestamp=MS",
        "AUTH SCRAM-SHA-256|SCRAM-SHA-512|PLAIN <base64>; AUTH CONTINUE <base64> (when the greeting says auth=)",
        "HELP",
        "QUIT",
    ]

    /// `OK help=N bytes=B` and one line per verb (verbs are accepted in any case).
    public static func help(into buffer: inout ByteBuffer) {
        block("help=\(helpLines.count)", into: &buffer) { block in
            for line in helpLines { block.writeLine(line) }
        }
    }

    /// `OK <head> bytes=B` and a block written by `body`.
    public static func block(_ head: String, into buffer: inout ByteBuffer, _ body: (inout ByteBuffer) -> Void) {
        var block = ByteBufferAllocator().buffer(capacity: 256)
        body(&block)
        buffer.writeLine("OK \(head) bytes=\(block.readableBytes)")
        buffer.writeBuffer(&block)
        buffer.writeStaticString("\r\n")
    }

    public static func topics(_ topics: [TopicDescription], partitions: Bool, into buffer: inout ByteBuffer) {
        block("topics=\(topics.count)", into: &buffer) { block in
            for topic in topics {
                block.writeLine(
                    "TOPIC \(topic.name) partitions=\(topic.partitionCount) retention.ms=\(topic.config.retentionMs) "
                        + "retention.bytes=\(topic.config.retentionBytes) max.message.bytes=\(topic.config.maxMessageBytes) "
                        + "message.timestamp.type=\(topic.config.messageTimestampType.rawValue) compression.type=\(topic.config.compressionType.rawValue)")
                guard partitions else { continue }
                for partition in topic.partitions {
                    block.writeLine(
                        "PARTITION \(partition.index) log_start=\(partition.logStartOffset) next=\(partition.nextOffset) "
                            + "records=\(partition.recordCount) size=\(partition.bytes)")
                }
            }
        }
    }

    public static func metadata(host: String, port: Int, topics: [TopicDescription], into buffer: inout ByteBuffer) {
        block("brokers=1 topics=\(topics.count)", into: &buffer) { block in
            block.writeLine("BROKER 0 \(host):\(port)")
            for topic in topics {
                block.writeLine("TOPIC \(topic.name) partitions=\(topic.partitionCount)")
                for index in 0..<topic.partitionCount { block.writeLine("PARTITION \(index) leader=0") }
            }
        }
    }

    /// `OK N P:O[*K]…`: each record's position in request order, runs of consecutive offsets on
    /// one partition folded.
    public static func positions(_ positions: [RecordPosition], into buffer: inout ByteBuffer) {
        buffer.writeStaticString("OK ")
        buffer.writeDecimal(Int64(positions.count))
        var index = 0
        while index < positions.count {
            let first = positions[index]
            var run = 1
            while index + run < positions.count, positions[index + run].partition == first.partition,
                positions[index + run].offset == first.offset + Int64(run)
            {
                run += 1
            }
            buffer.writeInteger(UInt8(ascii: " "))
            buffer.writeDecimal(Int64(first.partition))
            buffer.writeInteger(UInt8(ascii: ":"))
            buffer.writeDecimal(first.offset)
            if run > 1 {
                buffer.writeInteger(UInt8(ascii: "*"))
                buffer.writeDecimal(Int64(run))
            }
            index += run
        }
        buffer.writeStaticString("\r\n")
    }

    /// The status line of a FETCH reply; the block of RECORD frames follows it.
    public static func fetchHead(records: Int, highWatermark: Int64, logStart: Int64, nextOffset: Int64, blockBytes: Int, into buffer: inout ByteBuffer) {
        buffer.writeStaticString("OK")
        buffer.writeOption("records", Int64(records))
        buffer.writeOption("high_watermark", highWatermark)
        buffer.writeOption("log_start", logStart)
        buffer.writeOption("next_offset", nextOffset)
        buffer.writeOption("bytes", Int64(blockBytes))
        buffer.writeStaticString("\r\n")
    }

    /// One partition of a multi-partition FETCH reply block: its head line and its RECORD frames
    /// as a counted block.
    public static func fetchedPartition(
        _ partition: Int, records: Int, highWatermark: Int64, logStart: Int64, nextOffset: Int64, block: inout ByteBuffer, into buffer: inout ByteBuffer
    ) {
        buffer.writeStaticString("PARTITION ")
        buffer.writeDecimal(Int64(partition))
        buffer.writeOption("records", Int64(records))
        buffer.writeOption("high_watermark", highWatermark)
        buffer.writeOption("log_start", logStart)
        buffer.writeOption("next_offset", nextOffset)
        buffer.writeOption("bytes", Int64(block.readableBytes))
        buffer.writeStaticString("\r\n")
        buffer.writeBuffer(&block)
        buffer.writeStaticString("\r\n")
    }

    /// One partition of a multi-partition FETCH reply block that failed: its code and message.
    public static func fetchedPartition(_ partition: Int, error: BrookError, into buffer: inout ByteBuffer) {
        buffer.writeLine("PARTITION \(partition) error=\(error.code.rawValue) text=\(error.message.utf8.count)")
        buffer.writeItem(Array(error.message.utf8))
    }

    public static func listedOffset(_ listed: ListedOffset?, into buffer: inout ByteBuffer) {
        guard let listed else { return ok("offset=-1", into: &buffer) }
        ok("offset=\(listed.offset)" + (listed.timestamp.map { " timestamp=\($0)" } ?? ""), into: &buffer)
    }

    public static func rows(_ result: QueryResult, into buffer: inout ByteBuffer) {
        var block = ByteBufferAllocator().buffer(capacity: 256)
        columns(result.columns, into: &block)
        for row in result.rows {
            block.writeStaticString("ROW")
            for value in row {
                switch value {
                case .null: block.writeStaticString(" null")
                case .integer(let number): block.writeOption("int", number)
                case .real(let number): block.writeString(" real=\(number)")
                case .text(let text): block.writeOption("text", Int64(text.utf8.count))
                case .blob(let bytes): block.writeOption("blob", Int64(bytes.count))
                }
            }
            block.writeStaticString("\r\n")
            for value in row {
                switch value {
                case .text(let text): block.writeItem(Array(text.utf8))
                case .blob(let bytes): block.writeItem(bytes)
                default: continue
                }
            }
        }
        rows(columns: result.columns.count, rows: result.rows.count, truncated: result.truncated, block: &block, into: &buffer)
    }

    /// A SQL result's head line, then its `block` of a COLUMNS line and ROW lines.
    public static func rows(columns: Int, rows: Int, truncated: Bool, block: inout ByteBuffer, into buffer: inout ByteBuffer) {
        buffer.writeLine("OK columns=\(columns) rows=\(rows) truncated=\(truncated ? 1 : 0) bytes=\(block.readableBytes)")
        buffer.writeBuffer(&block)
        buffer.writeStaticString("\r\n")
    }

    /// The COLUMNS line of a SQL result block, and each name as a counted item.
    public static func columns(_ names: [String], into block: inout ByteBuffer) {
        block.writeStaticString("COLUMNS")
        for column in names { block.writeOption("text", Int64(column.utf8.count)) }
        block.writeStaticString("\r\n")
        for column in names { block.writeItem(Array(column.utf8)) }
    }

    /// One ROW line of a SQL result block, and its text and blob values as counted items.
    public static func row(_ values: [SQLValueView], into block: inout ByteBuffer) {
        block.writeStaticString("ROW")
        for value in values {
            switch value {
            case .null: block.writeStaticString(" null")
            case .integer(let number): block.writeOption("int", number)
            case .real(let number): block.writeString(" real=\(number)")
            case .text(let bytes): block.writeOption("text", Int64(bytes.count))
            case .blob(let bytes): block.writeOption("blob", Int64(bytes.count))
            }
        }
        block.writeStaticString("\r\n")
        for value in values {
            switch value {
            case .text(let bytes), .blob(let bytes): block.writeItem(bytes)
            default: continue
            }
        }
    }

    // MARK: Reading (client)

    /// The status line of an `OK` reply.
    /// - Throws: the server's ``BrookError`` for an `ERR` reply.
    @discardableResult
    public static func check(_ frame: Frame) throws -> Line {
        let line = frame.line
        switch line.verb {
        case "OK":
            return line
        case "ERR":
            let code = line.words.count > 1 ? line.words[1] : "UNKNOWN_SERVER_ERROR"
            let prefix = "ERR \(code) "
            let message = line.text.hasPrefix(prefix) ? String(line.text.dropFirst(prefix.count)) : ""
            throw BrookError(BrookError.Code(rawValue: code), message)
        default:
            throw BrookError(.invalidRequest, "unexpected reply '\(Line.printable(line.text))'")
        }
    }

    /// The lines (and their items) of a reply's block.
    public static func blockFrames(_ frame: Frame) throws -> [Frame] {
        guard let block = frame.items.last else { return [] }
        var decoder = FrameDecoder(limits: .client)
        var buffer = block
        var frames: [Frame] = []
        while let event = decoder.next(&buffer) {
            switch event {
            case .frame(let inner): frames.append(inner)
            case .lost(let error), .refused(_, let error): throw error
            default: throw BrookError(.invalidRequest, "unexpected stream inside a reply block")
            }
        }
        if buffer.readableBytes > 0 { throw BrookError(.invalidRequest, "a reply block ends inside a frame") }
        return frames
    }

    public static func topics(_ frame: Frame) throws -> [TopicDescription] {
        try check(frame)
        var topics: [TopicDescription] = []
        for inner in try blockFrames(frame) {
            let line = inner.line
            switch line.verb {
            case "TOPIC":
                topics.append(TopicDescription(
                    name: try line.word(1, "a name"), partitionCount: Int(try line.int("partitions") ?? 0),
                    config: TopicConfig(
                        retentionMs: try line.int("retention.ms") ?? TopicConfig.defaultRetentionMs,
                        retentionBytes: try line.int("retention.bytes") ?? TopicConfig.defaultRetentionBytes,
                        maxMessageBytes: Int(try line.int("max.message.bytes") ?? Int64(TopicConfig.defaultMaxMessageBytes)),
                        // Absent from older servers' replies: the defaults those servers implement.
                        messageTimestampType: try line.option("message.timestamp.type").map { text throws(BrookError) in
                            try MessageTimestampType(parsing: text)
                        } ?? .createTime,
                        compressionType: try line.option("compression.type").map { text throws(BrookError) in try CompressionType(parsing: text) }
                            ?? .producer)))
            case "PARTITION" where !topics.isEmpty:
                topics[topics.count - 1].partitions.append(PartitionDescription(
                    index: Int(line.words.count > 1 ? Int(line.words[1]) ?? 0 : 0),
                    logStartOffset: try line.int("log_start") ?? 0, nextOffset: try line.int("next") ?? 0,
                    bytes: try line.int("size") ?? 0))
            default:
                throw BrookError(.invalidRequest, "unexpected line in a topic reply: \(Line.printable(line.text))")
            }
        }
        return topics
    }

    /// Brokers (id, host, port) and topics' partition counts.
    public static func metadata(_ frame: Frame) throws -> (brokers: [(id: Int, host: String, port: Int)], topics: [String: Int]) {
        try check(frame)
        var brokers: [(Int, String, Int)] = []
        var topics: [String: Int] = [:]
        for inner in try blockFrames(frame) {
            let words = inner.line.words
            switch inner.line.verb {
            case "BROKER" where words.count == 3:
                let address = words[2]
                guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else { continue }
                brokers.append((Int(words[1]) ?? 0, String(address[..<colon]), port))
            case "TOPIC" where words.count == 2:
                topics[words[1]] = Int(try inner.line.int("partitions") ?? 0)
            default:
                continue
            }
        }
        return (brokers, topics)
    }

    public static func positions(_ frame: Frame) throws -> [RecordPosition] {
        let line = try check(frame)
        guard line.words.count >= 2, let count = Int(line.words[1]) else {
            throw BrookError(.invalidRequest, "unexpected produce reply '\(Line.printable(line.text))'")
        }
        var positions: [RecordPosition] = []
        positions.reserveCapacity(count)
        for run in line.words.dropFirst(2) {
            let parts = run.split(separator: "*")
            let position = parts[0].split(separator: ":")
            guard position.count == 2, let partition = Int(position[0]), let offset = Int64(position[1]) else {
                throw BrookError(.invalidRequest, "unexpected position '\(run)' in a produce reply")
            }
            let length = parts.count > 1 ? Int(parts[1]) ?? 1 : 1
            for step in 0..<length { positions.append(RecordPosition(partition: partition, offset: offset + Int64(step))) }
        }
        guard positions.count == count else {
            throw BrookError(.invalidRequest, "produce reply names \(positions.count) positions, not \(count)")
        }
        return positions
    }

    public static func fetched(_ frame: Frame) throws -> FetchResult {
        let line = try check(frame)
        var records: [Record] = []
        records.reserveCapacity(Int(try line.int("records") ?? 0))
        if let block = frame.items.last {
            try RecordFrames.read(block) { records.append(try RecordFrames.record($0)) }
        }
        return FetchResult(records: records, highWatermark: try line.int("high_watermark") ?? 0, logStartOffset: try line.int("log_start") ?? 0)
    }

    /// A multi-partition FETCH reply: per partition, its records or its error.
    public static func fetchedPartitions(_ frame: Frame) throws -> [PartitionFetchResult] {
        _ = try check(frame)
        return try blockFrames(frame).map { inner in
            let line = inner.line
            guard line.verb == "PARTITION", line.words.count == 2, let partition = Int(line.words[1]) else {
                throw BrookError(.invalidRequest, "unexpected line in a FETCH reply: \(Line.printable(line.text))")
            }
            if let code = line.option("error") {
                let message = inner.items.first.map { String(decoding: $0.readableBytesView, as: UTF8.self) } ?? ""
                return PartitionFetchResult(
                    partition: partition, result: FetchResult(records: [], highWatermark: -1, logStartOffset: -1),
                    error: BrookError(BrookError.Code(rawValue: code), message))
            }
            var records: [Record] = []
            records.reserveCapacity(Int(try line.int("records") ?? 0))
            if let block = inner.items.first {
                try RecordFrames.read(block) { records.append(try RecordFrames.record($0)) }
            }
            return PartitionFetchResult(
                partition: partition,
                result: FetchResult(records: records, highWatermark: try line.int("high_watermark") ?? 0, logStartOffset: try line.int("log_start") ?? 0))
        }
    }

    public static func listedOffset(_ frame: Frame) throws -> ListedOffset? {
        let line = try check(frame)
        guard let offset = try line.int("offset") else { throw BrookError(.invalidRequest, "LISTOFFSETS reply lacks offset=") }
        return offset < 0 ? nil : ListedOffset(offset: offset, timestamp: try line.int("timestamp"))
    }

    public static func rows(_ frame: Frame) throws -> QueryResult {
        let line = try check(frame)
        var result = QueryResult(columns: [], rows: [], truncated: line.option("truncated") == "1")
        for inner in try blockFrames(frame) {
            var items = inner.items.makeIterator()
            if inner.line.verb == "COLUMNS" {
                result.columns = inner.items.map { String(decoding: $0.readableBytesView, as: UTF8.self) }
                continue
            }
            var row: [SQLValue] = []
            for token in inner.line.text.split(separator: " ").dropFirst() {
                if token == "null" {
                    row.append(.null)
                } else if token.hasPrefix("int=") {
                    row.append(.integer(Int64(token.dropFirst(4)) ?? 0))
                } else if token.hasPrefix("real=") {
                    row.append(.real(Double(token.dropFirst(5)) ?? 0))
                } else if token.hasPrefix("text=") {
                    row.append(.text(items.next().map { String(decoding: $0.readableBytesView, as: UTF8.self) } ?? ""))
                } else if token.hasPrefix("blob=") {
                    row.append(.blob(items.next().map { Array($0.readableBytesView) } ?? []))
                }
            }
            result.rows.append(row)
        }
        return result
    }
}
