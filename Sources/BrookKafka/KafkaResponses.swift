import BrookBroker
import BrookModel
import NIOCore

/// Response framing: an int32 size, the response header (v0: the correlation id), the body.
enum KafkaResponse {
    static func frame(correlationID: Int32, capacity: Int = 256, _ body: (inout ByteBuffer) -> Void) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: capacity)
        buffer.writeInteger(Int32(0))
        buffer.writeInteger(correlationID)
        body(&buffer)
        buffer.setInteger(Int32(buffer.readableBytes - 4), at: buffer.readerIndex)
        return buffer
    }

    /// ApiVersions v0–2; `errorCode` 35 answers a version above Brook's with the v0 body, so the
    /// client can pick one it shares.
    static func apiVersions(correlationID: Int32, version: Int16, errorCode: Int16 = KafkaErrorCode.none) -> ByteBuffer {
        frame(correlationID: correlationID) { buffer in
            buffer.writeInteger(errorCode)
            buffer.writeKafkaArrayCount(KafkaAPI.allCases.count)
            for api in KafkaAPI.allCases {
                buffer.writeInteger(api.rawValue)
                buffer.writeInteger(api.versions.lowerBound)
                buffer.writeInteger(api.versions.upperBound)
            }
            if version >= 1 { buffer.writeInteger(Int32(0)) }  // throttle_time_ms
        }
    }

    static func saslHandshake(correlationID: Int32, errorCode: Int16, mechanisms: [String]) -> ByteBuffer {
        frame(correlationID: correlationID) { buffer in
            buffer.writeInteger(errorCode)
            buffer.writeKafkaArrayCount(mechanisms.count)
            for mechanism in mechanisms { buffer.writeKafkaString(mechanism) }
        }
    }

    /// SaslAuthenticate v0–1, or for a bare token (version -1, after a v0 handshake) the bare
    /// answer: a size and the token.
    static func saslAuthenticate(correlationID: Int32, version: Int16, errorCode: Int16, message: String?, bytes: [UInt8]) -> ByteBuffer {
        if version < 0 {
            var buffer = ByteBufferAllocator().buffer(capacity: 4 + bytes.count)
            buffer.writeInteger(Int32(bytes.count))
            buffer.writeBytes(bytes)
            return buffer
        }
        return frame(correlationID: correlationID, capacity: 64 + bytes.count) { buffer in
            buffer.writeInteger(errorCode)
            buffer.writeKafkaString(message)
            buffer.writeKafkaBytes(ByteBuffer(bytes: bytes))
            if version >= 1 { buffer.writeInteger(Int64(0)) }  // session_lifetime_ms: no re-authentication
        }
    }

    struct MetadataTopic {
        var errorCode: Int16
        var name: String
        var partitions: Int
    }

    static func metadata(
        correlationID: Int32, version: Int16, nodeID: Int32, host: String, port: Int32, clusterID: String, topics: [MetadataTopic]
    ) -> ByteBuffer {
        frame(correlationID: correlationID, capacity: 128 + topics.reduce(0) { $0 + 64 + $1.partitions * 40 }) { buffer in
            if version >= 3 { buffer.writeInteger(Int32(0)) }  // throttle_time_ms
            buffer.writeKafkaArrayCount(1)
            buffer.writeInteger(nodeID)
            buffer.writeKafkaString(host)
            buffer.writeInteger(port)
            if version >= 1 { buffer.writeKafkaString(nil) }  // rack
            if version >= 2 { buffer.writeKafkaString(clusterID) }
            if version >= 1 { buffer.writeInteger(nodeID) }  // controller_id
            buffer.writeKafkaArrayCount(topics.count)
            for topic in topics {
                buffer.writeInteger(topic.errorCode)
                buffer.writeKafkaString(topic.name)
                if version >= 1 { buffer.writeKafkaBool(false) }  // is_internal
                buffer.writeKafkaArrayCount(topic.partitions)
                for partition in 0..<topic.partitions {
                    buffer.writeInteger(KafkaErrorCode.none)
                    buffer.writeInteger(Int32(partition))
                    buffer.writeInteger(nodeID)  // leader
                    if version >= 7 { buffer.writeInteger(Int32(0)) }  // leader_epoch
                    buffer.writeKafkaArrayCount(1)  // replicas
                    buffer.writeInteger(nodeID)
                    buffer.writeKafkaArrayCount(1)  // in-sync replicas
                    buffer.writeInteger(nodeID)
                    if version >= 5 { buffer.writeKafkaArrayCount(0) }  // offline replicas
                }
                if version >= 8 { buffer.writeInteger(Int32(-2147483648)) }  // topic_authorized_operations: not asked
            }
            if version >= 8 { buffer.writeInteger(Int32(-2147483648)) }  // cluster_authorized_operations
        }
    }

    struct ProducedPartition {
        var index: Int32
        var errorCode: Int16 = KafkaErrorCode.none
        var baseOffset: Int64 = -1
        /// The broker's append time under LogAppendTime; -1 under CreateTime.
        var logAppendTime: Int64 = -1
        var logStartOffset: Int64 = -1
        var errorMessage: String?
    }

    static func produce(correlationID: Int32, version: Int16, topics: [(name: String, partitions: [ProducedPartition])]) -> ByteBuffer {
        frame(correlationID: correlationID) { buffer in
            buffer.writeKafkaArrayCount(topics.count)
            for topic in topics {
                buffer.writeKafkaString(topic.name)
                buffer.writeKafkaArrayCount(topic.partitions.count)
                for partition in topic.partitions {
                    buffer.writeInteger(partition.index)
                    buffer.writeInteger(partition.errorCode)
                    buffer.writeInteger(partition.baseOffset)
                    if version >= 2 { buffer.writeInteger(partition.logAppendTime) }
                    if version >= 5 { buffer.writeInteger(partition.logStartOffset) }
                    if version >= 8 {
                        buffer.writeKafkaArrayCount(0)  // record_errors
                        buffer.writeKafkaString(partition.errorMessage)
                    }
                }
            }
            if version >= 1 { buffer.writeInteger(Int32(0)) }  // throttle_time_ms
        }
    }

    struct FetchedPartition {
        var index: Int32
        var errorCode: Int16
        var highWatermark: Int64
        var logStartOffset: Int64
        /// The records, written into the reply as batches the way the topic serves them.
        var records: KafkaBatchSink?
        /// The topic's message.timestamp.type is LogAppendTime.
        var logAppendTime = false
        /// The codec of the topic's compression.type; 0 for none.
        var codec: Int16 = 0
    }

    static func fetch(correlationID: Int32, version: Int16, topics: [(name: String, partitions: [FetchedPartition])]) -> ByteBuffer {
        let recordBytes = topics.reduce(0) { $0 + $1.partitions.reduce(0) { $0 + ($1.records?.batchBytes ?? 0) + 64 } }
        return frame(correlationID: correlationID, capacity: 64 + recordBytes) { buffer in
            buffer.writeInteger(Int32(0))  // throttle_time_ms
            if version >= 7 {
                buffer.writeInteger(KafkaErrorCode.none)
                buffer.writeInteger(Int32(0))  // session_id: no fetch sessions, full fetches
            }
            buffer.writeKafkaArrayCount(topics.count)
            for topic in topics {
                buffer.writeKafkaString(topic.name)
                buffer.writeKafkaArrayCount(topic.partitions.count)
                for partition in topic.partitions {
                    buffer.writeInteger(partition.index)
                    buffer.writeInteger(partition.errorCode)
                    buffer.writeInteger(partition.highWatermark)
                    buffer.writeInteger(partition.highWatermark)  // last_stable_offset: no transactions
                    if version >= 5 { buffer.writeInteger(partition.logStartOffset) }
                    buffer.writeKafkaArrayCount(0)  // aborted_transactions
                    if version >= 11 { buffer.writeInteger(Int32(-1)) }  // preferred_read_replica
                    // Records are never null: empty bytes when there are none. The batches go
                    // straight into the reply, then their size before them.
                    let size = buffer.writerIndex
                    buffer.writeInteger(Int32(0))
                    partition.records?.write(into: &buffer, logAppendTime: partition.logAppendTime, codec: partition.codec)
                    buffer.setInteger(Int32(buffer.writerIndex - size - 4), at: size)
                }
            }
        }
    }

    struct ListedPartition {
        var index: Int32
        var errorCode: Int16
        var timestamp: Int64
        var offset: Int64
    }

    static func listOffsets(correlationID: Int32, version: Int16, topics: [(name: String, partitions: [ListedPartition])]) -> ByteBuffer {
        frame(correlationID: correlationID) { buffer in
            if version >= 2 { buffer.writeInteger(Int32(0)) }  // throttle_time_ms
            buffer.writeKafkaArrayCount(topics.count)
            for topic in topics {
                buffer.writeKafkaString(topic.name)
                buffer.writeKafkaArrayCount(topic.partitions.count)
                for partition in topic.partitions {
                    buffer.writeInteger(partition.index)
                    buffer.writeInteger(partition.errorCode)
                    buffer.writeInteger(partition.timestamp)
                    buffer.writeInteger(partition.offset)
                    if version >= 4 { buffer.writeInteger(Int32(0)) }  // leader_epoch
                }
            }
        }
    }

    static func initProducerID(correlationID: Int32, errorCode: Int16, producerID: Int64, epoch: Int16) -> ByteBuffer {
        frame(correlationID: correlationID) { buffer in
            buffer.writeInteger(Int32(0))  // throttle_time_ms
            buffer.writeInteger(errorCode)
            buffer.writeInteger(producerID)
            buffer.writeInteger(epoch)
        }
    }
}

