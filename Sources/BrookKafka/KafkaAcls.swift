import BrookBroker
import BrookFrontEnd
import BrookModel
import NIOCore

/// A refusal by the ACLs, answered with the code Kafka gives the resource's type:
/// TOPIC_AUTHORIZATION_FAILED (29), GROUP_AUTHORIZATION_FAILED (30) or
/// CLUSTER_AUTHORIZATION_FAILED (31).
struct KafkaAuthorizationError: Error, CustomStringConvertible {
    var refusal: BrookError
    var resourceType: AclResourceType

    var code: Int16 {
        switch resourceType {
        case .topic: KafkaErrorCode.topicAuthorizationFailed
        case .group: KafkaErrorCode.groupAuthorizationFailed
        case .cluster: KafkaErrorCode.clusterAuthorizationFailed
        }
    }

    var description: String { refusal.description }
}

/// Kafka's numeric codes for the ACL vocabulary (org.apache.kafka.common.acl and .resource).
enum KafkaAclCodes {
    static func resourceType(_ code: Int8) -> AclResourceType? {
        switch code {
        case 2: .topic
        case 3: .group
        case 4: .cluster
        default: nil
        }
    }

    static func code(_ type: AclResourceType) -> Int8 {
        switch type {
        case .topic: 2
        case .group: 3
        case .cluster: 4
        }
    }

    static func patternType(_ code: Int8) -> AclPatternType? {
        switch code {
        case 3: .literal
        case 4: .prefixed
        default: nil
        }
    }

    static func code(_ pattern: AclPatternType) -> Int8 {
        switch pattern {
        case .literal: 3
        case .prefixed: 4
        }
    }

    static let operations: [(AclOperation, Int8)] = [
        (.all, 2), (.read, 3), (.write, 4), (.create, 5), (.delete, 6), (.alter, 7), (.describe, 8), (.clusterAction, 9),
        (.describeConfigs, 10), (.alterConfigs, 11), (.idempotentWrite, 12),
    ]

    static func operation(_ code: Int8) -> AclOperation? { operations.first { $0.1 == code }?.0 }
    static func code(_ operation: AclOperation) -> Int8 { operations.first { $0.0 == operation }!.1 }

    static func permission(_ code: Int8) -> AclPermission? {
        switch code {
        case 2: .deny
        case 3: .allow
        default: nil
        }
    }

    static func code(_ permission: AclPermission) -> Int8 { permission == .deny ? 2 : 3 }
}

/// One ACL as CreateAcls carries it, its codes not yet checked.
struct KafkaAclCreation: Sendable {
    var resourceType: Int8
    var resourceName: String
    var patternType: Int8
    var principal: String
    var host: String
    var operation: Int8
    var permission: Int8

    /// The rule, or why Kafka would refuse it (INVALID_REQUEST).
    func binding() throws(BrookError) -> AclBinding {
        guard let type = KafkaAclCodes.resourceType(resourceType) else {
            throw BrookError(.invalidRequest, "ACL resource type \(resourceType) is not one Brook has: use topic (2), group (3) or cluster (4)")
        }
        guard let pattern = KafkaAclCodes.patternType(patternType) else {
            throw BrookError(.invalidRequest, "ACL pattern type \(patternType) cannot be stored: use LITERAL (3) or PREFIXED (4)")
        }
        guard let operation = KafkaAclCodes.operation(operation) else {
            throw BrookError(.invalidRequest, "ACL operation \(operation) is not one Brook checks: use 2 (ALL) to 12 (IDEMPOTENT_WRITE)")
        }
        guard let permission = KafkaAclCodes.permission(permission) else {
            throw BrookError(.invalidRequest, "ACL permission \(permission) is not DENY (2) or ALLOW (3)")
        }
        let binding = AclBinding(
            principal: principal, host: host, resourceType: type, patternType: pattern, resourceName: resourceName, operation: operation,
            permission: permission)
        try binding.validate()
        return binding
    }
}

/// A DescribeAcls or DeleteAcls filter, its codes not yet checked.
struct KafkaAclFilter: Sendable {
    var resourceType: Int8
    var resourceName: String?
    var patternType: Int8
    var principal: String?
    var host: String?
    var operation: Int8
    var permission: Int8

    static func read(_ body: inout KafkaReader, version: Int16) throws -> KafkaAclFilter {
        KafkaAclFilter(
            resourceType: try body.int8(), resourceName: try body.nullableString(), patternType: version >= 1 ? try body.int8() : 3,
            principal: try body.nullableString(), host: try body.nullableString(), operation: try body.int8(), permission: try body.int8())
    }

