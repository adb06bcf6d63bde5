import NIOCore

/// A request header (v1; v2's tagged fields are skipped).
public struct KafkaRequestHeader: Sendable, Hashable {
    public var apiKey: Int16
    public var apiVersion: Int16
    public var correlationID: Int32
    public var clientID: String?
}

/// A decoded request of an API and version Brook serves.
enum KafkaRequest: Sendable {
    case apiVersions
    case saslHandshake(mechanism: String)
    /// SaslAuthenticate's auth_bytes, or (after a v0 handshake) a bare SASL token.
    case saslAuthenticate(ByteBuffer)
    case metadata(MetadataRequest)
    case produce(ProduceRequest)
    case fetch(KafkaFetchRequest)
    case listOffsets(ListOffsetsRequest)
    case initProducerID(InitProducerIDRequest)
    case createTopics(CreateTopicsRequest)
    case deleteTopics(DeleteTopicsRequest)
    case createPartitions(CreatePartitionsRequest)
    case describeConfigs(DescribeConfigsRequest)
    case alterConfigs(AlterConfigsRequest)
    case deleteRecords(DeleteRecordsRequest)
    case findCoordinator(FindCoordinatorRequest)
    case joinGroup(KafkaJoinGroupRequest)
    case syncGroup(SyncGroupRequest)
    case heartbeat(HeartbeatRequest)
    case leaveGroup(LeaveGroupRequest)
    case offsetCommit(OffsetCommitRequest)
    case offsetFetch(OffsetFetchRequest)
    case listGroups
    case describeGroups([String])
    case deleteGroups([String])
    case offsetDelete(OffsetDeleteRequest)
    case createAcls([KafkaAclCreation])
    case describeAcls(KafkaAclFilter)
    case deleteAcls([KafkaAclFilter])
}

struct FindCoordinatorRequest: Sendable {
    var key: String
    /// 0: a group, 1: a transactional id.
    var keyType: Int8
}

struct KafkaJoinGroupRequest: Sendable {
    var group: String
    var sessionTimeoutMs: Int32
    /// v0 has none: the session timeout serves.
    var rebalanceTimeoutMs: Int32
    var memberID: String
    var instanceID: String?
    var protocolType: String
    var protocols: [(name: String, metadata: [UInt8])]
}

struct SyncGroupRequest: Sendable {
    var group: String
    var generation: Int32
    var memberID: String
    var instanceID: String?
    var assignments: [(memberID: String, assignment: [UInt8])]
}

struct HeartbeatRequest: Sendable {
    var group: String
    var generation: Int32
    var memberID: String
    var instanceID: String?
}

struct LeaveGroupRequest: Sendable {
    var group: String
    /// v0–2: the one member id; v3: each member by id and instance id.
    var members: [(memberID: String, instanceID: String?)]
}

struct OffsetCommitRequest: Sendable {
    struct Partition: Sendable {
        var index: Int32
        var offset: Int64
        var metadata: String?
    }

    struct Topic: Sendable {
        var name: String
        var partitions: [Partition]
    }

    var group: String
    var generation: Int32
    var memberID: String
    var instanceID: String?
    var topics: [Topic]
}

struct OffsetFetchRequest: Sendable {
    var group: String
    /// nil (v2+): every committed offset of the group.
    var topics: [(name: String, partitions: [Int32])]?
}

struct OffsetDeleteRequest: Sendable {
    var group: String
    var topics: [(name: String, partitions: [Int32])]
}

struct DeleteRecordsRequest: Sendable {
    struct Partition: Sendable {
        var index: Int32
        /// Delete below this offset; -1: the high watermark.
        var offset: Int64
    }

    struct Topic: Sendable {
        var name: String
        var partitions: [Partition]
    }

    var topics: [Topic]
}

/// AlterConfigs (every config given; the others return to their defaults) or
/// IncrementalAlterConfigs (each config with its operation).
struct AlterConfigsRequest: Sendable {
    enum Operation: Int8, Sendable {
        case set = 0
        case delete = 1
        case append = 2
        case subtract = 3
    }

    struct Config: Sendable {
        var name: String
        /// nil for AlterConfigs, which replaces the whole set.
        var operation: Int8?
        var value: String?
    }

    struct Resource: Sendable {
        var type: Int8
        var name: String
        var configs: [Config]
    }

    var incremental: Bool
    var resources: [Resource]
    var validateOnly: Bool
}

