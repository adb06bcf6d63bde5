import BrookModel
import NIOCore

/// Parsing and encoding of the consumer-group commands (docs/protocol.md, "Consumer groups").
enum GroupRequests {
    static func parse(_ frame: Frame) throws -> Request {
        let line = frame.line
        switch line.verb {
        case "JOIN":
            let usage = "JOIN <group> <topic>[,<topic>…] [member=ID] [instance=ID] [client=ID] [session_timeout_ms=N] [rebalance_timeout_ms=N] [assignment=coordinator|leader] [strategies=S,…] [rebalance=eager|cooperative] [auto_commit_ms=N] [auto_offset_reset=earliest|latest|none] [initial_rebalance_delay_ms=N] [metadata=N]"
            try line.expect(maxWords: 3, options: [
                "member", "instance", "client", "session_timeout_ms", "rebalance_timeout_ms", "assignment", "strategies", "rebalance",
                "auto_commit_ms", "auto_offset_reset", "initial_rebalance_delay_ms", "metadata",
            ], usage: usage)
            let topics = list(try line.word(2, "topics: \(usage)"))
            guard !topics.isEmpty else { throw BrookError(.invalidRequest, "JOIN needs at least one topic: \(usage)") }
            var options = JoinOptions(group: try line.word(1, "a group: \(usage)"), topics: topics)
            options.member = line.option("member") ?? ""
            options.instance = line.option("instance")
            options.client = line.option("client") ?? "brook"
            options.sessionTimeoutMs = try line.int("session_timeout_ms", in: 1...Int64(Int32.max)) ?? options.sessionTimeoutMs
            options.rebalanceTimeoutMs = try line.int("rebalance_timeout_ms", in: 1...Int64(Int32.max)) ?? options.rebalanceTimeoutMs
            options.assignment = try choice(line, "assignment", AssignmentMode.self) ?? options.assignment
            options.strategies = line.option("strategies").map(list) ?? options.strategies
            guard !options.strategies.isEmpty else { throw BrookError(.invalidRequest, "strategies= needs at least one strategy: \(usage)") }
            options.rebalance = try choice(line, "rebalance", RebalanceProtocol.self) ?? options.rebalance
            options.autoCommitMs = try line.int("auto_commit_ms", in: 0...Int64(Int32.max)) ?? 0
            options.autoOffsetReset = try choice(line, "auto_offset_reset", OffsetResetPolicy.self) ?? options.autoOffsetReset
            options.initialRebalanceDelayMs = try line.int("initial_rebalance_delay_ms", in: 0...Int64(Int32.max))
            if line.option("metadata") != nil { options.metadata = frame.items.first.map { Array($0.readableBytesView) } ?? [] }
            return .join(options)
        case "SYNC":
            let usage = "SYNC <group> <member> <generation> [bytes=N with ASSIGN lines]"
            try line.expect(maxWords: 4, options: ["bytes"], usage: usage)
            var assignments: [String: [TopicPartition]]?
            if let block = frame.items.first {
                var parsed: [String: [TopicPartition]] = [:]
                for inner in try Reply.blockFrames(Frame(line: line, items: [block])) {
                    guard inner.line.verb == "ASSIGN", inner.line.words.count >= 2 else {
                        throw BrookError(.invalidRequest, "a SYNC block holds ASSIGN <member> <topic>:<partition>… lines, not '\(Line.printable(inner.line.text))'")
                    }
                    parsed[inner.line.words[1], default: []] += try inner.line.words.dropFirst(2).map(topicPartition)
                }
                assignments = parsed
            }
            return .sync(
                group: try line.word(1, "a group: \(usage)"), member: try line.word(2, "a member: \(usage)"),
                generation: try generation(try line.word(3, "a generation: \(usage)")), assignments: assignments)
        case "HEARTBEAT":
            let usage = "HEARTBEAT <group> <member> <generation>"
            try line.expect(maxWords: 4, options: [], usage: usage)
            return .heartbeat(
                group: try line.word(1, "a group: \(usage)"), member: try line.word(2, "a member: \(usage)"),
                generation: try generation(try line.word(3, "a generation: \(usage)")))
        case "LEAVE":
            let usage = "LEAVE <group> <member>"
            try line.expect(maxWords: 3, options: [], usage: usage)
            return .leave(group: try line.word(1, "a group: \(usage)"), member: try line.word(2, "a member: \(usage)"))
        case "COMMIT":
            let usage = "COMMIT <group> <member|-> <generation> <topic>:<partition>:<offset>… [metadata=N]"
            try line.expect(maxWords: .max, options: ["metadata"], usage: usage)
            guard line.words.count >= 5 else { throw BrookError(.invalidRequest, "COMMIT needs at least one offset: \(usage)") }
            let member = try line.word(2, "a member: \(usage)")
            return .commit(
                group: try line.word(1, "a group: \(usage)"), member: member == "-" ? "" : member,
                generation: try generation(try line.word(3, "a generation: \(usage)")),
                offsets: try line.words.dropFirst(4).map { text in
                    guard let colon = text.lastIndex(of: ":"), let offset = Int64(text[text.index(after: colon)...]) else {
                        throw BrookError(.invalidRequest, "'\(Line.printable(text))' is not <topic>:<partition>:<offset>")
                    }
                    return CommittedPosition(try topicPartition(String(text[..<colon])), offset)
                },
                metadata: frame.items.first.map { String(decoding: $0.readableBytesView, as: UTF8.self) } ?? "")
        case "OFFSETS":
            try line.expect(maxWords: 3, options: [], usage: "OFFSETS <group> [topic]")
            return .offsets(group: try line.word(1, "a group: OFFSETS <group> [topic]"), topic: line.words.count > 2 ? line.words[2] : nil)
        case "POLL":
            let usage = "POLL <group> <member> <generation> [max_records=N] [max_bytes=N] [max_wait_ms=N]"
            try line.expect(maxWords: 4, options: ["max_records", "max_bytes", "max_wait_ms"], usage: usage)
            return .poll(
                group: try line.word(1, "a group: \(usage)"), member: try line.word(2, "a member: \(usage)"),
                generation: try generation(try line.word(3, "a generation: \(usage)")),
                maxRecords: Int(try line.int("max_records", in: 1...Int64(FetchDefaults.maxRecordsLimit)) ?? Int64(FetchDefaults.maxRecords)),
                maxBytes: Int(try line.int("max_bytes", in: 1...Int64(Int32.max)) ?? Int64(FetchDefaults.maxBytes)),
                maxWaitMs: try line.int("max_wait_ms", in: 0...FetchDefaults.maxWaitLimitMs) ?? 0)
        case "SEEK":
            let usage = "SEEK <group> <member> <topic>:<partition> <offset>"
            try line.expect(maxWords: 5, options: [], usage: usage)
            guard let offset = Int64(try line.word(4, "an offset: \(usage)")) else { throw BrookError(.invalidRequest, "the offset of \(usage) is not an integer") }
            return .seek(
                group: try line.word(1, "a group: \(usage)"), member: try line.word(2, "a member: \(usage)"),
                try topicPartition(try line.word(3, "a partition: \(usage)")), offset: offset)
        case "PAUSE", "RESUME":
            let usage = "\(line.verb) <group> <member> <topic>:<partition>…"
            try line.expect(maxWords: .max, options: [], usage: usage)
            guard line.words.count >= 4 else { throw BrookError(.invalidRequest, "\(line.verb) needs a partition: \(usage)") }
            return .pause(
                group: try line.word(1, "a group: \(usage)"), member: try line.word(2, "a member: \(usage)"),
                try line.words.dropFirst(3).map(topicPartition), paused: line.verb == "PAUSE")
        case "GROUP":
            let usage = "GROUP LIST|DESCRIBE|RESET|DELETE …"
            switch try line.subcommand(1, "a subcommand: \(usage)") {
            case "LIST":
                try line.expect(maxWords: 2, options: [], usage: "GROUP LIST")
                return .groupList
            case "DESCRIBE":
                try line.expect(maxWords: 3, options: [], usage: "GROUP DESCRIBE <group>")
                return .groupDescribe(try line.word(2, "a group: GROUP DESCRIBE <group>"))
            case "RESET":
                let usage = "GROUP RESET <group> <topic> earliest|latest|offset=N|timestamp=MS"
                try line.expect(maxWords: 5, options: ["offset", "timestamp"], usage: usage)
                let target: GroupResetTarget
                if let offset = try line.int("offset") {
                    target = .offset(offset)
                } else if let time = try line.int("timestamp") {
                    target = .timestamp(time)
                } else {
                    switch try line.word(4, "a target: \(usage)") {
                    case "earliest": target = .earliest
                    case "latest": target = .latest
                    case let other: throw BrookError(.invalidRequest, "'\(Line.printable(other))' is not a target: \(usage)")
                    }
                }
                return .groupReset(group: try line.word(2, "a group: \(usage)"), topic: try line.word(3, "a topic: \(usage)"), target: target)
            case "DELETE":
                try line.expect(maxWords: 3, options: [], usage: "GROUP DELETE <group>")
                return .groupDelete(try line.word(2, "a group: GROUP DELETE <group>"))
            case let other:
                throw BrookError(.invalidRequest, "unknown GROUP subcommand '\(Line.printable(other, limit: 32))': \(usage)")
            }
        case let other:
            throw BrookError(.invalidRequest, "'\(Line.printable(other, limit: 32))' is not a consumer-group command")
        }
    }