    /// The filter, or nil when it can match nothing Brook stores (a type Brook has no rules
    /// for); throws INVALID_REQUEST for codes that are not filters at all.
    func filter() throws(BrookError) -> AclFilter? {
        var filter = AclFilter(principal: principal, host: host, resourceName: resourceName)
        switch resourceType {
        case 1: break
        case 2, 3, 4: filter.resourceType = KafkaAclCodes.resourceType(resourceType)
        case 5...7: return nil
        default: throw BrookError(.invalidRequest, "ACL filter resource type \(resourceType) is unknown: use 1 (ANY) to 7")
        }
        switch patternType {
        case 1: filter.pattern = .any
        case 2: filter.pattern = .match
        case 3: filter.pattern = .exactly(.literal)
        case 4: filter.pattern = .exactly(.prefixed)
        default: throw BrookError(.invalidRequest, "ACL filter pattern type \(patternType) is unknown: use 1 (ANY) to 4 (PREFIXED)")
        }
        switch operation {
        case 1: break
        case 2...12: filter.operation = KafkaAclCodes.operation(operation)
        case 13, 14: return nil
        default: throw BrookError(.invalidRequest, "ACL filter operation \(operation) is unknown: use 1 (ANY) to 14")
        }
        switch permission {
        case 1: break
        case 2, 3: filter.permission = KafkaAclCodes.permission(permission)
        default: throw BrookError(.invalidRequest, "ACL filter permission \(permission) is unknown: use 1 (ANY), 2 (DENY) or 3 (ALLOW)")
        }
        return filter
    }
}

extension KafkaRequest {
    static func createAcls(_ body: inout KafkaReader, version: Int16) throws -> KafkaRequest {
        .createAcls(try body.array { item in
            KafkaAclCreation(
                resourceType: try item.int8(), resourceName: try item.string(), patternType: version >= 1 ? try item.int8() : 3,
                principal: try item.string(), host: try item.string(), operation: try item.int8(), permission: try item.int8())
        } ?? [])
    }
}

