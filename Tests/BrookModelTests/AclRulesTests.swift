import BrookModel
import Testing

@Suite("ACL decisions on Kafka's model")
struct AclRulesTests {
    private func rule(
        _ principal: String, _ permission: AclPermission, _ operation: AclOperation, _ type: AclResourceType,
        _ name: String, pattern: AclPatternType = .literal, host: String = "*"
    ) -> AclBinding {
        AclBinding(principal: principal, host: host, resourceType: type, patternType: pattern, resourceName: name, operation: operation, permission: permission)
    }

    /// dave's rule on a topic (or `type`).
    private func rule(
        _ operation: AclOperation, _ name: String, _ type: AclResourceType = .topic, pattern: AclPatternType = .literal, host: String = "*",
        permission: AclPermission = .allow
    ) -> AclBinding {
        rule("User:dave", permission, operation, type, name, pattern: pattern, host: host)
    }

    @Test func nothingIsAllowedWithoutARule() {
        let rules = AclRules([rule(.write, "a")])
        #expect(rules.allows("User:dave", host: "10.0.0.1", .write, .topic("a")))
        #expect(!rules.allows("User:dave", host: "10.0.0.1", .write, .topic("b")), "a topic no rule names is refused")
        #expect(!rules.allows("User:erin", host: "10.0.0.1", .write, .topic("a")), "another user has no rule")
        #expect(!rules.allows("User:dave", host: "10.0.0.1", .read, .topic("a")), "WRITE does not imply READ")
        #expect(!rules.allows("User:dave", host: "10.0.0.1", .write, .group("a")), "rules are per resource type")
    }

    @Test func readWriteDeleteAndAlterImplyDescribe() {
        for operation in [AclOperation.read, .write, .delete, .alter, .describe, .all] {
            #expect(AclRules([rule(operation, "a")]).allows("User:dave", host: "h", .describe, .topic("a")), "\(operation) implies DESCRIBE")
        }
        for operation in [AclOperation.create, .describeConfigs, .alterConfigs, .idempotentWrite] {
            #expect(!AclRules([rule(operation, "a")]).allows("User:dave", host: "h", .describe, .topic("a")), "\(operation) does not imply DESCRIBE")
        }
        #expect(AclRules([rule(.alterConfigs, "a")]).allows("User:dave", host: "h", .describeConfigs, .topic("a")))
        #expect(AclRules([rule(.all, "a")]).allows("User:dave", host: "h", .delete, .topic("a")), "ALL allows every operation")
    }

    @Test func denyWinsOverEveryAllow() {
        let rules = AclRules([
            rule(.all, "*"), rule("User:*", .allow, .read, .topic, "orders"),
            rule(.read, "orders", .topic, permission: .deny),
        ])
        #expect(!rules.allows("User:dave", host: "h", .read, .topic("orders")))
        #expect(rules.allows("User:dave", host: "h", .write, .topic("orders")), "the deny is for READ only")
        #expect(rules.allows("User:erin", host: "h", .read, .topic("orders")), "the deny is for dave only")
        let denyAll = AclRules([rule(.write, "orders"), rule("User:dave", .deny, .all, .topic, "ord", pattern: .prefixed)])
        #expect(!denyAll.allows("User:dave", host: "h", .write, .topic("orders")), "a prefixed DENY ALL wins over a literal ALLOW")
        #expect(!denyAll.allows("User:dave", host: "h", .describe, .topic("orders")))
    }

    @Test func namesMatchLiterallyByWildcardOrByPrefix() {
        let rules = AclRules([
            rule(.read, "app-", pattern: .prefixed), rule(.write, "*"), rule(.read, "g1", .group),
        ])
        #expect(rules.allows("User:dave", host: "h", .read, .topic("app-orders")))
        #expect(!rules.allows("User:dave", host: "h", .read, .topic("ap")))
        #expect(!rules.allows("User:dave", host: "h", .read, .topic("other")))
        #expect(rules.allows("User:dave", host: "h", .write, .topic("anything")), "LITERAL * is every topic")
        #expect(rules.allows("User:dave", host: "h", .read, .group("g1")))
        #expect(!rules.allows("User:dave", host: "h", .read, .group("g10")), "a literal group name is not a prefix")
    }

    @Test func aRuleMayNameTheHost() {
        let rules = AclRules([rule(.read, "a", host: "10.0.0.7")])
        #expect(rules.allows("User:dave", host: "10.0.0.7", .read, .topic("a")))
        #expect(!rules.allows("User:dave", host: "10.0.0.8", .read, .topic("a")))
    }

    @Test func someResourceOfATypeForInitProducerID() {
        #expect(AclRules([rule(.write, "a")]).allowsSome("User:dave", host: "h", .write, on: .topic))
        #expect(!AclRules([rule(.read, "a")]).allowsSome("User:dave", host: "h", .write, on: .topic))
        #expect(!AclRules([rule(.write, "a"), rule(.write, "*", permission: .deny)]).allowsSome("User:dave", host: "h", .write, on: .topic))
    }

    @Test func filtersSelectAsKafkasDo() {
        let literal = rule(.read, "orders")
        let wildcard = rule(.read, "*")
        let prefix = rule(.read, "ord", pattern: .prefixed)
        let other = rule("User:erin", .deny, .write, .group, "g")
        let all = [literal, wildcard, prefix, other]
        #expect(all.filter(AclFilter.all.matches) == all)
        #expect(all.filter(AclFilter(resourceType: .topic, pattern: .match, resourceName: "orders").matches) == [literal, wildcard, prefix])
        #expect(all.filter(AclFilter(resourceType: .topic, pattern: .any, resourceName: "orders").matches) == [literal])
        #expect(all.filter(AclFilter(pattern: .exactly(.prefixed)).matches) == [prefix])
        #expect(all.filter(AclFilter(principal: "User:erin", permission: .deny).matches) == [other])
        #expect(all.filter(AclFilter(operation: .write).matches) == [other])
    }

    @Test func invalidRulesAreRefusedWithWhatToUse() throws {
        #expect(throws: BrookError.self) { try rule("dave", .allow, .read, .topic, "a").validate() }
        #expect(throws: BrookError.self) { try rule(.read, "", .topic).validate() }
        #expect(throws: BrookError.self) { try rule(.read, "*", .topic, pattern: .prefixed).validate() }
        #expect(throws: BrookError.self) { try rule(.alter, "my-cluster", .cluster).validate() }
        try rule(.alter, AclResource.clusterName, .cluster).validate()
        #expect(AclOperation(name: "describe-configs") == .describeConfigs)
        #expect(AclOperation(name: "Idempotent_Write") == .idempotentWrite)
    }
}