extension KafkaResponse {
    /// A name, an error code and (where the version has one) its message: the result shape of
    /// CreateTopics, DeleteTopics and CreatePartitions.
    struct NamedResult {
        var name: String
        var errorCode: Int16
        var errorMessage: String?
    }

    static func createTopics(correlationID: Int32, version: Int16, results: [NamedResult]) -> ByteBuffer {
        frame(correlationID: correlationID) { buffer in
            if version >= 2 { buffer.writeInteger(Int32(0)) }  // throttle_time_ms
            buffer.writeKafkaArrayCount(results.count)
            for result in results {
                buffer.writeKafkaString(result.name)
                buffer.writeInteger(result.errorCode)
                if version >= 1 { buffer.writeKafkaString(result.errorMessage) }
            }
        }
    }

    static func deleteTopics(correlationID: Int32, version: Int16, results: [NamedResult]) -> ByteBuffer {
        frame(correlationID: correlationID) { buffer in
            if version >= 1 { buffer.writeInteger(Int32(0)) }  // throttle_time_ms
            buffer.writeKafkaArrayCount(results.count)
            for result in results {
                buffer.writeKafkaString(result.name)
                buffer.writeInteger(result.errorCode)
            }
        }
    }

    static func createPartitions(correlationID: Int32, results: [NamedResult]) -> ByteBuffer {
        frame(correlationID: correlationID) { buffer in
            buffer.writeInteger(Int32(0))  // throttle_time_ms
            buffer.writeKafkaArrayCount(results.count)
            for result in results {
                buffer.writeKafkaString(result.name)
                buffer.writeInteger(result.errorCode)
                buffer.writeKafkaString(result.errorMessage)
            }
        }
    }