    static func encodeJoin(_ options: JoinOptions, into buffer: inout ByteBuffer) {
        var text = "JOIN \(options.group) \(options.topics.joined(separator: ","))"
        if !options.member.isEmpty { text += " member=\(options.member)" }
        if let instance = options.instance { text += " instance=\(instance)" }
        text += " client=\(options.client) session_timeout_ms=\(options.sessionTimeoutMs) rebalance_timeout_ms=\(options.rebalanceTimeoutMs)"
        text += " assignment=\(options.assignment.rawValue) strategies=\(options.strategies.joined(separator: ",")) rebalance=\(options.rebalance.rawValue)"
        text += " auto_commit_ms=\(options.autoCommitMs) auto_offset_reset=\(options.autoOffsetReset.rawValue)"
        if let delay = options.initialRebalanceDelayMs { text += " initial_rebalance_delay_ms=\(delay)" }
        if let metadata = options.metadata {
            buffer.writeLine(text + " metadata=\(metadata.count)")
            buffer.writeItem(metadata)
        } else {
            buffer.writeLine(text)
        }
    }

    static func encodeSync(group: String, member: String, generation: Int, assignments: [String: [TopicPartition]]?, into buffer: inout ByteBuffer) {
        guard let assignments else { return buffer.writeLine("SYNC \(group) \(member) \(generation)") }
        var block = ByteBuffer()
        for (memberID, partitions) in assignments.sorted(by: { $0.key < $1.key }) {
            block.writeLine((["ASSIGN", memberID] + partitions.map(\.wire)).joined(separator: " "))
        }
        buffer.writeLine("SYNC \(group) \(member) \(generation) bytes=\(block.readableBytes)")
        buffer.writeBuffer(&block)
        buffer.writeStaticString("\r\n")
    }

