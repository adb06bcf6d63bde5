/// Consumer-group defaults, defined once for the coordinator, the line protocol, the client and
/// the CLI. They are Kafka's, so a group behaves as Kafka users expect.
public enum GroupDefaults {
    /// `session.timeout.ms`: a member that sends nothing for this long is removed.
    public static let sessionTimeoutMs: Int64 = 45_000
    /// `rebalance.timeout.ms` (`max.poll.interval.ms`): how long a rebalance waits for members to
    /// rejoin, and for the leader's assignment.
    public static let rebalanceTimeoutMs: Int64 = 60_000
    /// `group.initial.rebalance.delay.ms`: how long a new group waits for more members.
    public static let initialRebalanceDelayMs: Int64 = 3_000
    /// `group.max.size`: members one group may have.
    public static let maxMembersPerGroup = 1_000
    /// `group.min.session.timeout.ms` and `group.max.session.timeout.ms`.
    public static let minSessionTimeoutMs: Int64 = 100
    public static let maxSessionTimeoutMs: Int64 = 1_800_000
    /// `offsets.retention.minutes` (7 days), in ms: a group with no members and no commit for
    /// this long is forgotten with its committed offsets.
    public static let offsetsRetentionMs: Int64 = 7 * 24 * 60 * 60 * 1_000
    /// `offsets.retention.check.interval.ms`: how often groups are checked for that.
    public static let offsetsRetentionCheckIntervalMs: Int64 = 600_000
    /// `heartbeat.interval.ms` of a client.
    public static let heartbeatIntervalMs: Int64 = 3_000
}