    struct DescribedResource {
        var errorCode: Int16
        var errorMessage: String?
        var type: Int8
        var name: String
        var configs: [TopicConfigs.Entry]
    }

    static func describeConfigs(correlationID: Int32, version: Int16, resources: [DescribedResource]) -> ByteBuffer {
        frame(correlationID: correlationID) { buffer in
            buffer.writeInteger(Int32(0))  // throttle_time_ms
            buffer.writeKafkaArrayCount(resources.count)
            for resource in resources {
                buffer.writeInteger(resource.errorCode)
                buffer.writeKafkaString(resource.errorMessage)
                buffer.writeInteger(resource.type)
                buffer.writeKafkaString(resource.name)
                buffer.writeKafkaArrayCount(resource.configs.count)
                for config in resource.configs {
                    buffer.writeKafkaString(config.name)
                    buffer.writeKafkaString(config.value)
                    buffer.writeKafkaBool(config.readOnly)
                    if version == 0 {
                        buffer.writeKafkaBool(config.isDefault)
                    } else {
                        // DYNAMIC_TOPIC_CONFIG (1) when set on the topic, else DEFAULT_CONFIG (5).
                        buffer.writeInteger(Int8(config.isDefault ? 5 : 1))
                    }
                    buffer.writeKafkaBool(false)  // is_sensitive
                    if version >= 1 { buffer.writeKafkaArrayCount(0) }  // synonyms
                }
            }
        }
    }
}