struct CreateTopicsRequest: Sendable {
    struct Topic: Sendable {
        var name: String
        /// -1: the listener's default.
        var partitions: Int32
        var replicationFactor: Int16
        /// Manual replica assignments: one entry per partition.
        var assignedPartitions: Int
        var configs: [(name: String, value: String?)]
    }

    var topics: [Topic]
    var validateOnly: Bool
}

struct DeleteTopicsRequest: Sendable {
    var names: [String]
}

struct CreatePartitionsRequest: Sendable {
    struct Topic: Sendable {
        var name: String
        var count: Int32
    }

    var topics: [Topic]
    var validateOnly: Bool
}

struct DescribeConfigsRequest: Sendable {
    struct Resource: Sendable {
        var type: Int8
        var name: String
        /// nil: every config.
        var keys: [String]?
    }

    var resources: [Resource]
}

struct MetadataRequest: Sendable {
    /// nil: every topic.
    var topics: [String]?
    var allowAutoTopicCreation: Bool
}

struct ProduceRequest: Sendable {
    struct Partition: Sendable {
        var index: Int32
        var records: ByteBuffer?
    }

    struct Topic: Sendable {
        var name: String
        var partitions: [Partition]
    }

    var transactionalID: String?
    var acks: Int16
    var timeoutMs: Int32
    var topics: [Topic]
}

struct KafkaFetchRequest: Sendable {
    struct Partition: Sendable {
        var index: Int32
        var fetchOffset: Int64
        var maxBytes: Int32
    }

    struct Topic: Sendable {
        var name: String
        var partitions: [Partition]
    }

    var maxWaitMs: Int32
    var minBytes: Int32
    var maxBytes: Int32
    var isolationLevel: Int8
    var sessionID: Int32
    var sessionEpoch: Int32
    var topics: [Topic]
}

struct ListOffsetsRequest: Sendable {
    struct Partition: Sendable {
        var index: Int32
        var timestamp: Int64
    }

    struct Topic: Sendable {
        var name: String
        var partitions: [Partition]
    }

    var topics: [Topic]
}

struct InitProducerIDRequest: Sendable {
    var transactionalID: String?
    var transactionTimeoutMs: Int32
}