    static func encodeCommit(group: String, member: String, generation: Int, offsets: [CommittedPosition], metadata: String, into buffer: inout ByteBuffer) {
        let text = (["COMMIT", group, member.isEmpty ? "-" : member, "\(generation)"] + offsets.map { "\($0.partition.wire):\($0.offset)" }).joined(separator: " ")
        if metadata.isEmpty { return buffer.writeLine(text) }
        buffer.writeLine(text + " metadata=\(metadata.utf8.count)")
        buffer.writeItem(Array(metadata.utf8))
    }

    static func list(_ text: String) -> [String] {
        text.split(separator: ",").map(String.init)
    }

    /// `topic-N` is ambiguous with dashes in names, so the wire form is `topic:N`.
    static func topicPartition(_ text: String) throws -> TopicPartition {
        guard let colon = text.lastIndex(of: ":"), let partition = Int(text[text.index(after: colon)...]), partition >= 0 else {
            throw BrookError(.invalidRequest, "'\(Line.printable(text))' is not <topic>:<partition>")
        }
        return TopicPartition(String(text[..<colon]), partition)
    }

    static func generation(_ text: String) throws -> Int {
        guard let value = Int32(text) else { throw BrookError(.invalidRequest, "generation '\(Line.printable(text))' is not an integer") }
        return Int(value)
    }

    /// The value of option `name` as one of an enum's cases, or `INVALID_REQUEST` naming the
    /// value and the allowed ones.
    static func choice<Choice: RawRepresentable & CaseIterable>(_ line: Line, _ name: String, _ type: Choice.Type) throws -> Choice?
    where Choice.RawValue == String {
        guard let value = line.option(name) else { return nil }
        guard let choice = Choice(rawValue: value) else {
            throw BrookError(.invalidRequest, "\(name)=\(Line.printable(value)) is invalid: use \(Choice.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return choice
    }
}

extension TopicPartition {
    /// The wire form, `topic:partition`.
    public var wire: String { "\(topic):\(partition)" }
}
