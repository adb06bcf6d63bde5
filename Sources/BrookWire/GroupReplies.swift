import BrookModel
import NIOCore

/// Replies to the consumer-group commands: writing (server) and reading (client).
extension Reply {
    // MARK: Writing

    public static func joined(_ result: JoinResult, into buffer: inout ByteBuffer) {
        block("generation=\(result.generation) member=\(result.memberID) leader=\(result.leaderID) strategy=\(result.protocolName)", into: &buffer) { block in
            if let assignment = result.assignment { block.writeLine((["ASSIGNED"] + assignment.map(\.wire)).joined(separator: " ")) }
            for member in result.members {
                var line = "MEMBER \(member.memberID) topics=\(member.topics.joined(separator: ","))"
                if let instance = member.instanceID { line += " instance=\(instance)" }
                block.writeLine(line + " metadata=\(member.metadata.count)")
                block.writeItem(member.metadata)
            }
        }
    }

    public static func assigned(generation: Int, _ partitions: [TopicPartition], into buffer: inout ByteBuffer) {
        block("generation=\(generation)", into: &buffer) { block in
            block.writeLine((["ASSIGNED"] + partitions.map(\.wire)).joined(separator: " "))
        }
    }

    /// `OK records=N rebalancing=0|1 bytes=B` and RECORD frames naming topic and partition.
    public static func polled(_ records: [(partition: TopicPartition, records: [Record])], rebalancing: Bool, into buffer: inout ByteBuffer) {
        let count = records.reduce(0) { $0 + $1.records.count }
        block("records=\(count) rebalancing=\(rebalancing ? 1 : 0)", into: &buffer) { block in
            for (partition, batch) in records {
                for record in batch { RecordFrames.write(record, topic: partition.topic, partition: partition.partition, into: &block) }
            }
        }
    }

    /// `OFFSET <topic>:<partition> <offset> [metadata=N]` lines, the metadata as a counted item.
    public static func committedOffsets(_ offsets: [(TopicPartition, Int64, metadata: String)], into buffer: inout ByteBuffer) {
        block("offsets=\(offsets.count)", into: &buffer) { block in
            for (partition, offset, metadata) in offsets {
                if metadata.isEmpty {
                    block.writeLine("OFFSET \(partition.wire) \(offset)")
                } else {
                    block.writeLine("OFFSET \(partition.wire) \(offset) metadata=\(metadata.utf8.count)")
                    block.writeItem(Array(metadata.utf8))
                }
            }
        }
    }

    public static func groups(_ groups: [(group: String, state: GroupState, members: Int)], into buffer: inout ByteBuffer) {
        block("groups=\(groups.count)", into: &buffer) { block in
            for group in groups { block.writeLine("GROUP \(group.group) state=\(group.state.rawValue) members=\(group.members)") }
        }
    }

    public static func group(_ description: GroupDescription, into buffer: inout ByteBuffer) {
        block("groups=1", into: &buffer) { block in
            block.writeLine(
                "GROUP \(description.group) state=\(description.state.rawValue) generation=\(description.generation) "
                    + "strategy=\(description.protocolName.isEmpty ? "-" : description.protocolName) assignment=\(description.mode?.rawValue ?? "-") "
                    + "rebalance=\(description.rebalance?.rawValue ?? "-") members=\(description.members.count)")
            for member in description.members {
                var line = "MEMBER \(member.memberID) client=\(member.clientID) host=\(member.clientHost.isEmpty ? "-" : member.clientHost)"
                if let instance = member.instanceID { line += " instance=\(instance)" }
                block.writeLine(line + " partitions=\(member.assignment.map(\.wire).joined(separator: ","))")
            }
            for offset in description.offsets {
                block.writeLine(
                    "OFFSET \(offset.partition.wire) committed=\(offset.committed.map(String.init) ?? "-") log_end=\(offset.logEndOffset) "
                        + "lag=\(offset.lag.map(String.init) ?? "-") member=\(offset.memberID ?? "-")")
            }
        }
    }

    // MARK: Reading