extension KafkaConnection {
    /// CreateAcls, DescribeAcls and DeleteAcls v0–1: rules change through the running broker and
    /// hold for every connection's next request. Changing needs ALTER on the cluster, reading
    /// DESCRIBE, as in Kafka.
    func startAclRequest(_ request: KafkaRequest, header: KafkaRequestHeader, responder: RequestResponder) {
        let correlationID = header.correlationID
        let version = header.apiVersion
        let access = self.access
        switch request {
        case .createAcls(let creations):
            Task { [broker, listener, peer] in
                var results: [(Int16, String?)] = []
                if let refusal = Self.clusterRefusal(access, .alter) {
                    results = creations.map { _ in (refusal.code, refusal.refusal.message) }
                } else {
                    var valid: [AclBinding] = []
                    var slots: [Int] = []
                    results = creations.map { _ in (KafkaErrorCode.none, nil) }
                    for (index, creation) in creations.enumerated() {
                        do {
                            valid.append(try creation.binding())
                            slots.append(index)
                        } catch {
                            results[index] = (KafkaErrorCode.invalidRequest, (error as? BrookError)?.message ?? "\(error)")
                        }
                    }
                    do {
                        if !valid.isEmpty { try await broker.createAcls(valid) }
                        for binding in valid {
                            listener.logger.info("ACL added", metadata: ["by": "\(access.user ?? "ANONYMOUS")", "peer": "\(peer)", "acl": "\(binding)"])
                        }
                    } catch {
                        for slot in slots { results[slot] = (KafkaErrorCode.code(for: error), "\(error)") }
                    }
                }
                responder.succeed(.buffer(KafkaResponse.frame(correlationID: correlationID) { buffer in
                    buffer.writeInteger(Int32(0))  // throttle_time_ms
                    buffer.writeKafkaArrayCount(results.count)
                    for (code, message) in results {
                        buffer.writeInteger(code)
                        buffer.writeKafkaString(message)
                    }
                }))
            }
        case .describeAcls(let filter):
            var code = KafkaErrorCode.none
            var message: String?
            var bindings: [AclBinding] = []
            if let refusal = Self.clusterRefusal(access, .describe) {
                (code, message) = (refusal.code, refusal.refusal.message)
            } else {
                do {
                    if let filter = try filter.filter() { bindings = broker.acls(matching: filter) }
                } catch {
                    (code, message) = (KafkaErrorCode.invalidRequest, error.message)
                }
            }
            responder.succeed(.buffer(KafkaResponse.frame(correlationID: correlationID) { buffer in
                buffer.writeInteger(Int32(0))  // throttle_time_ms
                buffer.writeInteger(code)
                buffer.writeKafkaString(message)
                // Grouped by resource, as Kafka answers.
                var resources: [(AclResourceType, String, AclPatternType, [AclBinding])] = []
                for binding in bindings {
                    if let last = resources.last, last.0 == binding.resourceType, last.1 == binding.resourceName, last.2 == binding.patternType {
                        resources[resources.count - 1].3.append(binding)
                    } else {
                        resources.append((binding.resourceType, binding.resourceName, binding.patternType, [binding]))
                    }
                }
                buffer.writeKafkaArrayCount(resources.count)
                for (type, name, pattern, acls) in resources {
                    buffer.writeInteger(KafkaAclCodes.code(type))
                    buffer.writeKafkaString(name)
                    if version >= 1 { buffer.writeInteger(KafkaAclCodes.code(pattern)) }
                    buffer.writeKafkaArrayCount(acls.count)
                    for acl in acls {
                        buffer.writeKafkaString(acl.principal)
                        buffer.writeKafkaString(acl.host)
                        buffer.writeInteger(KafkaAclCodes.code(acl.operation))
                        buffer.writeInteger(KafkaAclCodes.code(acl.permission))
                    }
                }
            }))
        case .deleteAcls(let filters):
            Task { [broker, listener, peer] in
                var results: [(code: Int16, message: String?, deleted: [AclBinding])] = filters.map { _ in (KafkaErrorCode.none, nil, []) }
                if let refusal = Self.clusterRefusal(access, .alter) {
                    results = filters.map { _ in (refusal.code, refusal.refusal.message, []) }
                } else {
                    var valid: [AclFilter] = []
                    var slots: [Int] = []
                    for (index, filter) in filters.enumerated() {
                        do {
                            if let filter = try filter.filter() {
                                valid.append(filter)
                                slots.append(index)
                            }
                        } catch {
                            results[index] = (KafkaErrorCode.invalidRequest, (error as? BrookError)?.message ?? "\(error)", [])
                        }
                    }
                    do {
                        let deleted = valid.isEmpty ? [] : try await broker.deleteAcls(matching: valid)
                        for (slot, bindings) in zip(slots, deleted) {
                            results[slot].deleted = bindings
                            for binding in bindings {
                                listener.logger.info("ACL deleted", metadata: ["by": "\(access.user ?? "ANONYMOUS")", "peer": "\(peer)", "acl": "\(binding)"])
                            }
                        }
                    } catch {
                        for slot in slots { results[slot] = (KafkaErrorCode.code(for: error), "\(error)", []) }
                    }
                }
                responder.succeed(.buffer(KafkaResponse.frame(correlationID: correlationID) { buffer in
                    buffer.writeInteger(Int32(0))  // throttle_time_ms
                    buffer.writeKafkaArrayCount(results.count)
                    for result in results {
                        buffer.writeInteger(result.code)
                        buffer.writeKafkaString(result.message)
                        buffer.writeKafkaArrayCount(result.deleted.count)
                        for acl in result.deleted {
                            buffer.writeInteger(KafkaErrorCode.none)
                            buffer.writeKafkaString(nil)
                            buffer.writeInteger(KafkaAclCodes.code(acl.resourceType))
                            buffer.writeKafkaString(acl.resourceName)
                            if version >= 1 { buffer.writeInteger(KafkaAclCodes.code(acl.patternType)) }
                            buffer.writeKafkaString(acl.principal)
                            buffer.writeKafkaString(acl.host)
                            buffer.writeInteger(KafkaAclCodes.code(acl.operation))
                            buffer.writeInteger(KafkaAclCodes.code(acl.permission))
                        }
                    }
                }))
            }
        default:
            preconditionFailure("\(request) is not an ACL request")
        }
    }

    private static func clusterRefusal(_ access: Access, _ operation: AclOperation) -> KafkaAuthorizationError? {
        access.allows(operation, .cluster) ? nil
            : KafkaAuthorizationError(refusal: access.refusal(operation, .cluster), resourceType: .cluster)
    }

    // MARK: Checks

    /// This connection's user and address, for the ACL checks.
    var access: Access {
        Access(control: broker.access, user: authentication.withLock { $0.principal }, host: Access.host(ofPeer: peer))
    }

    /// Throws the refusal Kafka answers unless the connection may perform `operation` on `resource`.
    func authorize(_ operation: AclOperation, _ resource: AclResource, _ access: Access? = nil) throws(KafkaAuthorizationError) {
        let access = access ?? self.access
        guard access.allows(operation, resource) else {
            throw KafkaAuthorizationError(refusal: access.refusal(operation, resource), resourceType: resource.type)
        }
    }

    /// CREATE on the cluster, or on the topic itself, as Kafka checks CreateTopics and auto-creation.
    func mayCreate(_ topic: String, _ access: Access? = nil) -> Bool {
        let access = access ?? self.access
        return access.allows(.create, .cluster) || access.allows(.create, .topic(topic))
    }
}
