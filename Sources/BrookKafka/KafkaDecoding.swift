import NIOCore

/// Kafka's request decoding as a connection runs it — framing, header, body, and the record
/// batches of a Produce — over any bytes, with nothing answered or written: for the fuzz target.
/// Malformed input is refused or lost; it must never trap.
public enum KafkaDecoding {
    /// Decodes every request in `bytes` (emptying it as a connection would) and returns how many
    /// were well formed; stops at the first that loses the framing.
    /// - Parameter maxDecompressedBytes: how far one batch may inflate.
    @discardableResult
    public static func decodeAll(_ bytes: inout ByteBuffer, maxRequestBytes: Int, maxDecompressedBytes: Int = 1 << 20) -> Int {
        var decoder = KafkaFrameDecoder(maxRequestBytes: maxRequestBytes)
        var requests = 0
        while let event = try? decoder.decode(buffer: &bytes) {
            switch event {
            case .lost:
                return requests
            case .unsupported:
                requests += 1
            case .request(_, let request, _):
                requests += 1
                if case .produce(let produce) = request {
                    for topic in produce.topics {
                        for partition in topic.partitions {
                            guard let records = partition.records else { continue }
                            _ = try? RecordBatchCodec.decode(records, partition: Int(partition.index), maxDecompressedBytes: maxDecompressedBytes)
                        }
                    }
                }
            }
        }
        return requests
    }
}
