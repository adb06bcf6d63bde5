import BrookBroker
import BrookFrontEnd
import BrookModel
import NIOCore

/// Kafka's classic consumer-group APIs on the broker's one ``GroupCoordinator``: the same groups,
/// generations and committed offsets the line protocol uses. The coordinator keeps the state;
/// this file only reads requests into its calls and its answers and errors into Kafka's replies.
extension KafkaConnection {
    /// `offset.metadata.max.bytes`, Kafka's default: longer commit metadata is refused.
    static let maxOffsetMetadataBytes = 4_096

    func startGroupRequest(_ request: KafkaRequest, header: KafkaRequestHeader, responder: RequestResponder) {
        let correlationID = header.correlationID
        let version = header.apiVersion
        switch request {
        case .findCoordinator(let find):
            responder.succeed(.buffer(findCoordinator(find, correlationID: correlationID, version: version)))
        case .joinGroup(let join):
            // A join waits for the rebalance (up to the rebalance timeout), holding the requests
            // behind it as Kafka does; shutdown answers it at once so the client looks for the
            // coordinator again.
            let task = Task { [self] in
                responder.succeed(.buffer(await self.joinGroup(join, clientID: header.clientID ?? "", correlationID: correlationID, version: version)))
            }
            responder.onEnd { ending in
                guard ending == .quiesce else { return }
                task.cancel()
                responder.succeed(.buffer(KafkaResponse.joinGroup(
                    correlationID: correlationID, version: version, errorCode: KafkaErrorCode.coordinatorNotAvailable, memberID: join.memberID)))
            }
        case .syncGroup(let sync):
            Task { [self] in
                responder.succeed(.buffer(await self.syncGroup(sync, correlationID: correlationID, version: version)))
            }
            responder.onEnd { ending in
                guard ending == .quiesce else { return }
                responder.succeed(.buffer(KafkaResponse.syncGroup(
                    correlationID: correlationID, version: version, errorCode: KafkaErrorCode.coordinatorNotAvailable, assignment: [])))
            }
        case .heartbeat(let heartbeat):
            let access = self.access
            Task { [self] in
                var code = KafkaErrorCode.none
                do {
                    try Self.validateGroupID(heartbeat.group)
                    try authorize(.read, .group(heartbeat.group), access)
                    try await broker.groups.heartbeat(group: heartbeat.group, memberID: heartbeat.memberID, generation: Int(heartbeat.generation))
                } catch {
                    code = Self.groupErrorCode(error)
                }
                responder.succeed(.buffer(KafkaResponse.heartbeat(correlationID: correlationID, version: version, errorCode: code)))
            }
        case .leaveGroup(let leave):
            Task { [self] in
                responder.succeed(.buffer(await self.leaveGroup(leave, correlationID: correlationID, version: version)))
            }
        case .offsetCommit(let commit):
            Task { [self] in
                responder.succeed(.buffer(await self.offsetCommit(commit, correlationID: correlationID, version: version)))
            }
        case .offsetFetch(let fetch):
            Task { [self] in
                responder.succeed(.buffer(await self.offsetFetch(fetch, correlationID: correlationID, version: version)))
            }
        case .listGroups:
            let access = self.access
            Task { [broker] in
                do {
                    // Every group with DESCRIBE on the cluster; else those the user may describe.
                    let all = access.allows(.describe, .cluster)
                    let groups = try await broker.groups.listings()
                        .filter { all || access.allows(.describe, .group($0.group)) }
                        .map { (id: $0.group, protocolType: $0.protocolType) }
                    responder.succeed(.buffer(KafkaResponse.listGroups(
                        correlationID: correlationID, version: version, errorCode: KafkaErrorCode.none, groups: groups)))
                } catch {
                    responder.succeed(.buffer(KafkaResponse.listGroups(
                        correlationID: correlationID, version: version, errorCode: Self.groupErrorCode(error), groups: [])))
                }
            }
        case .describeGroups(let groups):
            Task { [self] in
                responder.succeed(.buffer(KafkaResponse.describeGroups(
                    correlationID: correlationID, version: version, groups: await self.describeGroups(groups))))
            }
        case .deleteGroups(let groups):
            let access = self.access
            Task { [self] in
                var results: [(group: String, errorCode: Int16)] = []
                for group in groups {
                    do {
                        try Self.validateGroupID(group)
                        try authorize(.delete, .group(group), access)
                        try await broker.groups.delete(group: group)
                        results.append((group, KafkaErrorCode.none))
                    } catch {
                        results.append((group, Self.groupErrorCode(error)))
                    }
                }
                responder.succeed(.buffer(KafkaResponse.deleteGroups(correlationID: correlationID, results: results)))
            }
        case .offsetDelete(let delete):
            Task { [self] in
                responder.succeed(.buffer(await self.offsetDelete(delete, correlationID: correlationID)))
            }
        default:
            preconditionFailure("\(request) is not a group request")
        }
    }

