/// Access-control rules on Kafka's model (KIP-11, KIP-290): a principal may or may not perform an
/// operation on a resource named literally or by prefix, from a host. Deny wins over allow; a
/// resource no rule allows is refused; super users pass every check.
///
/// The raw values are Kafka's names, as `kafka-acls.sh` prints them and the file stores them.

/// What a rule protects.
public enum AclResourceType: String, CaseIterable, Sendable, Hashable, Comparable {
    case topic = "TOPIC"
    case group = "GROUP"
    case cluster = "CLUSTER"

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// How a rule's resource name matches: exactly (`*` matching every name), or as a prefix.
public enum AclPatternType: String, CaseIterable, Sendable, Hashable, Comparable {
    case literal = "LITERAL"
    case prefixed = "PREFIXED"

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// Kafka's operations. READ, WRITE, DELETE and ALTER imply DESCRIBE; ALTER_CONFIGS implies
/// DESCRIBE_CONFIGS; ALL is every operation.
public enum AclOperation: String, CaseIterable, Sendable, Hashable, Comparable {
    case all = "ALL"
    case read = "READ"
    case write = "WRITE"
    case create = "CREATE"
    case delete = "DELETE"
    case alter = "ALTER"
    case describe = "DESCRIBE"
    case clusterAction = "CLUSTER_ACTION"
    case describeConfigs = "DESCRIBE_CONFIGS"
    case alterConfigs = "ALTER_CONFIGS"
    case idempotentWrite = "IDEMPOTENT_WRITE"

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    /// The operations a rule may name for this one to be allowed (Kafka's implication table).
    public var allowedBy: Set<AclOperation> {
        switch self {
        case .describe: [.describe, .read, .write, .delete, .alter, .all]
        case .describeConfigs: [.describeConfigs, .alterConfigs, .all]
        default: [self, .all]
        }
    }

    /// Parses a name in any case, with `-` or `_` between words (`describe-configs`).
    public init?(name: String) {
        self.init(rawValue: String(name.uppercased().map { $0 == "-" ? "_" : $0 }))
    }
}

public enum AclPermission: String, CaseIterable, Sendable, Hashable, Comparable {
    case allow = "ALLOW"
    case deny = "DENY"

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A named resource a request touches.
public struct AclResource: Sendable, Hashable, CustomStringConvertible {
    /// The name Kafka gives its one cluster resource; Brook uses it too, so clients' rules carry over.
    public static let clusterName = "kafka-cluster"
    public static let cluster = AclResource(.cluster, clusterName)

    public let type: AclResourceType
    public let name: String

    public init(_ type: AclResourceType, _ name: String) {
        self.type = type
        self.name = name
    }

    public static func topic(_ name: String) -> AclResource { AclResource(.topic, name) }
    public static func group(_ name: String) -> AclResource { AclResource(.group, name) }

    public var description: String {
        type == .cluster ? "the cluster" : "\(type.rawValue.lowercased()) '\(name)'"
    }
}

/// One rule: `principal` may (or may not) perform `operation` on the resources `pattern` names,
/// from `host`.
public struct AclBinding: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// `User:NAME`, or `User:*` for every user.
    public var principal: String
    public var host: String
    public var resourceType: AclResourceType
    public var patternType: AclPatternType
    /// A name, a prefix, or `*` (LITERAL only) for every resource of the type.
    public var resourceName: String
    public var operation: AclOperation
    public var permission: AclPermission

    public init(
        principal: String, host: String = "*", resourceType: AclResourceType, patternType: AclPatternType = .literal,
        resourceName: String, operation: AclOperation, permission: AclPermission = .allow
    ) {
        self.principal = principal
        self.host = host
        self.resourceType = resourceType
        self.patternType = patternType
        self.resourceName = resourceName
        self.operation = operation
        self.permission = permission
    }

    /// Whether this rule's pattern covers `name`.
    public func covers(_ name: String) -> Bool {
        switch patternType {
        case .literal: resourceName == name || resourceName == "*"
        case .prefixed: name.hasPrefix(resourceName)
        }
    }

    /// Whether this rule speaks of `principal` (`User:NAME`) connecting from `host`.
    public func applies(to principal: String, host: String) -> Bool {
        (self.principal == principal || self.principal == "User:*") && (self.host == "*" || self.host == host)
    }