extension KafkaResponse {
    /// AlterConfigs v0–1 and IncrementalAlterConfigs v0 share this response.
    static func alterConfigs(correlationID: Int32, resources: [(result: NamedResult, type: Int8)]) -> ByteBuffer {
        frame(correlationID: correlationID) { buffer in
            buffer.writeInteger(Int32(0))  // throttle_time_ms
            buffer.writeKafkaArrayCount(resources.count)
            for resource in resources {
                buffer.writeInteger(resource.result.errorCode)
                buffer.writeKafkaString(resource.result.errorMessage)
                buffer.writeInteger(resource.type)
                buffer.writeKafkaString(resource.result.name)
            }
        }
    }
}

extension KafkaResponse {
    struct DeletedPartition {
        var index: Int32
        var lowWatermark: Int64
        var errorCode: Int16
    }

    static func deleteRecords(correlationID: Int32, topics: [(name: String, partitions: [DeletedPartition])]) -> ByteBuffer {
        frame(correlationID: correlationID) { buffer in
            buffer.writeInteger(Int32(0))  // throttle_time_ms
            buffer.writeKafkaArrayCount(topics.count)
            for topic in topics {
                buffer.writeKafkaString(topic.name)
                buffer.writeKafkaArrayCount(topic.partitions.count)
                for partition in topic.partitions {
                    buffer.writeInteger(partition.index)
                    buffer.writeInteger(partition.lowWatermark)
                    buffer.writeInteger(partition.errorCode)
                }
            }
        }
    }
}

// MARK: Groups

extension KafkaResponse {
    /// FindCoordinator v0–2: this broker coordinates every group.
    static func findCoordinator(
        correlationID: Int32, version: Int16, errorCode: Int16, errorMessage: String?, nodeID: Int32, host: String, port: Int32
    ) -> ByteBuffer {
        frame(correlationID: correlationID) { buffer in
            if version >= 1 { buffer.writeInteger(Int32(0)) }  // throttle_time_ms
            buffer.writeInteger(errorCode)
            if version >= 1 { buffer.writeKafkaString(errorMessage) }
            buffer.writeInteger(errorCode == KafkaErrorCode.none ? nodeID : -1)
            buffer.writeKafkaString(errorCode == KafkaErrorCode.none ? host : "")
            buffer.writeInteger(errorCode == KafkaErrorCode.none ? port : -1)
        }
    }

    struct JoinedMember {
        var memberID: String
        var instanceID: String?
        var metadata: [UInt8]
    }