    // MARK: Coordinator and membership

    /// This broker coordinates every group. Transactions (key type 1) have no coordinator.
    private func findCoordinator(_ request: FindCoordinatorRequest, correlationID: Int32, version: Int16) -> ByteBuffer {
        let access = self.access
        let (code, message): (Int16, String?) = switch request.keyType {
        case 0 where !access.allows(.describe, .group(request.key)):
            (KafkaErrorCode.groupAuthorizationFailed, access.refusal(.describe, .group(request.key)).message)
        case 0: (KafkaErrorCode.none, nil)
        case 1: (KafkaErrorCode.coordinatorNotAvailable, "Brook has no transactions, so no transaction coordinator")
        default: (KafkaErrorCode.invalidRequest, "key type \(request.keyType) is unknown: use 0 (group)")
        }
        return KafkaResponse.findCoordinator(
            correlationID: correlationID, version: version, errorCode: code, errorMessage: message, nodeID: configuration.nodeID,
            host: configuration.effectiveAdvertisedHost, port: listener.advertisedPort)
    }

    /// The client's address as Kafka's tools show it (`/127.0.0.1`).
    private var clientHost: String {
        guard let colon = peer.lastIndex(of: ":") else { return "/\(peer)" }
        return "/\(peer[..<colon])"
    }

    private func joinGroup(_ request: KafkaJoinGroupRequest, clientID: String, correlationID: Int32, version: Int16) async -> ByteBuffer {
        do {
            try Self.validateGroupID(request.group)
            try authorize(.read, .group(request.group))
            if version >= 4 && request.memberID.isEmpty && request.instanceID == nil {
                let id = try await broker.groups.issuePendingMemberID(
                    group: request.group, clientID: clientID, sessionTimeoutMs: Int64(request.sessionTimeoutMs))
                return KafkaResponse.joinGroup(correlationID: correlationID, version: version, errorCode: KafkaErrorCode.memberIDRequired, memberID: id)
            }
            // Kafka's rule: a member naming no protocol type or no protocol cannot agree with any.
            guard !request.protocolType.isEmpty, !request.protocols.isEmpty else {
                return KafkaResponse.joinGroup(
                    correlationID: correlationID, version: version, errorCode: KafkaErrorCode.inconsistentGroupProtocol, memberID: request.memberID)
            }
            var join = JoinGroupRequest(group: request.group, protocols: request.protocols.map { GroupProtocol(name: $0.name, metadata: $0.metadata) })
            join.memberID = request.memberID
            join.instanceID = request.instanceID
            join.clientID = clientID
            join.clientHost = clientHost
            join.sessionTimeoutMs = Int64(request.sessionTimeoutMs)
            // The rebalance timeout is the client's max.poll.interval.ms, which Kafka does not
            // bound (some set it to Int32.max); Brook waits at most the longest session timeout.
            let maxRebalanceTimeoutMs = await broker.groups.options.maxSessionTimeoutMs
            join.rebalanceTimeoutMs = min(max(1, Int64(request.rebalanceTimeoutMs)), maxRebalanceTimeoutMs)
            join.protocolType = request.protocolType
            join.mode = .leader
            let result = try await broker.groups.join(join)
            return KafkaResponse.joinGroup(
                correlationID: correlationID, version: version, errorCode: KafkaErrorCode.none, generation: Int32(clamping: result.generation),
                protocolName: result.protocolName, leaderID: result.leaderID, memberID: result.memberID,
                members: result.members.map { KafkaResponse.JoinedMember(memberID: $0.memberID, instanceID: $0.instanceID, metadata: $0.metadata) })
        } catch {
            listener.logger.debug("Kafka JoinGroup refused", metadata: ["peer": "\(peer)", "group": "\(request.group)", "error": "\(error)"])
            return KafkaResponse.joinGroup(
                correlationID: correlationID, version: version, errorCode: Self.groupErrorCode(error), memberID: request.memberID)
        }
    }

