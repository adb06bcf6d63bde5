import BrookModel

/// The Kafka APIs Brook serves, with the versions it implements. Every range stays below the
/// API's first flexible version (except none), so requests and replies use the classic
/// encodings; each range holds the exact versions older librdkafka (kcat's 2.0.2) checks for.
public enum KafkaAPI: Int16, CaseIterable, Sendable {
    case produce = 0
    case fetch = 1
    case listOffsets = 2
    case metadata = 3
    case offsetCommit = 8
    case offsetFetch = 9
    case findCoordinator = 10
    case joinGroup = 11
    case heartbeat = 12
    case leaveGroup = 13
    case syncGroup = 14
    case describeGroups = 15
    case listGroups = 16
    case saslHandshake = 17
    case apiVersions = 18
    case createTopics = 19
    case deleteTopics = 20
    case deleteRecords = 21
    case initProducerID = 22
    case describeAcls = 29
    case createAcls = 30
    case deleteAcls = 31
    case describeConfigs = 32
    case alterConfigs = 33
    case saslAuthenticate = 36
    case createPartitions = 37
    case deleteGroups = 42
    case incrementalAlterConfigs = 44
    case offsetDelete = 47

    /// The versions served, as ApiVersions advertises them.
    public var versions: ClosedRange<Int16> {
        switch self {
        case .produce: 0...8
        case .fetch: 4...11
        case .listOffsets: 1...5
        case .metadata: 0...8
        // v1 for sarama before 1.26 (Debian's 1.22 among them), which commits with v1 whatever
        // Kafka version it is told; v0 kept offsets in ZooKeeper and has no generation.
        case .offsetCommit: 1...7
        case .offsetFetch: 1...5
        case .findCoordinator: 0...2
        case .joinGroup: 0...5
        case .heartbeat: 0...3
        case .leaveGroup: 0...3
        case .syncGroup: 0...3
        case .describeGroups: 0...4
        case .listGroups: 0...2
        case .deleteGroups: 0...1
        case .offsetDelete: 0...0
        // v0 is followed by bare SASL tokens (Kafka's legacy framing), v1 by SaslAuthenticate;
        // librdkafka negotiates SASL only with a broker that lists both.
        case .saslHandshake: 0...1
        case .saslAuthenticate: 0...1
        case .apiVersions: 0...2
        case .createTopics: 0...4
        case .deleteTopics: 0...3
        case .deleteRecords: 0...1
        case .initProducerID: 0...1
        case .describeConfigs: 0...2
        case .alterConfigs: 0...1
        case .createPartitions: 0...1
        case .incrementalAlterConfigs: 0...0
        case .describeAcls, .createAcls, .deleteAcls: 0...1
        }
    }

    public var name: String {
        switch self {
        case .produce: "Produce"
        case .fetch: "Fetch"
        case .listOffsets: "ListOffsets"
        case .metadata: "Metadata"
        case .offsetCommit: "OffsetCommit"
        case .offsetFetch: "OffsetFetch"
        case .findCoordinator: "FindCoordinator"
        case .joinGroup: "JoinGroup"
        case .heartbeat: "Heartbeat"
        case .leaveGroup: "LeaveGroup"
        case .syncGroup: "SyncGroup"
        case .describeGroups: "DescribeGroups"
        case .listGroups: "ListGroups"
        case .deleteGroups: "DeleteGroups"
        case .offsetDelete: "OffsetDelete"
        case .saslHandshake: "SaslHandshake"
        case .saslAuthenticate: "SaslAuthenticate"
        case .apiVersions: "ApiVersions"
        case .createTopics: "CreateTopics"
        case .deleteTopics: "DeleteTopics"
        case .deleteRecords: "DeleteRecords"
        case .initProducerID: "InitProducerId"
        case .describeConfigs: "DescribeConfigs"
        case .alterConfigs: "AlterConfigs"
        case .createPartitions: "CreatePartitions"
        case .incrementalAlterConfigs: "IncrementalAlterConfigs"
        case .describeAcls: "DescribeAcls"
        case .createAcls: "CreateAcls"
        case .deleteAcls: "DeleteAcls"
        }
    }
}

