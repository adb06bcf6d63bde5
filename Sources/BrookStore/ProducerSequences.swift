import BrookModel

/// What a batch's sequence numbers mean for the log.
public enum SequenceVerdict: Sendable, Hashable {
    /// The next batch: append it.
    case append
    /// A retry of a batch already written: its records are at these offsets already. Its append
    /// time is the one the topic stamped it with under LogAppendTime, when known (Kafka answers
    /// a retry with it).
    case duplicate(baseOffset: Int64, appendTime: Int64?)
}

/// The sequence state of one producer in one partition.
struct SequenceState: Sendable, Hashable {
    struct Batch: Sendable, Hashable {
        var first: Int32
        var last: Int32
        var baseOffset: Int64
        /// The time LogAppendTime stamped the batch with; nil under CreateTime, and for batches
        /// remembered before this was kept.
        var appendTime: Int64? = nil
    }

    /// How many recent batches are remembered for recognising retries (Kafka keeps 5).
    static let remembered = 5

    var epoch: Int32
    var lastSequence: Int32
    var recent: [Batch]

    var encodedRecent: String {
        recent.map { batch in
            "\(batch.first):\(batch.last):\(batch.baseOffset)" + (batch.appendTime.map { ":\($0)" } ?? "")
        }.joined(separator: ";")
    }

    static func decodeRecent(_ text: String) -> [Batch] {
        text.split(separator: ";").compactMap { entry in
            let parts = entry.split(separator: ":")
            guard parts.count == 3 || parts.count == 4, let first = Int32(parts[0]), let last = Int32(parts[1]), let base = Int64(parts[2]) else {
                return nil
            }
            return Batch(first: first, last: last, baseOffset: base, appendTime: parts.count == 4 ? Int64(parts[3]) : nil)
        }
    }

    /// Kafka's rules: a new epoch starts at sequence 0; otherwise the batch must follow the last
    /// one, or be one of the remembered recent batches (a retry).
    func verdict(epoch: Int32, first: Int32, last: Int32, partition: String) throws(BrookError) -> SequenceVerdict {
        if epoch < self.epoch {
            throw BrookError(.producerFenced, "producer epoch \(epoch) is older than epoch \(self.epoch): a newer instance of this producer fenced it")
        }
        if epoch > self.epoch {
            guard first == 0 else {
                throw BrookError(.outOfOrderSequenceNumber, "a new producer epoch must start \(partition) at sequence 0, not \(first)")
            }
            return .append
        }
        if let batch = recent.first(where: { $0.first == first && $0.last == last }) {
            return .duplicate(baseOffset: batch.baseOffset, appendTime: batch.appendTime)
        }
        let expected = lastSequence &+ 1
        guard first == expected else {
            if first <= lastSequence {
                throw BrookError(.outOfOrderSequenceNumber, "sequence \(first) in \(partition) was written before but is not one of the last \(Self.remembered) batches; expected \(expected)")
            }
            throw BrookError(.outOfOrderSequenceNumber, "sequence \(first) in \(partition) skips ahead: expected \(expected) (a batch was lost)")
        }
        return .append
    }

    mutating func record(epoch: Int32, first: Int32, last: Int32, baseOffset: Int64, appendTime: Int64? = nil) {
        if epoch != self.epoch { recent = [] }
        self.epoch = epoch
        lastSequence = last
        recent.append(Batch(first: first, last: last, baseOffset: baseOffset, appendTime: appendTime))
        if recent.count > Self.remembered { recent.removeFirst(recent.count - Self.remembered) }
    }
}