    private func syncGroup(_ request: SyncGroupRequest, correlationID: Int32, version: Int16) async -> ByteBuffer {
        do {
            try Self.validateGroupID(request.group)
            try authorize(.read, .group(request.group))
            // Only the leader's list counts; a member named twice keeps its first assignment.
            let assignments = Dictionary(request.assignments.map { ($0.memberID, $0.assignment) }, uniquingKeysWith: { first, _ in first })
            let assignment = try await broker.groups.sync(
                group: request.group, memberID: request.memberID, generation: Int(request.generation), assignments: assignments)
            return KafkaResponse.syncGroup(correlationID: correlationID, version: version, errorCode: KafkaErrorCode.none, assignment: assignment)
        } catch {
            return KafkaResponse.syncGroup(correlationID: correlationID, version: version, errorCode: Self.groupErrorCode(error), assignment: [])
        }
    }

    private func leaveGroup(_ request: LeaveGroupRequest, correlationID: Int32, version: Int16) async -> ByteBuffer {
        let leaving = request.members.map { LeavingMember(memberID: $0.memberID, instanceID: $0.instanceID) }
        do {
            try Self.validateGroupID(request.group)
            try authorize(.read, .group(request.group))
            let outcomes = try await broker.groups.leave(group: request.group, members: leaving)
            let members = zip(request.members, outcomes).map { member, outcome in
                KafkaResponse.LeftMember(
                    memberID: member.memberID, instanceID: member.instanceID, errorCode: outcome.map { Self.groupErrorCode($0) } ?? KafkaErrorCode.none)
            }
            // v0–2 name one member: its outcome is the answer.
            let code = version >= 3 ? KafkaErrorCode.none : members.first?.errorCode ?? KafkaErrorCode.none
            return KafkaResponse.leaveGroup(correlationID: correlationID, version: version, errorCode: code, members: members)
        } catch {
            return KafkaResponse.leaveGroup(correlationID: correlationID, version: version, errorCode: Self.groupErrorCode(error), members: [])
        }
    }

    // MARK: Offsets