    public static func joined(_ frame: Frame) throws -> JoinResult {
        let line = try check(frame)
        var result = JoinResult(
            generation: Int(try line.int("generation") ?? 0), memberID: line.option("member") ?? "", leaderID: line.option("leader") ?? "",
            protocolName: line.option("strategy") ?? "", members: [], assignment: nil)
        for inner in try blockFrames(frame) {
            switch inner.line.verb {
            case "ASSIGNED":
                result.assignment = try inner.line.words.dropFirst().map(GroupRequests.topicPartition)
            case "MEMBER":
                result.members.append(GroupMemberInfo(
                    memberID: try inner.line.word(1, "a member id"), instanceID: inner.line.option("instance"),
                    topics: GroupRequests.list(inner.line.option("topics") ?? ""),
                    metadata: inner.items.first.map { Array($0.readableBytesView) } ?? []))
            default:
                throw BrookError(.invalidRequest, "unexpected line in a JOIN reply: \(Line.printable(inner.line.text))")
            }
        }
        return result
    }

    public static func assigned(_ frame: Frame) throws -> (generation: Int, partitions: [TopicPartition]) {
        let line = try check(frame)
        let partitions = try blockFrames(frame).first { $0.line.verb == "ASSIGNED" }.map { try $0.line.words.dropFirst().map(GroupRequests.topicPartition) } ?? []
        return (Int(try line.int("generation") ?? 0), partitions)
    }

    public static func polled(_ frame: Frame) throws -> (records: [(TopicPartition, Record)], rebalancing: Bool) {
        let line = try check(frame)
        var records: [(TopicPartition, Record)] = []
        if let block = frame.items.last {
            try RecordFrames.read(block) { fields in
                guard let topic = fields.topic, let partition = fields.partition else {
                    throw BrookError(.invalidRequest, "a polled record lacks its topic or partition")
                }
                records.append((TopicPartition(topic, Int(partition)), try RecordFrames.record(fields)))
            }
        }
        return (records, line.option("rebalancing") == "1")
    }

    public static func committedOffsets(_ frame: Frame) throws -> [(TopicPartition, Int64, metadata: String)] {
        try check(frame)
        return try blockFrames(frame).map { inner in
            guard inner.line.words.count == 3, let offset = Int64(inner.line.words[2]) else {
                throw BrookError(.invalidRequest, "unexpected line in an OFFSETS reply: \(Line.printable(inner.line.text))")
            }
            let metadata = inner.items.first.map { String(decoding: $0.readableBytesView, as: UTF8.self) } ?? ""
            return (try GroupRequests.topicPartition(inner.line.words[1]), offset, metadata)
        }
    }

    public static func groups(_ frame: Frame) throws -> [(group: String, state: String, members: Int)] {
        try check(frame)
        return try blockFrames(frame).map { inner in
            (try inner.line.word(1, "a group"), inner.line.option("state") ?? "", Int(try inner.line.int("members") ?? 0))
        }
    }

    public static func group(_ frame: Frame) throws -> GroupDescription {
        try check(frame)
        var description = GroupDescription(group: "", state: .empty, generation: 0, protocolName: "", mode: nil, rebalance: nil, members: [], offsets: [])
        for inner in try blockFrames(frame) {
            let line = inner.line
            switch line.verb {
            case "GROUP":
                description.group = try line.word(1, "a group")
                description.state = GroupState(rawValue: line.option("state") ?? "") ?? .empty
                description.generation = Int(try line.int("generation") ?? 0)
                description.protocolName = line.option("strategy").flatMap { $0 == "-" ? nil : $0 } ?? ""
                description.mode = line.option("assignment").flatMap(AssignmentMode.init(rawValue:))
                description.rebalance = line.option("rebalance").flatMap(RebalanceProtocol.init(rawValue:))
            case "MEMBER":
                description.members.append(GroupDescription.Member(
                    memberID: try line.word(1, "a member"), instanceID: line.option("instance"), clientID: line.option("client") ?? "",
                    clientHost: line.option("host").flatMap { $0 == "-" ? nil : $0 } ?? "",
                    assignment: try GroupRequests.list(line.option("partitions") ?? "").map(GroupRequests.topicPartition)))
            case "OFFSET":
                description.offsets.append(GroupDescription.Offset(
                    partition: try GroupRequests.topicPartition(try line.word(1, "a partition")),
                    committed: line.option("committed").flatMap { Int64($0) }, logEndOffset: try line.int("log_end") ?? 0,
                    lag: line.option("lag").flatMap { Int64($0) }, memberID: line.option("member").flatMap { $0 == "-" ? nil : $0 }))
            default:
                throw BrookError(.invalidRequest, "unexpected line in a GROUP DESCRIBE reply: \(Line.printable(line.text))")
            }
        }
        return description
    }
}
