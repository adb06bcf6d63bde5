import BrookModel
import Foundation
import NIOCore

/// ACL commands: `ACL ADD`, `ACL LIST`, `ACL DELETE` (docs/protocol.md, "ACL").
public enum AclCommand: Hashable, Sendable {
    case add(AclBinding)
    case list(AclFilter)
    case delete(AclFilter)
}

/// User commands through a running server, for super users (docs/protocol.md, "USER"). The
/// client derives the SCRAM verifiers; the password never crosses the wire.
public enum UserCommand: Hashable, Sendable {
    case add(name: String, isSuper: Bool, credentials: [ScramCredential])
    case passwd(name: String, credentials: [ScramCredential])
    case delete(String)
    case list
}

/// A user as `USER LIST` shows it: never a verifier.
public struct UserSummary: Hashable, Sendable {
    public var name: String
    public var isSuper: Bool
    public var mechanisms: [ScramMechanism]
    public var iterations: [Int]

    public init(name: String, isSuper: Bool, mechanisms: [ScramMechanism], iterations: [Int]) {
        self.name = name
        self.isSuper = isSuper
        self.mechanisms = mechanisms
        self.iterations = iterations
    }

    public init(_ user: BrookUser) {
        self.init(
            name: user.name, isSuper: user.isSuper, mechanisms: user.credentials.map(\.mechanism),
            iterations: Set(user.credentials.map(\.iterations)).sorted())
    }
}

enum AccessRequests {
    static let aclUsage =
        "ACL ADD principal=User:NAME resource=TOPIC:NAME|GROUP:NAME|CLUSTER operation=OP [pattern=LITERAL|PREFIXED] [permission=ALLOW|DENY] [host=IP|*], ACL LIST [filter…], ACL DELETE [filter…]"
    static let filterOptions: Set<String> = ["principal", "resource", "pattern", "operation", "permission", "host"]

    static func parseAcl(_ line: Line) throws -> Request {
        switch try line.subcommand(1, "a subcommand: \(aclUsage)") {
        case "ADD":
            try line.expect(maxWords: 2, options: filterOptions, usage: aclUsage)
            guard let principal = line.option("principal"), let resource = line.option("resource"), let operation = line.option("operation") else {
                throw BrookError(.invalidRequest, "ACL ADD needs principal=, resource= and operation=: \(aclUsage)")
            }
            let (type, name) = try parseResource(resource)
            let binding = AclBinding(
                principal: principal, host: line.option("host") ?? "*", resourceType: type,
                patternType: try line.option("pattern").map(parsePatternType) ?? .literal,
                resourceName: name ?? "*", operation: try parseOperation(operation),
                permission: try line.option("permission").map(parsePermission) ?? .allow)
            try binding.validate()
            return .acl(.add(binding))
        case "LIST":
            try line.expect(maxWords: 2, options: filterOptions, usage: aclUsage)
            return .acl(.list(try parseFilter(line)))
        case "DELETE":
            try line.expect(maxWords: 2, options: filterOptions, usage: aclUsage)
            return .acl(.delete(try parseFilter(line)))
        case let other:
            throw BrookError(.invalidRequest, "unknown ACL subcommand '\(Line.printable(other, limit: 32))': \(aclUsage)")
        }
    }

    static func parseFilter(_ line: Line) throws -> AclFilter {
        var filter = AclFilter(principal: line.option("principal"), host: line.option("host"))
        if let resource = line.option("resource") {
            let (type, name) = try parseResource(resource)
            filter.resourceType = type
            filter.resourceName = name
        }
        switch line.option("pattern")?.uppercased() {
        case nil, "ANY": filter.pattern = .any
        case "MATCH": filter.pattern = .match
        case let text?: filter.pattern = .exactly(try parsePatternType(text))
        }
        filter.operation = try line.option("operation").map(parseOperation)
        filter.permission = try line.option("permission").map(parsePermission)
        return filter
    }

    /// `TOPIC:NAME`, `GROUP:NAME`, `CLUSTER`; a type alone (`TOPIC`) names no resource.
    static func parseResource(_ text: String) throws -> (AclResourceType, String?) {
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard let type = AclResourceType(rawValue: parts[0].uppercased()) else {
            throw BrookError(.invalidRequest, "resource=\(Line.printable(text)) is invalid: use TOPIC:NAME, GROUP:NAME or CLUSTER")
        }
        if type == .cluster { return (type, AclResource.clusterName) }
        return (type, parts.count == 2 ? String(parts[1]) : nil)
    }