    /// JoinGroup v0–5. An error answer carries generation -1 and, for MEMBER_ID_REQUIRED, the
    /// member id to join with.
    static func joinGroup(
        correlationID: Int32, version: Int16, errorCode: Int16, generation: Int32 = -1, protocolName: String = "", leaderID: String = "",
        memberID: String = "", members: [JoinedMember] = []
    ) -> ByteBuffer {
        frame(correlationID: correlationID, capacity: 128 + members.reduce(0) { $0 + 64 + $1.metadata.count }) { buffer in
            if version >= 2 { buffer.writeInteger(Int32(0)) }  // throttle_time_ms
            buffer.writeInteger(errorCode)
            buffer.writeInteger(generation)
            buffer.writeKafkaString(protocolName)
            buffer.writeKafkaString(leaderID)
            buffer.writeKafkaString(memberID)
            buffer.writeKafkaArrayCount(members.count)
            for member in members {
                buffer.writeKafkaString(member.memberID)
                if version >= 5 { buffer.writeKafkaString(member.instanceID) }
                buffer.writeInteger(Int32(member.metadata.count))
                buffer.writeBytes(member.metadata)
            }
        }
    }

    /// SyncGroup v0–3: this member's assignment (empty bytes on an error).
    static func syncGroup(correlationID: Int32, version: Int16, errorCode: Int16, assignment: [UInt8]) -> ByteBuffer {
        frame(correlationID: correlationID, capacity: 32 + assignment.count) { buffer in
            if version >= 1 { buffer.writeInteger(Int32(0)) }  // throttle_time_ms
            buffer.writeInteger(errorCode)
            buffer.writeInteger(Int32(assignment.count))
            buffer.writeBytes(assignment)
        }
    }

    /// Heartbeat v0–3: only an error code.
    static func heartbeat(correlationID: Int32, version: Int16, errorCode: Int16) -> ByteBuffer {
        frame(correlationID: correlationID) { buffer in
            if version >= 1 { buffer.writeInteger(Int32(0)) }  // throttle_time_ms
            buffer.writeInteger(errorCode)
        }
    }

    struct LeftMember {
        var memberID: String
        var instanceID: String?
        var errorCode: Int16
    }

    /// LeaveGroup v0–3; v3 answers each member.
    static func leaveGroup(correlationID: Int32, version: Int16, errorCode: Int16, members: [LeftMember]) -> ByteBuffer {
        frame(correlationID: correlationID) { buffer in
            if version >= 1 { buffer.writeInteger(Int32(0)) }  // throttle_time_ms
            buffer.writeInteger(errorCode)
            if version >= 3 {
                buffer.writeKafkaArrayCount(members.count)
                for member in members {
                    buffer.writeKafkaString(member.memberID)
                    buffer.writeKafkaString(member.instanceID)
                    buffer.writeInteger(member.errorCode)
                }
            }
        }
    }

    /// The answer shape of OffsetCommit and OffsetDelete: each partition's error code.
    struct PartitionResult {
        var index: Int32
        var errorCode: Int16
    }

    /// OffsetCommit v1–7.
    static func offsetCommit(correlationID: Int32, version: Int16, topics: [(name: String, partitions: [PartitionResult])]) -> ByteBuffer {
        frame(correlationID: correlationID) { buffer in
            if version >= 3 { buffer.writeInteger(Int32(0)) }  // throttle_time_ms
            writePartitionResults(topics, into: &buffer)
        }
    }

    /// OffsetDelete v0.
    static func offsetDelete(correlationID: Int32, errorCode: Int16, topics: [(name: String, partitions: [PartitionResult])]) -> ByteBuffer {
        frame(correlationID: correlationID) { buffer in
            buffer.writeInteger(errorCode)
            buffer.writeInteger(Int32(0))  // throttle_time_ms
            writePartitionResults(topics, into: &buffer)
        }
    }

    private static func writePartitionResults(_ topics: [(name: String, partitions: [PartitionResult])], into buffer: inout ByteBuffer) {
        buffer.writeKafkaArrayCount(topics.count)
        for topic in topics {
            buffer.writeKafkaString(topic.name)
            buffer.writeKafkaArrayCount(topic.partitions.count)
            for partition in topic.partitions {
                buffer.writeInteger(partition.index)
                buffer.writeInteger(partition.errorCode)
            }
        }
    }

