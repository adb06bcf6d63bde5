/// When a produce request is answered, as Kafka's `acks`.
public enum Acks: String, Sendable, CaseIterable {
    /// `acks=0`: no answer; the request returns once queued, with offsets of -1.
    case noAck = "0"
    /// `acks=1`: once committed to the WAL; survives a process crash, not power loss.
    case leader = "1"
    /// `acks=all`: once the commit is fsynced; survives power loss.
    case all = "all"
}

/// Which offset a list-offsets request asks for.
public enum OffsetSpec: Sendable, Hashable {
    /// The log-start offset.
    case earliest
    /// The high watermark: the offset the next record will get.
    case latest
    /// The first record whose timestamp is at least this many ms since the epoch.
    case timestamp(Int64)
}