    static func parseOperation(_ text: String) throws -> AclOperation {
        guard let operation = AclOperation(name: text) else {
            throw BrookError(
                .invalidRequest,
                "operation=\(Line.printable(text)) is invalid: use one of \(AclOperation.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return operation
    }

    static func parsePatternType(_ text: String) throws -> AclPatternType {
        guard let pattern = AclPatternType(rawValue: text.uppercased()) else {
            throw BrookError(.invalidRequest, "pattern=\(Line.printable(text)) is invalid: use LITERAL or PREFIXED")
        }
        return pattern
    }

    static func parsePermission(_ text: String) throws -> AclPermission {
        guard let permission = AclPermission(rawValue: text.uppercased()) else {
            throw BrookError(.invalidRequest, "permission=\(Line.printable(text)) is invalid: use ALLOW or DENY")
        }
        return permission
    }

    static func encode(_ command: AclCommand, into buffer: inout ByteBuffer) {
        switch command {
        case .add(let binding):
            buffer.writeLine("ACL ADD " + render(binding))
        case .list(let filter):
            buffer.writeLine("ACL LIST" + render(filter))
        case .delete(let filter):
            buffer.writeLine("ACL DELETE" + render(filter))
        }
    }

    static func render(_ binding: AclBinding) -> String {
        let resource = binding.resourceType == .cluster ? "CLUSTER" : "\(binding.resourceType.rawValue):\(binding.resourceName)"
        return "principal=\(binding.principal) host=\(binding.host) resource=\(resource) pattern=\(binding.patternType.rawValue) "
            + "operation=\(binding.operation.rawValue) permission=\(binding.permission.rawValue)"
    }

    static func render(_ filter: AclFilter) -> String {
        var options: [String] = []
        if let principal = filter.principal { options.append("principal=\(principal)") }
        if let host = filter.host { options.append("host=\(host)") }
        if let type = filter.resourceType {
            options.append("resource=" + (type == .cluster ? "CLUSTER" : type.rawValue + (filter.resourceName.map { ":\($0)" } ?? "")))
        }
        switch filter.pattern {
        case .any: break
        case .match: options.append("pattern=MATCH")
        case .exactly(let type): options.append("pattern=\(type.rawValue)")
        }
        if let operation = filter.operation { options.append("operation=\(operation.rawValue)") }
        if let permission = filter.permission { options.append("permission=\(permission.rawValue)") }
        return options.map { " " + $0 }.joined()
    }

    // MARK: Users

    static let userUsage =
        "USER ADD <name> [super=true] scram-sha-256=ITERATIONS,SALT,STOREDKEY,SERVERKEY scram-sha-512=… (base64), USER PASSWD <name> scram-sha-256=… scram-sha-512=…, USER DELETE <name>, USER LIST"
    static let credentialOptions: Set<String> = ["scram-sha-256", "scram-sha-512"]

    static func parseUser(_ line: Line) throws -> Request {
        switch try line.subcommand(1, "a subcommand: \(userUsage)") {
        case "ADD":
            try line.expect(maxWords: 3, options: credentialOptions.union(["super"]), usage: userUsage)
            let name = try line.word(2, "a user name: \(userUsage)")
            try UserName.validate(name)
            let isSuper: Bool
            switch line.option("super") {
            case nil, "false", "0": isSuper = false
            case "true", "1": isSuper = true
            case let other?: throw BrookError(.invalidRequest, "super=\(Line.printable(other)) is invalid: use super=true or super=false")
            }
            return .user(.add(name: name, isSuper: isSuper, credentials: try credentials(line)))
        case "PASSWD":
            try line.expect(maxWords: 3, options: credentialOptions, usage: userUsage)
            return .user(.passwd(name: try line.word(2, "a user name: \(userUsage)"), credentials: try credentials(line)))
        case "DELETE":
            try line.expect(maxWords: 3, options: [], usage: userUsage)
            return .user(.delete(try line.word(2, "a user name: \(userUsage)")))
        case "LIST":
            try line.expect(maxWords: 2, options: [], usage: userUsage)
            return .user(.list)
        case let other:
            throw BrookError(.invalidRequest, "unknown USER subcommand '\(Line.printable(other, limit: 32))': \(userUsage)")
        }
    }

    /// One verifier per mechanism, each `ITERATIONS,SALT,STOREDKEY,SERVERKEY` with base64 bytes.
    static func credentials(_ line: Line) throws -> [ScramCredential] {
        var credentials: [ScramCredential] = []
        for mechanism in ScramMechanism.allCases {
            guard let text = line.option(mechanism.rawValue.lowercased()) else {
                throw BrookError(.invalidRequest, "\(mechanism.rawValue.lowercased())= is missing: send a verifier for each of SCRAM-SHA-256 and SCRAM-SHA-512")
            }
            let parts = text.split(separator: ",", omittingEmptySubsequences: false)
            guard parts.count == 4, let iterations = Int(parts[0]),
                let salt = Base64.decode(String(parts[1])), let stored = Base64.decode(String(parts[2])), let server = Base64.decode(String(parts[3]))
            else {
                throw BrookError(.invalidRequest, "\(mechanism.rawValue.lowercased())= is not ITERATIONS,SALT,STOREDKEY,SERVERKEY with base64 keys")
            }
            guard (ScramCredential.minIterations...ScramCredential.maxIterations).contains(iterations) else {
                throw BrookError(.invalidRequest, "\(iterations) SCRAM iterations is outside \(ScramCredential.minIterations) to \(ScramCredential.maxIterations)")
            }
            guard stored.count == mechanism.keyByteCount, server.count == mechanism.keyByteCount, !salt.isEmpty, salt.count <= 128 else {
                throw BrookError(.invalidRequest, "\(mechanism.rawValue) keys must be \(mechanism.keyByteCount) bytes and the salt 1 to 128 bytes")
            }
            credentials.append(ScramCredential(mechanism: mechanism, salt: salt, iterations: iterations, storedKey: stored, serverKey: server))
        }
        return credentials
    }

    static func encode(_ command: UserCommand, into buffer: inout ByteBuffer) {
        switch command {
        case .add(let name, let isSuper, let credentials):
            buffer.writeLine("USER ADD \(name)\(isSuper ? " super=true" : "")" + render(credentials))
        case .passwd(let name, let credentials):
            buffer.writeLine("USER PASSWD \(name)" + render(credentials))
        case .delete(let name):
            buffer.writeLine("USER DELETE \(name)")
        case .list:
            buffer.writeLine("USER LIST")
        }
    }

    static func render(_ credentials: [ScramCredential]) -> String {
        credentials.map { credential in
            " \(credential.mechanism.rawValue.lowercased())=\(credential.iterations),\(Base64.encode(credential.salt)),"
                + "\(Base64.encode(credential.storedKey)),\(Base64.encode(credential.serverKey))"
        }.joined()
    }
}

extension Reply {
    /// `OK acls=N bytes=B` and one `ACL …` line per rule.
    public static func acls(_ bindings: [AclBinding], into buffer: inout ByteBuffer) {
        block("acls=\(bindings.count)", into: &buffer) { block in
            for binding in bindings { block.writeLine("ACL " + AccessRequests.render(binding)) }
        }
    }

    public static func acls(_ frame: Frame) throws -> [AclBinding] {
        try check(frame)
        return try blockFrames(frame).map { inner in
            let line = inner.line
            guard line.verb == "ACL", let principal = line.option("principal"), let resource = line.option("resource"),
                let operation = line.option("operation")
            else {
                throw BrookError(.invalidRequest, "unexpected line in an ACL reply: \(Line.printable(line.text))")
            }
            let (type, name) = try AccessRequests.parseResource(resource)
            return AclBinding(
                principal: principal, host: line.option("host") ?? "*", resourceType: type,
                patternType: try line.option("pattern").map(AccessRequests.parsePatternType) ?? .literal, resourceName: name ?? "*",
                operation: try AccessRequests.parseOperation(operation),
                permission: try line.option("permission").map(AccessRequests.parsePermission) ?? .allow)
        }
    }

    /// `OK users=N bytes=B` and one `USER NAME super=… mechanisms=… iterations=…` line per user.
    public static func users(_ users: [UserSummary], into buffer: inout ByteBuffer) {
        block("users=\(users.count)", into: &buffer) { block in
            for user in users {
                block.writeLine(
                    "USER \(user.name) super=\(user.isSuper) mechanisms=\(user.mechanisms.map(\.rawValue).joined(separator: ",")) "
                        + "iterations=\(user.iterations.map(String.init).joined(separator: ","))")
            }
        }
    }

    public static func users(_ frame: Frame) throws -> [UserSummary] {
        try check(frame)
        return try blockFrames(frame).map { inner in
            let line = inner.line
            guard line.verb == "USER", line.words.count == 2 else {
                throw BrookError(.invalidRequest, "unexpected line in a user reply: \(Line.printable(line.text))")
            }
            return UserSummary(
                name: line.words[1], isSuper: line.option("super") == "true",
                mechanisms: (line.option("mechanisms") ?? "").split(separator: ",").compactMap { ScramMechanism(rawValue: String($0)) },
                iterations: (line.option("iterations") ?? "").split(separator: ",").compactMap { Int($0) })
        }
    }
}

/// Standard base64 (RFC 4648, with padding) for the verifiers in USER lines.
enum Base64 {
    static func encode(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }
    static func decode(_ text: String) -> [UInt8]? { Data(base64Encoded: text).map { Array($0) } }
}