/// Kafka's numeric error codes, and Brook's errors mapped onto them.
enum KafkaErrorCode {
    static let none: Int16 = 0
    static let unknownServerError: Int16 = -1
    static let offsetOutOfRange: Int16 = 1
    static let corruptMessage: Int16 = 2
    static let unknownTopicOrPartition: Int16 = 3
    static let brokerNotAvailable: Int16 = 8
    static let messageTooLarge: Int16 = 10
    static let invalidTopic: Int16 = 17
    static let recordListTooLarge: Int16 = 18
    static let invalidRequiredAcks: Int16 = 21
    static let offsetMetadataTooLarge: Int16 = 12
    static let coordinatorNotAvailable: Int16 = 15
    static let illegalGeneration: Int16 = 22
    static let inconsistentGroupProtocol: Int16 = 23
    static let invalidGroupID: Int16 = 24
    static let unknownMemberID: Int16 = 25
    static let invalidSessionTimeout: Int16 = 26
    static let rebalanceInProgress: Int16 = 27
    static let invalidCommitOffsetSize: Int16 = 28
    static let groupAuthorizationFailed: Int16 = 30
    static let nonEmptyGroup: Int16 = 68
    static let groupIDNotFound: Int16 = 69
    static let memberIDRequired: Int16 = 79
    static let groupMaxSizeReached: Int16 = 81
    static let fencedInstanceID: Int16 = 82
    static let groupSubscribedToTopic: Int16 = 86
    static let requestTimedOut: Int16 = 7
    static let topicAuthorizationFailed: Int16 = 29
    static let clusterAuthorizationFailed: Int16 = 31
    static let unsupportedSaslMechanism: Int16 = 33
    static let illegalSaslState: Int16 = 34
    static let unsupportedVersion: Int16 = 35
    static let topicAlreadyExists: Int16 = 36
    static let invalidPartitions: Int16 = 37
    static let invalidReplicationFactor: Int16 = 38
    static let invalidConfig: Int16 = 40
    static let invalidRequest: Int16 = 42
    static let outOfOrderSequenceNumber: Int16 = 45
    static let invalidProducerEpoch: Int16 = 47
    static let kafkaStorageError: Int16 = 56
    static let saslAuthenticationFailed: Int16 = 58
    static let unknownProducerID: Int16 = 59
    static let unsupportedCompressionType: Int16 = 76
    static let invalidRecord: Int16 = 87

    static func code(for error: any Error) -> Int16 {
        if let refusal = error as? KafkaAuthorizationError { return refusal.code }
        guard let error = error as? BrookError else { return unknownServerError }
        return code(for: error.code)
    }

    static func code(for code: BrookError.Code) -> Int16 {
        switch code {
        case .unknownTopic, .unknownPartition: unknownTopicOrPartition
        case .offsetOutOfRange: offsetOutOfRange
        case .messageTooLarge: messageTooLarge
        case .recordListTooLarge: recordListTooLarge
        case .invalidTopic: invalidTopic
        case .topicAlreadyExists: topicAlreadyExists
        case .invalidPartitions: invalidPartitions
        case .invalidConfig: invalidConfig
        case .invalidRequest: invalidRequest
        case .notAuthorized: topicAuthorizationFailed
        case .requestTimedOut: requestTimedOut
        case .storageError, .corruptDatabase: kafkaStorageError
        case .outOfOrderSequenceNumber: outOfOrderSequenceNumber
        case .producerFenced: invalidProducerEpoch
        case .unknownProducerID: unknownProducerID
        case .brokerNotAvailable: brokerNotAvailable
        case .corruptMessage: corruptMessage
        case .invalidRecord: invalidRecord
        case .unsupportedCompressionType: unsupportedCompressionType
        case .unsupportedVersion: unsupportedVersion
        case .illegalGeneration: illegalGeneration
        case .inconsistentGroupProtocol: inconsistentGroupProtocol
        case .unknownMemberID: unknownMemberID
        case .invalidSessionTimeout: invalidSessionTimeout
        case .rebalanceInProgress: rebalanceInProgress
        case .nonEmptyGroup: nonEmptyGroup
        case .groupIDNotFound: groupIDNotFound
        case .groupMaxSizeReached: groupMaxSizeReached
        case .fencedInstanceID: fencedInstanceID
        case .groupSubscribedToTopic: groupSubscribedToTopic
        case .saslAuthenticationFailed: saslAuthenticationFailed
        case .unsupportedSaslMechanism: unsupportedSaslMechanism
        case .illegalSaslState: illegalSaslState
        default: unknownServerError
        }
    }
}
