/// Who computes a group's assignment.
public enum AssignmentMode: String, Sendable, CaseIterable {
    /// The coordinator, with a built-in ``AssignmentStrategy``.
    case coordinator
    /// The group leader (a client), as in Kafka's classic JoinGroup/SyncGroup flow, so custom
    /// strategies live in clients.
    case leader
}

/// How a group moves partitions in a rebalance.
public enum RebalanceProtocol: String, Sendable, CaseIterable {
    /// Every member gives up everything; nobody consumes until the new assignment.
    case eager
    /// Only partitions that move are revoked (first), the rest keep being consumed.
    case cooperative
}

/// Where a member starts in a partition that has no committed offset (`auto.offset.reset`).
public enum OffsetResetPolicy: String, Sendable, CaseIterable {
    case earliest, latest, none
}

/// Where a reset moves a group's committed offsets (`brook groups reset`, `GROUP RESET`).
public enum GroupResetTarget: Sendable, Hashable {
    case earliest, latest
    case offset(Int64)
    case timestamp(Int64)

    /// The forms users type, for messages.
    public static let allowed = "earliest, latest, offset=N or timestamp=MS"

    /// Reads `earliest`, `latest`, `offset=N` or `timestamp=MS`.
    /// - Throws: `INVALID_REQUEST` naming the value and the allowed forms.
    public init(_ text: String) throws(BrookError) {
        if text == "earliest" {
            self = .earliest
        } else if text == "latest" {
            self = .latest
        } else if text.hasPrefix("offset="), let offset = Int64(text.dropFirst(7)) {
            self = .offset(offset)
        } else if text.hasPrefix("timestamp="), let time = Int64(text.dropFirst(10)) {
            self = .timestamp(time)
        } else {
            throw BrookError(.invalidRequest, "'\(text)' is not a reset target: use \(Self.allowed)")
        }
    }

    /// The form `init(_:)` reads.
    public var text: String {
        switch self {
        case .earliest: "earliest"
        case .latest: "latest"
        case .offset(let offset): "offset=\(offset)"
        case .timestamp(let time): "timestamp=\(time)"
        }
    }
}

/// A group as a listing shows it.
public struct GroupListing: Sendable, Hashable {
    public var group: String
    public var state: GroupState
    /// Empty for a group with no members (only committed offsets).
    public var protocolType: String
    public var members: Int

    public init(group: String, state: GroupState, protocolType: String, members: Int) {
        self.group = group
        self.state = state
        self.protocolType = protocolType
        self.members = members
    }
}

/// Kafka's group states.
public enum GroupState: String, Sendable {
    case empty = "Empty"
    case preparingRebalance = "PreparingRebalance"
    case completingRebalance = "CompletingRebalance"
    case stable = "Stable"
    case dead = "Dead"
}

/// A member as the leader sees it in the join result.
public struct GroupMemberInfo: Sendable, Hashable {
    public var memberID: String
    public var instanceID: String?
    public var topics: [String]
    public var metadata: [UInt8]

    public init(memberID: String, instanceID: String?, topics: [String], metadata: [UInt8]) {
        self.memberID = memberID
        self.instanceID = instanceID
        self.topics = topics
        self.metadata = metadata
    }
}

/// The answer to a JoinGroup.
public struct JoinResult: Sendable, Hashable {
    public var generation: Int
    public var memberID: String
    public var leaderID: String
    public var protocolName: String
    /// For the leader in leader mode: every member with its subscription and metadata.
    public var members: [GroupMemberInfo]
    /// In coordinator mode: this member's partitions.
    public var assignment: [TopicPartition]?

    public init(generation: Int, memberID: String, leaderID: String, protocolName: String, members: [GroupMemberInfo], assignment: [TopicPartition]?) {
        self.generation = generation
        self.memberID = memberID
        self.leaderID = leaderID
        self.protocolName = protocolName
        self.members = members
        self.assignment = assignment
    }
}

/// A group as `describe` shows it.
public struct GroupDescription: Sendable, Hashable {
    public struct Member: Sendable, Hashable {
        public var memberID: String
        public var instanceID: String?
        public var clientID: String
        public var clientHost: String
        public var assignment: [TopicPartition]
        /// Its metadata for the group's protocol and its assignment, as the members sent them
        /// (Kafka's DescribeGroups returns both undecoded).
        public var metadata: [UInt8]
        public var assignmentBytes: [UInt8]

        public init(
            memberID: String, instanceID: String?, clientID: String, clientHost: String, assignment: [TopicPartition], metadata: [UInt8] = [],
            assignmentBytes: [UInt8] = []
        ) {
            self.memberID = memberID
            self.instanceID = instanceID
            self.clientID = clientID
            self.clientHost = clientHost
            self.assignment = assignment
            self.metadata = metadata
            self.assignmentBytes = assignmentBytes
        }
    }

    public struct Offset: Sendable, Hashable {
        public var partition: TopicPartition
        /// nil: no commit yet.
        public var committed: Int64?
        public var logEndOffset: Int64
        public var lag: Int64?
        public var memberID: String?

        public init(partition: TopicPartition, committed: Int64?, logEndOffset: Int64, lag: Int64?, memberID: String?) {
            self.partition = partition
            self.committed = committed
            self.logEndOffset = logEndOffset
            self.lag = lag
            self.memberID = memberID
        }
    }

    public var group: String
    public var state: GroupState
    public var generation: Int
    /// The members' protocol type (`consumer` for consumers); empty with no members.
    public var protocolType = ""
    public var protocolName: String
    public var mode: AssignmentMode?
    public var rebalance: RebalanceProtocol?
    public var members: [Member]
    public var offsets: [Offset]

    public init(group: String, state: GroupState, generation: Int, protocolName: String, mode: AssignmentMode?, rebalance: RebalanceProtocol?, members: [Member], offsets: [Offset]) {
        self.group = group
        self.state = state
        self.generation = generation
        self.protocolName = protocolName
        self.mode = mode
        self.rebalance = rebalance
        self.members = members
        self.offsets = offsets
    }
}

