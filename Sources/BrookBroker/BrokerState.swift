import BrookModel
import BrookStore
import Synchronization

/// What the broker knows in memory: the topics with their committed partition counters (as the
/// writer last published them) and the long-poll fetches waiting on each partition. One lock
/// covers both, so a fetch that finds no data registers before the writer can publish new data.
final class BrokerState: Sendable {
    /// Why a wait was woken.
    enum Wake: Sendable {
        /// A commit (or a retention pass) published new counters for the partition; the change
        /// holds the records a commit appended.
        case committed(PartitionChange)
        /// The partition's topic was deleted.
        case topicDeleted
        /// ``wake(partitionIDs:)`` was called (the coordinator, on a rebalance).
        case woken
        /// The broker is closing.
        case shutdown
    }

    private struct Waiter {
        /// Called once, with what woke it.
        let wake: @Sendable (Wake) -> Void
    }

    private struct Storage {
        var topics: [String: TopicMetadata] = [:]
        /// Topics the file holds but cannot serve (its log table is gone), with the
        /// error their requests get instead of UNKNOWN_TOPIC.
        var unavailable: [String: BrookError] = [:]
        var waiters: [Int64: [UInt64: Waiter]] = [:]
        /// The partitions each multi-partition waiter is registered on.
        var waiterPartitions: [UInt64: [Int64]] = [:]
        var nextWaiterID: UInt64 = 0
        var stickyPartition = 0
    }

    private let storage: Mutex<Storage>

    init(topics: [String: TopicMetadata], unavailable: [String: BrookError] = [:]) {
        storage = Mutex(Storage(topics: topics, unavailable: unavailable))
    }

    // MARK: Topics

    func topic(_ name: String) throws(BrookError) -> TopicMetadata {
        let (topic, unavailable) = storage.withLock { ($0.topics[name], $0.unavailable[name]) }
        guard let topic else { throw unavailable ?? BrookError.unknownTopic(name) }
        return topic
    }

    /// A topic the file could not serve was deleted.
    func forgetUnavailable(_ name: String) {
        storage.withLock { _ = $0.unavailable.removeValue(forKey: name) }
    }

    var topics: [String: TopicMetadata] { storage.withLock { $0.topics } }

    /// Installs a topic's new definition (after create, add partitions, alter), or removes it.
    func publish(topic name: String, _ topic: TopicMetadata?) {
        let woken = storage.withLock { storage -> [Waiter] in
            let old = storage.topics[name]
            storage.topics[name] = topic
            // Waiters on a deleted topic's partitions wake to find it gone.
            guard topic == nil, let old else { return [] }
            return Self.takeAll(old.partitions.map(\.id), from: &storage)
        }
        resume(woken, by: .topicDeleted)
    }

    /// Installs counters committed by the writer and wakes fetches waiting on those partitions.
    func publish(_ changes: [PartitionChange]) {
        let woken = storage.withLock { storage -> [(waiters: [Waiter], change: PartitionChange)] in
            var woken: [(waiters: [Waiter], change: PartitionChange)] = []
            for change in changes {
                if storage.topics[change.topic]?.partitions.indices.contains(change.partition) == true {
                    storage.topics[change.topic]!.partitions[change.partition].state = change.state
                }
                let waiters = Self.takeAll([change.partitionID], from: &storage)
                if !waiters.isEmpty { woken.append((waiters, change)) }
            }
            return woken
        }
        for (waiters, change) in woken { resume(waiters, by: .committed(change)) }
    }

    /// The next partition for a batch of unkeyed records: sticky per batch, round robin across
    /// batches.
    func nextStickyPartition(count: Int) -> Int {
        storage.withLock { storage in
            storage.stickyPartition &+= 1
            return Int(UInt(bitPattern: storage.stickyPartition) % UInt(count))
        }
    }

    // MARK: Waiting on several partitions

    /// One partition a multi-partition wait watches, and the offset it waits beyond.
    struct Watch: Sendable {
        var topic: String
        var index: Int
        var partitionID: Int64
        var offset: Int64
    }

    /// Where a wait on no partition is registered, so that shutdown still finds it (partition
    /// ids are SQLite rowids, never negative).
    private static let noPartition: Int64 = -1