    /// Checks what Kafka's CreateAcls checks, with messages that say what to use instead.
    public func validate() throws(BrookError) {
        guard principal.hasPrefix("User:"), principal.count > 5 else {
            throw BrookError(.invalidRequest, "ACL principal '\(principal)' is not User:NAME: name a user as User:alice, or User:* for every user")
        }
        if host.isEmpty {
            throw BrookError(.invalidRequest, "ACL host is empty: use an IP address, or * for any host")
        }
        if resourceName.isEmpty {
            throw BrookError(.invalidRequest, "ACL resource name is empty: name a \(resourceType.rawValue.lowercased()), a prefix, or *")
        }
        if patternType == .prefixed && resourceName == "*" {
            throw BrookError(.invalidRequest, "ACL pattern PREFIXED '*' matches nothing special: use LITERAL '*' for every \(resourceType.rawValue.lowercased())")
        }
        if resourceType == .cluster && resourceName != AclResource.clusterName {
            throw BrookError(.invalidRequest, "ACL on the cluster names '\(resourceName)': the cluster resource is named '\(AclResource.clusterName)'")
        }
        if resourceName.utf8.count > 1_024 || principal.utf8.count > 1_024 || host.utf8.count > 1_024 {
            throw BrookError(.invalidRequest, "ACL field longer than 1024 bytes: shorten the principal, host or resource name")
        }
    }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        let left = [lhs.resourceType.rawValue, lhs.resourceName, lhs.patternType.rawValue, lhs.principal, lhs.host, lhs.operation.rawValue, lhs.permission.rawValue]
        let right = [rhs.resourceType.rawValue, rhs.resourceName, rhs.patternType.rawValue, rhs.principal, rhs.host, rhs.operation.rawValue, rhs.permission.rawValue]
        return left.lexicographicallyPrecedes(right)
    }

    public var description: String {
        "\(principal) \(permission.rawValue) \(operation.rawValue) on \(resourceType.rawValue) \(patternType.rawValue) '\(resourceName)' from \(host)"
    }
}

/// Selects rules to describe or delete, as Kafka's AclBindingFilter does: a nil field matches any
/// value. With `.match`, a name selects the rules that would apply to that resource (literal,
/// `*` and prefixes of it).
public struct AclFilter: Sendable, Hashable {
    public enum Pattern: Sendable, Hashable {
        case any
        case match
        case exactly(AclPatternType)
    }

    public var principal: String?
    public var host: String?
    public var resourceType: AclResourceType?
    public var pattern: Pattern
    public var resourceName: String?
    public var operation: AclOperation?
    public var permission: AclPermission?

    public init(
        principal: String? = nil, host: String? = nil, resourceType: AclResourceType? = nil, pattern: Pattern = .any,
        resourceName: String? = nil, operation: AclOperation? = nil, permission: AclPermission? = nil
    ) {
        self.principal = principal
        self.host = host
        self.resourceType = resourceType
        self.pattern = pattern
        self.resourceName = resourceName
        self.operation = operation
        self.permission = permission
    }

    /// Every rule.
    public static let all = AclFilter()

    public func matches(_ binding: AclBinding) -> Bool {
        if let principal, principal != binding.principal { return false }
        if let host, host != binding.host { return false }
        if let resourceType, resourceType != binding.resourceType { return false }
        if let operation, operation != binding.operation { return false }
        if let permission, permission != binding.permission { return false }
        switch pattern {
        case .any:
            return resourceName.map { $0 == binding.resourceName } ?? true
        case .exactly(let type):
            return type == binding.patternType && (resourceName.map { $0 == binding.resourceName } ?? true)
        case .match:
            guard let resourceName else { return true }
            return binding.covers(resourceName)
        }
    }
}

/// The rules in force, indexed by resource type, and the decision Kafka's authorizer makes.
public struct AclRules: Sendable {
    public let bindings: [AclBinding]
    private let byType: [AclResourceType: [AclBinding]]

    public init(_ bindings: [AclBinding]) {
        self.bindings = bindings.sorted()
        byType = Dictionary(grouping: self.bindings, by: \.resourceType)
    }

    /// Whether `principal` (`User:NAME`) connecting from `host` may perform `operation` on
    /// `resource`: no matching DENY, and a matching ALLOW for the operation or one implying it.
    public func allows(_ principal: String, host: String, _ operation: AclOperation, _ resource: AclResource) -> Bool {
        var allowed = false
        let allowing = operation.allowedBy
        for rule in byType[resource.type] ?? [] where rule.covers(resource.name) && rule.applies(to: principal, host: host) {
            switch rule.permission {
            case .deny:
                if rule.operation == operation || rule.operation == .all { return false }
            case .allow:
                if allowing.contains(rule.operation) { allowed = true }
            }
        }
        return allowed
    }

    /// Whether some rule lets `principal` perform `operation` on some resource of `type`, and
    /// no rule denies it on every one (Kafka's authorizeByResourceType, used for InitProducerId).
    public func allowsSome(_ principal: String, host: String, _ operation: AclOperation, on type: AclResourceType) -> Bool {
        let rules = (byType[type] ?? []).filter { $0.applies(to: principal, host: host) }
        let deniedEverywhere = rules.contains {
            $0.permission == .deny && ($0.operation == operation || $0.operation == .all)
                && (($0.patternType == .literal && $0.resourceName == "*") || ($0.patternType == .prefixed && $0.resourceName.isEmpty))
        }
        if deniedEverywhere { return false }
        let allowing = operation.allowedBy
        return rules.contains { $0.permission == .allow && allowing.contains($0.operation) }
    }
}
