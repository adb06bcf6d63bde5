/// An error a Brook user sees: a stable code in Kafka's vocabulary and a message that names the
/// thing and the limit.
///
/// New codes are added as static members of ``Code``, so adding one never breaks a caller that
/// switches on the ones it knows.
public struct BrookError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A stable, machine-readable error token, e.g. `UNKNOWN_TOPIC`.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The topic does not exist.
        public static let unknownTopic = Code(rawValue: "UNKNOWN_TOPIC")
        /// The partition index is outside the topic's partitions.
        public static let unknownPartition = Code(rawValue: "UNKNOWN_PARTITION")
        /// The topic name is not valid.
        public static let invalidTopic = Code(rawValue: "INVALID_TOPIC")
        /// A topic of that name (or of a name equal ignoring case) exists.
        public static let topicAlreadyExists = Code(rawValue: "TOPIC_ALREADY_EXISTS")
        /// The partition count is not valid (below 1, above the limit, or fewer than now).
        public static let invalidPartitions = Code(rawValue: "INVALID_PARTITIONS")
        /// A topic configuration value is not valid.
        public static let invalidConfig = Code(rawValue: "INVALID_CONFIG")
        /// The offset is below the log-start offset or above the high watermark.
        public static let offsetOutOfRange = Code(rawValue: "OFFSET_OUT_OF_RANGE")
        /// A record is larger than the topic's `max.message.bytes`.
        public static let messageTooLarge = Code(rawValue: "MESSAGE_TOO_LARGE")
        /// A batch holds more records or bytes than allowed.
        public static let recordListTooLarge = Code(rawValue: "RECORD_LIST_TOO_LARGE")
        /// The request is malformed or its arguments are out of range.
        public static let invalidRequest = Code(rawValue: "INVALID_REQUEST")
        /// The SQL is not valid.
        public static let invalidSQL = Code(rawValue: "INVALID_SQL")
        /// The operation is not allowed, e.g. SQL that would write.
        public static let notAuthorized = Code(rawValue: "NOT_AUTHORIZED")
        /// A SQL result holds more bytes than `max_sql_result_bytes`.
        public static let resultTooLarge = Code(rawValue: "RESULT_TOO_LARGE")
        /// As many SQL queries as `max_sql_queued` are already waiting or running.
        public static let sqlQueueFull = Code(rawValue: "SQL_QUEUE_FULL")
        /// The request took longer than its time limit.
        public static let requestTimedOut = Code(rawValue: "REQUEST_TIMED_OUT")
        /// The database file could not be read or written (I/O error, disk full, locked).
        public static let storageError = Code(rawValue: "STORAGE_ERROR")
        /// The database file is damaged.
        public static let corruptDatabase = Code(rawValue: "CORRUPT_DATABASE")
        /// The file is a SQLite database that Brook did not create, or not a database at all.
        public static let notABrookDatabase = Code(rawValue: "NOT_A_BROOK_DATABASE")
        /// The file was written by a newer Brook whose schema this build does not know.
        public static let unsupportedVersion = Code(rawValue: "UNSUPPORTED_VERSION")
        /// The group is rebalancing: rejoin (JOIN) to get the new assignment.
        public static let rebalanceInProgress = Code(rawValue: "REBALANCE_IN_PROGRESS")
        /// The request carries a generation that is not the group's current one.
        public static let illegalGeneration = Code(rawValue: "ILLEGAL_GENERATION")
        /// The member id is not (or no longer) a member of the group.
        public static let unknownMemberID = Code(rawValue: "UNKNOWN_MEMBER_ID")
        /// Another member with the same group.instance.id replaced this one.
        public static let fencedInstanceID = Code(rawValue: "FENCED_INSTANCE_ID")
        /// The member's assignment mode or strategies do not match the group's.
        public static let inconsistentGroupProtocol = Code(rawValue: "INCONSISTENT_GROUP_PROTOCOL")
        /// The group has live members, so it cannot be reset or deleted.
        public static let nonEmptyGroup = Code(rawValue: "NON_EMPTY_GROUP")
        /// The group does not exist.
        public static let groupIDNotFound = Code(rawValue: "GROUP_ID_NOT_FOUND")
        /// A session or rebalance timeout outside the allowed range.
        public static let invalidSessionTimeout = Code(rawValue: "INVALID_SESSION_TIMEOUT")
        /// The group has reached its member limit.
        public static let groupMaxSizeReached = Code(rawValue: "GROUP_MAX_SIZE_REACHED")
        /// A group's offsets of a topic cannot be deleted while its members subscribe to it.
        public static let groupSubscribedToTopic = Code(rawValue: "GROUP_SUBSCRIBED_TO_TOPIC")
        /// No committed offset and `auto.offset.reset=none`.
        public static let noOffset = Code(rawValue: "NO_OFFSET")
        /// A producer's sequence number skips ahead: a batch before it was lost.
        public static let outOfOrderSequenceNumber = Code(rawValue: "OUT_OF_ORDER_SEQUENCE_NUMBER")
        /// A producer epoch older than the current one: a newer instance of the producer fenced it.
        public static let producerFenced = Code(rawValue: "PRODUCER_FENCED")
        /// The producer id is not one the broker issued.
        public static let unknownProducerID = Code(rawValue: "UNKNOWN_PRODUCER_ID")
        /// The server already holds its maximum number of connections.
        public static let tooManyConnections = Code(rawValue: "TOO_MANY_CONNECTIONS")
        /// The connection was idle past the server's idle timeout and is being closed.
        public static let idleTimeout = Code(rawValue: "IDLE_TIMEOUT")
        /// The broker is shutting down or closed.
        public static let brokerNotAvailable = Code(rawValue: "BROKER_NOT_AVAILABLE")
        /// A record batch's checksum or framing is wrong: it was damaged on the way.
        public static let corruptMessage = Code(rawValue: "CORRUPT_MESSAGE")
        /// A record batch Brook does not take: transactional or control batches, or an old
        /// message format.
        public static let invalidRecord = Code(rawValue: "INVALID_RECORD")
        /// A record batch compressed with a codec Brook cannot decode.
        public static let unsupportedCompressionType = Code(rawValue: "UNSUPPORTED_COMPRESSION_TYPE")
        /// Something unexpected failed inside the broker.
        public static let unknownServerError = Code(rawValue: "UNKNOWN_SERVER_ERROR")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue) \(message)" }
}

extension BrookError {
    public static func unknownTopic(_ name: String) -> BrookError {
        BrookError(.unknownTopic, "topic '\(name)' does not exist")
    }
}