    struct FetchedOffset {
        var index: Int32
        /// -1: no commit.
        var offset: Int64
        var metadata: String?
        var errorCode: Int16
    }

    /// OffsetFetch v1–5.
    static func offsetFetch(
        correlationID: Int32, version: Int16, errorCode: Int16, topics: [(name: String, partitions: [FetchedOffset])]
    ) -> ByteBuffer {
        frame(correlationID: correlationID, capacity: 64 + topics.reduce(0) { $0 + 32 + $1.partitions.count * 24 }) { buffer in
            if version >= 3 { buffer.writeInteger(Int32(0)) }  // throttle_time_ms
            buffer.writeKafkaArrayCount(topics.count)
            for topic in topics {
                buffer.writeKafkaString(topic.name)
                buffer.writeKafkaArrayCount(topic.partitions.count)
                for partition in topic.partitions {
                    buffer.writeInteger(partition.index)
                    buffer.writeInteger(partition.offset)
                    if version >= 5 { buffer.writeInteger(Int32(-1)) }  // committed_leader_epoch
                    buffer.writeKafkaString(partition.metadata)
                    buffer.writeInteger(partition.errorCode)
                }
            }
            if version >= 2 { buffer.writeInteger(errorCode) }
        }
    }

    /// ListGroups v0–2.
    static func listGroups(correlationID: Int32, version: Int16, errorCode: Int16, groups: [(id: String, protocolType: String)]) -> ByteBuffer {
        frame(correlationID: correlationID) { buffer in
            if version >= 1 { buffer.writeInteger(Int32(0)) }  // throttle_time_ms
            buffer.writeInteger(errorCode)
            buffer.writeKafkaArrayCount(groups.count)
            for group in groups {
                buffer.writeKafkaString(group.id)
                buffer.writeKafkaString(group.protocolType)
            }
        }
    }

    struct DescribedGroup {
        struct Member {
            var memberID: String
            var instanceID: String?
            var clientID: String
            var clientHost: String
            var metadata: [UInt8]
            var assignment: [UInt8]
        }

        var errorCode: Int16
        var group: String
        var state: String
        var protocolType: String
        var protocolName: String
        var members: [Member]
    }

    /// DescribeGroups v0–4.
    static func describeGroups(correlationID: Int32, version: Int16, groups: [DescribedGroup]) -> ByteBuffer {
        frame(correlationID: correlationID, capacity: 256) { buffer in
            if version >= 1 { buffer.writeInteger(Int32(0)) }  // throttle_time_ms
            buffer.writeKafkaArrayCount(groups.count)
            for group in groups {
                buffer.writeInteger(group.errorCode)
                buffer.writeKafkaString(group.group)
                buffer.writeKafkaString(group.state)
                buffer.writeKafkaString(group.protocolType)
                buffer.writeKafkaString(group.protocolName)
                buffer.writeKafkaArrayCount(group.members.count)
                for member in group.members {
                    buffer.writeKafkaString(member.memberID)
                    if version >= 4 { buffer.writeKafkaString(member.instanceID) }
                    buffer.writeKafkaString(member.clientID)
                    buffer.writeKafkaString(member.clientHost)
                    buffer.writeInteger(Int32(member.metadata.count))
                    buffer.writeBytes(member.metadata)
                    buffer.writeInteger(Int32(member.assignment.count))
                    buffer.writeBytes(member.assignment)
                }
                if version >= 3 { buffer.writeInteger(Int32(-2147483648)) }  // authorized_operations: not asked
            }
        }
    }

    /// DeleteGroups v0–1.
    static func deleteGroups(correlationID: Int32, results: [(group: String, errorCode: Int16)]) -> ByteBuffer {
        frame(correlationID: correlationID) { buffer in
            buffer.writeInteger(Int32(0))  // throttle_time_ms
            buffer.writeKafkaArrayCount(results.count)
            for result in results {
                buffer.writeKafkaString(result.group)
                buffer.writeInteger(result.errorCode)
            }
        }
    }
}
