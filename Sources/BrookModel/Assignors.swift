

/// The coordinator's built-in partition assignment strategies, as Kafka's consumer assignors.
public enum AssignmentStrategy: String, Sendable, CaseIterable {
    /// Per topic, consecutive ranges of partitions to members in member-id order.
    case range
    /// All subscribed partitions dealt round robin over the members in member-id order.
    case roundrobin
    /// Balanced like round robin, but partitions stay with their previous owner where possible.
    case sticky

    /// One member's view for an assignment: its subscription and what it owns now.
    public struct Member: Sendable, Hashable {
        public var id: String
        public var topics: Set<String>
        public var owned: Set<TopicPartition>

        public init(id: String, topics: Set<String>, owned: Set<TopicPartition> = []) {
            self.id = id
            self.topics = topics
            self.owned = owned
        }
    }

    /// Assigns every partition of every subscribed topic to exactly one subscribed member.
    /// - Parameter partitions: the partition count of each topic (unknown topics are skipped).
    public func assign(_ members: [Member], partitions: [String: Int]) -> [String: Set<TopicPartition>] {
        var result = Dictionary(uniqueKeysWithValues: members.map { ($0.id, Set<TopicPartition>()) })
        let sorted = members.sorted { $0.id < $1.id }
        switch self {
        case .range:
            let topics = Set(members.flatMap(\.topics)).sorted()
            for topic in topics {
                guard let count = partitions[topic] else { continue }
                let consumers = sorted.filter { $0.topics.contains(topic) }
                guard !consumers.isEmpty else { continue }
                let per = count / consumers.count
                let extra = count % consumers.count
                var next = 0
                for (index, member) in consumers.enumerated() {
                    let take = per + (index < extra ? 1 : 0)
                    for partition in next..<(next + take) { result[member.id]!.insert(TopicPartition(topic, partition)) }
                    next += take
                }
            }
        case .roundrobin:
            var cursor = 0
            for tp in Self.allPartitions(members, partitions) {
                // The next member, in turn, that subscribes to this topic.
                for step in 0..<sorted.count {
                    let member = sorted[(cursor + step) % sorted.count]
                    if member.topics.contains(tp.topic) {
                        result[member.id]!.insert(tp)
                        cursor = (cursor + step + 1) % sorted.count
                        break
                    }
                }
            }
        case .sticky:
            result = Self.sticky(sorted, Self.allPartitions(members, partitions))
        }
        return result
    }

    static func allPartitions(_ members: [Member], _ partitions: [String: Int]) -> [TopicPartition] {
        Set(members.flatMap(\.topics)).sorted().flatMap { topic in
            (0..<(partitions[topic] ?? 0)).map { TopicPartition(topic, $0) }
        }
    }

    /// Keeps each partition with its previous owner while that owner stays under its fair share,
    /// then gives the rest to the least-loaded subscribed members.
    static func sticky(_ members: [Member], _ all: [TopicPartition]) -> [String: Set<TopicPartition>] {
        var result = Dictionary(uniqueKeysWithValues: members.map { ($0.id, Set<TopicPartition>()) })
        guard !members.isEmpty else { return result }
        // The fair share: ceil(eligible partitions / eligible members), computed per member over
        // what it may take.
        func quota(_ member: Member) -> Int {
            let eligible = all.filter { member.topics.contains($0.topic) }.count
            let sharers = max(1, members.filter { !$0.topics.isDisjoint(with: member.topics) }.count)
            return (eligible + sharers - 1) / sharers
        }
        let quotas = Dictionary(uniqueKeysWithValues: members.map { ($0.id, quota($0)) })
        var unassigned: [TopicPartition] = []
        var taken = Set<TopicPartition>()
        let allSet = Set(all)
        for member in members {
            for tp in member.owned.sorted() where allSet.contains(tp) && member.topics.contains(tp.topic) && !taken.contains(tp) {
                if result[member.id]!.count < quotas[member.id]! {
                    result[member.id]!.insert(tp)
                    taken.insert(tp)
                }
            }
        }
        for tp in all where !taken.contains(tp) { unassigned.append(tp) }
        for tp in unassigned {
            let candidates = members.filter { $0.topics.contains(tp.topic) }
            guard let least = candidates.min(by: { (result[$0.id]!.count, $0.id) < (result[$1.id]!.count, $1.id) }) else { continue }
            result[least.id]!.insert(tp)
        }
        // Even out: move from the most to the least loaded while the gap is more than one.
        while true {
            guard let most = members.max(by: { (result[$0.id]!.count, $1.id) < (result[$1.id]!.count, $0.id) }),
                let movable = result[most.id]!.sorted().last(where: { tp in
                    members.contains { $0.id != most.id && $0.topics.contains(tp.topic) && result[$0.id]!.count + 1 < result[most.id]!.count }
                }),
                let least = members.filter({ $0.id != most.id && $0.topics.contains(movable.topic) })
                    .min(by: { (result[$0.id]!.count, $0.id) < (result[$1.id]!.count, $1.id) }),
                result[least.id]!.count + 1 < result[most.id]!.count
            else { break }
            result[most.id]!.remove(movable)
            result[least.id]!.insert(movable)
        }
        return result
    }
}