    /// Commits every partition that names an existing topic and partition with metadata within
    /// the limit, all at once; the others answer their own error.
    private func offsetCommit(_ request: OffsetCommitRequest, correlationID: Int32, version: Int16) async -> ByteBuffer {
        var topics = request.topics.map { topic in
            (name: topic.name, partitions: topic.partitions.map { KafkaResponse.PartitionResult(index: $0.index, errorCode: KafkaErrorCode.none) })
        }
        var commits: [OffsetCommit] = []
        var slots: [(Int, Int)] = []
        let access = self.access
        // READ on the group, else every partition answers GROUP_AUTHORIZATION_FAILED.
        if !access.allows(.read, .group(request.group)) {
            listener.logger.debug("Kafka OffsetCommit refused", metadata: ["peer": "\(peer)", "group": "\(request.group)", "error": "\(access.refusal(.read, .group(request.group)))"])
            for t in topics.indices { for p in topics[t].partitions.indices { topics[t].partitions[p].errorCode = KafkaErrorCode.groupAuthorizationFailed } }
            return KafkaResponse.offsetCommit(correlationID: correlationID, version: version, topics: topics)
        }
        for (t, topic) in request.topics.enumerated() {
            let partitionCount = (try? broker.describeTopic(topic.name).partitions.count) ?? 0
            let readable = access.allows(.read, .topic(topic.name))
            for (p, partition) in topic.partitions.enumerated() {
                if !readable {
                    topics[t].partitions[p].errorCode = KafkaErrorCode.topicAuthorizationFailed
                } else if partition.index < 0 || Int(partition.index) >= partitionCount {
                    topics[t].partitions[p].errorCode = KafkaErrorCode.unknownTopicOrPartition
                } else if (partition.metadata?.utf8.count ?? 0) > Self.maxOffsetMetadataBytes {
                    topics[t].partitions[p].errorCode = KafkaErrorCode.offsetMetadataTooLarge
                } else if partition.offset < 0 {
                    topics[t].partitions[p].errorCode = KafkaErrorCode.invalidCommitOffsetSize
                } else {
                    commits.append(OffsetCommit(topic: topic.name, partition: Int(partition.index), offset: partition.offset, metadata: partition.metadata ?? ""))
                    slots.append((t, p))
                }
            }
        }
        do {
            try Self.validateGroupID(request.group)
            try await broker.groups.commit(group: request.group, memberID: request.memberID, generation: Int(request.generation), offsets: commits)
        } catch {
            let code = Self.groupErrorCode(error)
            for slot in slots { topics[slot.0].partitions[slot.1].errorCode = code }
            if (try? Self.validateGroupID(request.group)) == nil {
                for t in topics.indices { for p in topics[t].partitions.indices { topics[t].partitions[p].errorCode = code } }
            }
            listener.logger.debug("Kafka OffsetCommit refused", metadata: ["peer": "\(peer)", "group": "\(request.group)", "error": "\(error)"])
        }
        return KafkaResponse.offsetCommit(correlationID: correlationID, version: version, topics: topics)
    }

    /// The committed offsets asked for (-1 where there is none), or every one of the group.
    private func offsetFetch(_ request: OffsetFetchRequest, correlationID: Int32, version: Int16) async -> ByteBuffer {
        var committed: [CommittedOffset]
        let access = self.access
        do {
            try Self.validateGroupID(request.group)
            try authorize(.describe, .group(request.group), access)
            committed = try await broker.committedOffsets(group: request.group)
            // Only the topics the user may describe.
            var describable: [String: Bool] = [:]
            committed = committed.filter { offset in
                if let known = describable[offset.topic] { return known }
                let allowed = access.allows(.describe, .topic(offset.topic))
                describable[offset.topic] = allowed
                return allowed
            }
        } catch {
            let code = Self.groupErrorCode(error)
            let topics = (request.topics ?? []).map { topic in
                (name: topic.name, partitions: topic.partitions.map { KafkaResponse.FetchedOffset(index: $0, offset: -1, metadata: "", errorCode: code) })
            }
            return KafkaResponse.offsetFetch(correlationID: correlationID, version: version, errorCode: code, topics: topics)
        }
        var topics: [(name: String, partitions: [KafkaResponse.FetchedOffset])] = []
        if let asked = request.topics {
            let byPartition = Dictionary(committed.map { (TopicPartition($0.topic, $0.partition), $0) }, uniquingKeysWith: { first, _ in first })
            for topic in asked {
                let describable = access.allows(.describe, .topic(topic.name))
                topics.append((topic.name, topic.partitions.map { index in
                    guard describable else {
                        return KafkaResponse.FetchedOffset(index: index, offset: -1, metadata: "", errorCode: KafkaErrorCode.topicAuthorizationFailed)
                    }
                    let found = byPartition[TopicPartition(topic.name, Int(index))]
                    return KafkaResponse.FetchedOffset(
                        index: index, offset: found?.offset ?? -1, metadata: found?.metadata ?? "", errorCode: KafkaErrorCode.none)
                }))
            }
        } else {
            for offset in committed {
                let entry = KafkaResponse.FetchedOffset(
                    index: Int32(clamping: offset.partition), offset: offset.offset, metadata: offset.metadata, errorCode: KafkaErrorCode.none)
                if topics.last?.name == offset.topic {
                    topics[topics.count - 1].partitions.append(entry)
                } else {
                    topics.append((offset.topic, [entry]))
                }
            }
        }
        return KafkaResponse.offsetFetch(correlationID: correlationID, version: version, errorCode: KafkaErrorCode.none, topics: topics)
    }

