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