    /// Registers `wake` to be called once when any watched partition's high watermark passes its
    /// offset (or it is woken or deleted), unless the data is already there: then it returns false
    /// and `wake` is never called. A wait on no partition is woken only at shutdown.
    private func register(_ id: UInt64, _ watches: [Watch], wake: @escaping @Sendable (Wake) -> Void) -> Bool {
        storage.withLock { storage -> Bool in
            for watch in watches {
                guard let partition = storage.topics[watch.topic]?.partitions[safe: watch.index], partition.id == watch.partitionID,
                    partition.state.nextOffset <= watch.offset
                else { return false }
            }
            // One waiter value is registered under each partition; removing it from all of them
            // (``takeMulti``) guarantees a single wake.
            let partitionIDs = watches.isEmpty ? [Self.noPartition] : watches.map(\.partitionID)
            for partitionID in partitionIDs {
                storage.waiters[partitionID, default: [:]][id] = Waiter(wake: wake)
            }
            storage.waiterPartitions[id] = partitionIDs
            return true
        }
    }

    /// Calls `wake` once, from the thread that publishes, when any watched partition's high
    /// watermark passes its offset (with the commit's change, holding the records it appended),
    /// one of them is woken or deleted, or the broker closes. Returns the wait's id for
    /// ``unwatch(_:)``, or nil when data is already there or a partition is gone (then `wake` is
    /// not called).
    func watch(_ watches: [Watch], wake: @escaping @Sendable (Wake) -> Void) -> UInt64? {
        let id = storage.withLock { storage -> UInt64 in
            storage.nextWaiterID += 1
            return storage.nextWaiterID
        }
        return register(id, watches, wake: wake) ? id : nil
    }

    /// Withdraws a wait; true if it was still waiting (so its `wake` will never be called).
    func unwatch(_ id: UInt64) -> Bool {
        storage.withLock { storage in Self.takeMulti(id, from: &storage) } != nil
    }

    /// Removes a multi-partition waiter from every partition it watches.
    private static func takeMulti(_ id: UInt64, from storage: inout Storage) -> Waiter? {
        guard let partitions = storage.waiterPartitions.removeValue(forKey: id) else { return nil }
        var waiter: Waiter?
        for partitionID in partitions {
            if let found = storage.waiters[partitionID]?.removeValue(forKey: id) { waiter = waiter ?? found }
            if storage.waiters[partitionID]?.isEmpty == true { storage.waiters[partitionID] = nil }
        }
        return waiter
    }

    /// Wakes every wait on these partitions (they re-check and usually wait again).
    func wake(partitionIDs: [Int64]) {
        let woken = storage.withLock { storage in Self.takeAll(partitionIDs, from: &storage) }
        resume(woken, by: .woken)
    }

    /// Removes the waiters of these partitions, multi-partition ones from all their partitions.
    private static func takeAll(_ partitionIDs: [Int64], from storage: inout Storage) -> [Waiter] {
        var woken: [Waiter] = []
        for partitionID in partitionIDs {
            guard let waiters = storage.waiters.removeValue(forKey: partitionID) else { continue }
            for (id, waiter) in waiters {
                if storage.waiterPartitions[id] != nil {
                    if let multi = takeMulti(id, from: &storage) { woken.append(multi) } else { woken.append(waiter) }
                } else {
                    woken.append(waiter)
                }
            }
        }
        return woken
    }

    /// Wakes every waiter (at shutdown).
    func wakeAll() {
        let woken = storage.withLock { storage in Self.takeAll(Array(storage.waiters.keys), from: &storage) }
        resume(woken, by: .shutdown)
    }

    var waiterCount: Int {
        storage.withLock { storage in
            let single = storage.waiters.values.reduce(0) { $0 + $1.count }
            let multiRegistrations = storage.waiterPartitions.values.reduce(0) { $0 + $1.count }
            return single - multiRegistrations + storage.waiterPartitions.count
        }
    }

    private func resume(_ waiters: [Waiter], by reason: Wake) {
        for waiter in waiters { waiter.wake(reason) }
    }
}
