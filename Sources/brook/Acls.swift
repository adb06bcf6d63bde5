import ArgumentParser
import BrookClient
import BrookCommandLine
import BrookModel
import BrookStore
import BrookWire

/// `brook acls`: Kafka's ACLs, in a stopped server's file or through a running server.
struct Acls: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "acls",
        abstract: "Add, list and delete ACL rules (Kafka's model), in a stopped server's file or through a running server.",
        discussion: """
            A rule lets (--allow) or forbids (--deny) a user an operation on a topic, a group or the \
            cluster, by literal name or by prefix (--prefixed). Deny wins; a resource no rule allows \
            is refused; super users pass every check. The rules are enforced by a server that \
            authenticates its clients (--auth, or --tls-client-ca). Through a server, adding and \
            deleting need ALTER on the cluster and listing DESCRIBE. See docs/security.md.
            """,
        subcommands: [Add.self, List.self, Delete.self])

    /// The resource and the rule's other fields, as options.
    struct Rule: ParsableArguments {
        @Option(help: "Allow this principal (User:NAME, or User:* for every user).") var allow: String?
        @Option(help: "Deny this principal (User:NAME or User:*).") var deny: String?
        @Option(help: "The topic, or * for every topic.") var topic: String?
        @Option(help: "The consumer group, or * for every group.") var group: String?
        @Flag(help: "The cluster (SQL, backups, ACLs, topic creation, listing every group).") var cluster = false
        @Flag(help: "--topic or --group names a prefix, not one resource.") var prefixed = false
        @Option(
            help: "The operation: all, read, write, create, delete, alter, describe, cluster-action, describe-configs, alter-configs or idempotent-write.")
        var operation: String?
        @Option(help: "The client address the rule is for; * for any.") var host = "*"

        func resource() throws -> (AclResourceType, String)? {
            let named = [topic.map { (AclResourceType.topic, $0) }, group.map { (.group, $0) }, cluster ? (.cluster, AclResource.clusterName) : nil]
                .compactMap { $0 }
            guard named.count <= 1 else { throw ValidationError("name one resource: --topic, --group or --cluster") }
            return named.first
        }

        func principalAndPermission() throws -> (String, AclPermission)? {
            switch (allow, deny) {
            case (let principal?, nil): return (try Self.principal(principal), .allow)
            case (nil, let principal?): return (try Self.principal(principal), .deny)
            case (nil, nil): return nil
            default: throw ValidationError("use either --allow or --deny")
            }
        }

        /// `alice` is taken for `User:alice`, as a user would mean.
        static func principal(_ text: String) throws -> String {
            text.contains(":") ? text : "User:\(text)"
        }

        func parsedOperation() throws -> AclOperation? {
            guard let operation else { return nil }
            guard let parsed = AclOperation(name: operation) else {
                throw ValidationError("--operation \(operation) is not one of: \(AclOperation.allCases.map { $0.rawValue.lowercased() }.joined(separator: ", "))")
            }
            return parsed
        }

        func binding() throws -> AclBinding {
            guard let (principal, permission) = try principalAndPermission() else {
                throw ValidationError("name who the rule is for: --allow User:NAME or --deny User:NAME")
            }
            guard let (type, name) = try resource() else { throw ValidationError("name the resource: --topic NAME, --group NAME or --cluster") }
            guard let operation = try parsedOperation() else { throw ValidationError("name the operation: --operation read (or write, describe, …)") }
            let binding = AclBinding(
                principal: principal, host: host, resourceType: type, patternType: prefixed ? .prefixed : .literal, resourceName: name,
                operation: operation, permission: permission)
            try binding.validate()
            return binding
        }

        /// Every given option narrows the filter; none selects every rule.
        func filter() throws -> AclFilter {
            var filter = AclFilter(host: host == "*" ? nil : host)
            if let (principal, permission) = try principalAndPermission() {
                filter.principal = principal
                filter.permission = permission
            }
            if let (type, name) = try resource() {
                filter.resourceType = type
                filter.resourceName = name
                filter.pattern = .exactly(prefixed ? .prefixed : .literal)
            }
            filter.operation = try parsedOperation()
            return filter
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a rule.",
            discussion: "brook acls add --allow User:alice --operation write --topic orders")
        @OptionGroup var rule: Rule
        @OptionGroup var target: Users.Target

        func run() async throws {
            try await reportingErrors {
                let binding = try rule.binding()
                try await target.perform(file: { _ = try $0.addAcls([binding]) }, server: { try await $0.addAcl(binding) })
                Output.line("added ACL: \(binding)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the rules, all or those the options name.")
        @OptionGroup var rule: Rule
        @OptionGroup var target: Users.Target

        func run() async throws {
            try await reportingErrors {
                let filter = try rule.filter()
                let bindings = try await target.perform(
                    file: { try $0.acls().filter { filter.matches($0) } }, server: { try await $0.listAcls(filter) })
                Output.line(Acls.table(bindings))
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete the rules the options name (at least one option).",
            discussion: "brook acls delete --allow User:alice --topic orders")
        @OptionGroup var rule: Rule
        @OptionGroup var target: Users.Target

        func run() async throws {
            try await reportingErrors {
                let filter = try rule.filter()
                guard filter != AclFilter(host: nil) else {
                    throw ValidationError("name what to delete (--allow/--deny, --topic/--group/--cluster, --operation or --host); every rule is never deleted by accident")
                }
                let deleted = try await target.perform(
                    file: { try $0.deleteAcls(matching: [filter]).deleted[0] }, server: { try await $0.deleteAcls(filter) })
                Output.line("deleted \(deleted.count) ACL\(deleted.count == 1 ? "" : "s")")
                if !deleted.isEmpty { Output.line(Acls.table(deleted)) }
            }
        }
    }

    static func table(_ bindings: [AclBinding]) -> String {
        BrookCommandLine.table(
            ["PRINCIPAL", "PERMISSION", "OPERATION", "RESOURCE", "PATTERN", "NAME", "HOST"],
            bindings.map {
                [$0.principal, $0.permission.rawValue, $0.operation.rawValue, $0.resourceType.rawValue, $0.patternType.rawValue, $0.resourceName, $0.host]
            })
    }
}