    private func offsetDelete(_ request: OffsetDeleteRequest, correlationID: Int32) async -> ByteBuffer {
        var topics = request.topics.map { topic in
            (name: topic.name, partitions: topic.partitions.map { KafkaResponse.PartitionResult(index: $0, errorCode: KafkaErrorCode.none) })
        }
        var deleting: [TopicPartition] = []
        var slots: [(Int, Int)] = []
        let access = self.access
        for (t, topic) in request.topics.enumerated() {
            let partitionCount = (try? broker.describeTopic(topic.name).partitions.count) ?? 0
            let readable = access.allows(.read, .topic(topic.name))
            for (p, index) in topic.partitions.enumerated() {
                if !readable {
                    topics[t].partitions[p].errorCode = KafkaErrorCode.topicAuthorizationFailed
                } else if index < 0 || Int(index) >= partitionCount {
                    topics[t].partitions[p].errorCode = KafkaErrorCode.unknownTopicOrPartition
                } else {
                    deleting.append(TopicPartition(topic.name, Int(index)))
                    slots.append((t, p))
                }
            }
        }
        do {
            try Self.validateGroupID(request.group)
            try authorize(.delete, .group(request.group), access)
            let outcomes = try await broker.groups.deleteOffsets(group: request.group, partitions: deleting)
            for (slot, outcome) in zip(slots, outcomes) {
                topics[slot.0].partitions[slot.1].errorCode = outcome.map { Self.groupErrorCode($0) } ?? KafkaErrorCode.none
            }
            return KafkaResponse.offsetDelete(correlationID: correlationID, errorCode: KafkaErrorCode.none, topics: topics)
        } catch {
            return KafkaResponse.offsetDelete(correlationID: correlationID, errorCode: Self.groupErrorCode(error), topics: [])
        }
    }

    // MARK: Admin

    /// Each group as Kafka describes it; an unknown group is `Dead` with no members, as Kafka
    /// answers it.
    private func describeGroups(_ groups: [String]) async -> [KafkaResponse.DescribedGroup] {
        var described: [KafkaResponse.DescribedGroup] = []
        let access = self.access
        for group in groups {
            do {
                try Self.validateGroupID(group)
                try authorize(.describe, .group(group), access)
                let description = try await broker.groups.describe(group: group)
                described.append(KafkaResponse.DescribedGroup(
                    errorCode: KafkaErrorCode.none, group: group, state: description.state.rawValue, protocolType: description.protocolType,
                    protocolName: description.protocolName,
                    members: description.members.map {
                        KafkaResponse.DescribedGroup.Member(
                            memberID: $0.memberID, instanceID: $0.instanceID, clientID: $0.clientID, clientHost: $0.clientHost,
                            metadata: $0.metadata, assignment: $0.assignmentBytes)
                    }))
            } catch let error as BrookError where error.code == .groupIDNotFound {
                described.append(KafkaResponse.DescribedGroup(
                    errorCode: KafkaErrorCode.none, group: group, state: GroupState.dead.rawValue, protocolType: "", protocolName: "", members: []))
            } catch {
                described.append(KafkaResponse.DescribedGroup(
                    errorCode: Self.groupErrorCode(error), group: group, state: "", protocolType: "", protocolName: "", members: []))
            }
        }
        return described
    }

    // MARK: Errors

    /// Kafka's rule for group ids: not empty (Brook also bounds the length).
    static func validateGroupID(_ group: String) throws {
        if group.isEmpty || group.utf8.count > 255 {
            throw KafkaGroupIDError(group: group)
        }
    }

    /// A coordinator error as Kafka's group APIs answer it.
    static func groupErrorCode(_ error: any Error) -> Int16 {
        if error is KafkaGroupIDError { return KafkaErrorCode.invalidGroupID }
        if let error = error as? BrookError, error.code == .brokerNotAvailable { return KafkaErrorCode.coordinatorNotAvailable }
        return KafkaErrorCode.code(for: error)
    }
}

/// A group id Kafka's group APIs refuse (INVALID_GROUP_ID).
struct KafkaGroupIDError: Error {
    var group: String
}