extension KafkaRequest {
    /// Decodes the body of a request of `api` at `version` (a version ``KafkaAPI/versions`` holds).
    static func decode(_ api: KafkaAPI, version: Int16, body: inout KafkaReader) throws -> KafkaRequest {
        let request: KafkaRequest
        switch api {
        case .apiVersions:
            request = .apiVersions
            body.buffer.moveReaderIndex(forwardBy: body.remaining)  // v0–2 have no body
        case .metadata:
            let topics: [String]?
            if version == 0 {
                // v0: an empty list means every topic.
                let names = try body.array { try $0.string() } ?? []
                topics = names.isEmpty ? nil : names
            } else {
                topics = try body.array { try $0.string() }
            }
            let allow = version >= 4 ? try body.bool() : true
            if version >= 8 {
                _ = try body.bool()  // include_cluster_authorized_operations
                _ = try body.bool()  // include_topic_authorized_operations
            }
            request = .metadata(MetadataRequest(topics: topics, allowAutoTopicCreation: allow))
        case .produce:
            let transactionalID = version >= 3 ? try body.nullableString() : nil
            let acks = try body.int16()
            let timeout = try body.int32()
            let topics = try body.array { topic in
                ProduceRequest.Topic(
                    name: try topic.string(),
                    partitions: try topic.array { partition in
                        ProduceRequest.Partition(index: try partition.int32(), records: try partition.nullableBytes())
                    } ?? [])
            } ?? []
            request = .produce(ProduceRequest(transactionalID: transactionalID, acks: acks, timeoutMs: timeout, topics: topics))
        case .fetch:
            _ = try body.int32()  // replica_id
            let maxWait = try body.int32()
            let minBytes = try body.int32()
            let maxBytes = try body.int32()
            let isolation = try body.int8()
            let sessionID = version >= 7 ? try body.int32() : 0
            let sessionEpoch = version >= 7 ? try body.int32() : -1
            let topics = try body.array { topic in
                KafkaFetchRequest.Topic(
                    name: try topic.string(),
                    partitions: try topic.array { partition in
                        let index = try partition.int32()
                        if version >= 9 { _ = try partition.int32() }  // current_leader_epoch
                        let offset = try partition.int64()
                        if version >= 5 { _ = try partition.int64() }  // log_start_offset (followers)
                        return KafkaFetchRequest.Partition(index: index, fetchOffset: offset, maxBytes: try partition.int32())
                    } ?? [])
            } ?? []
            if version >= 7 {
                _ = try body.array { forgotten in
                    _ = try forgotten.string()
                    _ = try forgotten.array { try $0.int32() }
                }
            }
            if version >= 11 { _ = try body.string() }  // rack_id
            request = .fetch(KafkaFetchRequest(
                maxWaitMs: maxWait, minBytes: minBytes, maxBytes: maxBytes, isolationLevel: isolation,
                sessionID: sessionID, sessionEpoch: sessionEpoch, topics: topics))
        case .listOffsets:
            _ = try body.int32()  // replica_id
            if version >= 2 { _ = try body.int8() }  // isolation_level
            let topics = try body.array { topic in
                ListOffsetsRequest.Topic(
                    name: try topic.string(),
                    partitions: try topic.array { partition in
                        let index = try partition.int32()
                        if version >= 4 { _ = try partition.int32() }  // current_leader_epoch
                        return ListOffsetsRequest.Partition(index: index, timestamp: try partition.int64())
                    } ?? [])
            } ?? []
            request = .listOffsets(ListOffsetsRequest(topics: topics))
        case .createTopics:
            let topics = try body.array { topic -> CreateTopicsRequest.Topic in
                let name = try topic.string()
                let partitions = try topic.int32()
                let replicationFactor = try topic.int16()
                // Manual assignments: only their count (the partitions) matters with one broker.
                let assignedPartitions = try topic.array { assignment -> Int32 in
                    let partition = try assignment.int32()
                    _ = try assignment.array { try $0.int32() }
                    return partition
                }?.count ?? 0
                let configs = try topic.array { config in (name: try config.string(), value: try config.nullableString()) } ?? []
                return CreateTopicsRequest.Topic(
                    name: name, partitions: partitions, replicationFactor: replicationFactor, assignedPartitions: assignedPartitions,
                    configs: configs)
            } ?? []
            _ = try body.int32()  // timeout_ms
            let validateOnly = version >= 1 ? try body.bool() : false
            request = .createTopics(CreateTopicsRequest(topics: topics, validateOnly: validateOnly))
        case .deleteTopics:
            let names = try body.array { try $0.string() } ?? []
            _ = try body.int32()  // timeout_ms
            request = .deleteTopics(DeleteTopicsRequest(names: names))
        case .createPartitions:
            let topics = try body.array { topic -> CreatePartitionsRequest.Topic in
                let name = try topic.string()
                let count = try topic.int32()
                _ = try topic.array { assignment in _ = try assignment.array { try $0.int32() } }
                return CreatePartitionsRequest.Topic(name: name, count: count)
            } ?? []
            _ = try body.int32()  // timeout_ms
            request = .createPartitions(CreatePartitionsRequest(topics: topics, validateOnly: try body.bool()))
        case .describeConfigs:
            let resources = try body.array { resource in
                DescribeConfigsRequest.Resource(
                    type: try resource.int8(), name: try resource.string(), keys: try resource.array { try $0.string() })
            } ?? []
            if version >= 1 { _ = try body.bool() }  // include_synonyms
            request = .describeConfigs(DescribeConfigsRequest(resources: resources))
        case .alterConfigs, .incrementalAlterConfigs:
            let incremental = api == .incrementalAlterConfigs
            let resources = try body.array { resource -> AlterConfigsRequest.Resource in
                let type = try resource.int8()
                let name = try resource.string()
                let configs = try resource.array { config -> AlterConfigsRequest.Config in
                    let key = try config.string()
                    let operation = incremental ? try config.int8() : nil
                    return AlterConfigsRequest.Config(name: key, operation: operation, value: try config.nullableString())
                } ?? []
                return AlterConfigsRequest.Resource(type: type, name: name, configs: configs)
            } ?? []
            request = .alterConfigs(AlterConfigsRequest(incremental: incremental, resources: resources, validateOnly: try body.bool()))
        case .deleteRecords:
            let topics = try body.array { topic in
                DeleteRecordsRequest.Topic(
                    name: try topic.string(),
                    partitions: try topic.array { partition in
                        DeleteRecordsRequest.Partition(index: try partition.int32(), offset: try partition.int64())
                    } ?? [])
            } ?? []
            _ = try body.int32()  // timeout_ms
            request = .deleteRecords(DeleteRecordsRequest(topics: topics))
        case .saslHandshake:
            request = .saslHandshake(mechanism: try body.string())
        case .saslAuthenticate:
            request = .saslAuthenticate(try body.nullableBytes() ?? ByteBuffer())
        case .initProducerID:
            request = .initProducerID(InitProducerIDRequest(
                transactionalID: try body.nullableString(), transactionTimeoutMs: try body.int32()))
        case .findCoordinator:
            request = .findCoordinator(FindCoordinatorRequest(key: try body.string(), keyType: version >= 1 ? try body.int8() : 0))
        case .joinGroup:
            let group = try body.string()
            let session = try body.int32()
            let rebalance = version >= 1 ? try body.int32() : session
            let memberID = try body.string()
            let instanceID = version >= 5 ? try body.nullableString() : nil
            let protocolType = try body.string()
            let protocols = try body.array { item in
                (name: try item.string(), metadata: try item.nullableBytes().map { Array(buffer: $0) } ?? [])
            } ?? []
            request = .joinGroup(KafkaJoinGroupRequest(
                group: group, sessionTimeoutMs: session, rebalanceTimeoutMs: rebalance, memberID: memberID, instanceID: instanceID,
                protocolType: protocolType, protocols: protocols))
        case .syncGroup:
            let group = try body.string()
            let generation = try body.int32()
            let memberID = try body.string()
            let instanceID = version >= 3 ? try body.nullableString() : nil
            let assignments = try body.array { item in
                (memberID: try item.string(), assignment: try item.nullableBytes().map { Array(buffer: $0) } ?? [])
            } ?? []
            request = .syncGroup(SyncGroupRequest(
                group: group, generation: generation, memberID: memberID, instanceID: instanceID, assignments: assignments))
        case .heartbeat:
            request = .heartbeat(HeartbeatRequest(
                group: try body.string(), generation: try body.int32(), memberID: try body.string(),
                instanceID: version >= 3 ? try body.nullableString() : nil))
        case .leaveGroup:
            let group = try body.string()
            let members: [(memberID: String, instanceID: String?)]
            if version >= 3 {
                members = try body.array { member in (memberID: try member.string(), instanceID: try member.nullableString()) } ?? []
            } else {
                members = [(memberID: try body.string(), instanceID: nil)]
            }
            request = .leaveGroup(LeaveGroupRequest(group: group, members: members))
        case .offsetCommit:
            let group = try body.string()
            let generation = try body.int32()
            let memberID = try body.string()
            let instanceID = version >= 7 ? try body.nullableString() : nil
            if (2...4).contains(version) { _ = try body.int64() }  // retention_time_ms: offsets.retention.minutes decides
            let topics = try body.array { topic in
                OffsetCommitRequest.Topic(
                    name: try topic.string(),
                    partitions: try topic.array { partition in
                        let index = try partition.int32()
                        let offset = try partition.int64()
                        if version >= 6 { _ = try partition.int32() }  // committed_leader_epoch
                        if version == 1 { _ = try partition.int64() }  // commit_timestamp: the broker stamps its own
                        return OffsetCommitRequest.Partition(index: index, offset: offset, metadata: try partition.nullableString())
                    } ?? [])
            } ?? []
            request = .offsetCommit(OffsetCommitRequest(
                group: group, generation: generation, memberID: memberID, instanceID: instanceID, topics: topics))
        case .offsetFetch:
            let group = try body.string()
            let topics = try body.array { topic in (name: try topic.string(), partitions: try topic.array { try $0.int32() } ?? []) }
            if topics == nil && version < 2 { throw KafkaDecodingError("OffsetFetch v\(version) has a null topic list; only v2+ may ask for every topic") }
            request = .offsetFetch(OffsetFetchRequest(group: group, topics: topics))
        case .listGroups:
            request = .listGroups
        case .describeGroups:
            let groups = try body.array { try $0.string() } ?? []
            if version >= 3 { _ = try body.bool() }  // include_authorized_operations
            request = .describeGroups(groups)
        case .deleteGroups:
            request = .deleteGroups(try body.array { try $0.string() } ?? [])
        case .offsetDelete:
            let group = try body.string()
            let topics = try body.array { topic in (name: try topic.string(), partitions: try topic.array { try $0.int32() } ?? []) } ?? []
            request = .offsetDelete(OffsetDeleteRequest(group: group, topics: topics))
        case .createAcls:
            request = try KafkaRequest.createAcls(&body, version: version)
        case .describeAcls:
            request = .describeAcls(try KafkaAclFilter.read(&body, version: version))
        case .deleteAcls:
            request = .deleteAcls(try body.array { try KafkaAclFilter.read(&$0, version: version) } ?? [])
        }
        if body.remaining > 0 {
            throw KafkaDecodingError("\(api.name) v\(version) request has \(body.remaining) bytes after its last field")
        }
        return request
    }
}
