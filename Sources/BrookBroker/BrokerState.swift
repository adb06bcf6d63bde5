import BrookModel
import BrookStore
import Synchronization

/// What the broker knows in memory: the topics with their committed partition counters (as the
/// writer last published them) and the long-poll fetches waiting on each partition. One lock
/// covers both, so a fetch that finds no data registers before the writer can publish new data.
final class BrokerState: Sendable {
    private struct Waiter {
        let continuation: CheckedContinuation<Void, Never>
        var timer: Task<Void, Never>?
    }

    private struct Storage {
        var topics: [String: TopicMetadata] = [:]
        var waiters: [Int64: [UInt64: Waiter]] = [:]
        var nextWaiterID: UInt64 = 0
        var stickyPartition = 0
    }

    private let storage: Mutex<Storage>

    init(topics: [String: TopicMetadata]) {
        storage = Mutex(Storage(topics: topics))
    }

    // MARK: Topics

    func topic(_ name: String) throws(BrookError) -> TopicMetadata {
        guard let topic = storage.withLock({ $0.topics[name] }) else { throw BrookError.unknownTopic(name) }
        return topic
    }

    var topics: [String: TopicMetadata] { storage.withLock { $0.topics } }

    /// Installs a topic's new definition (after create, add partitions, alter), or removes it.
    func publish(topic name: String, _ topic: TopicMetadata?) {
        let woken = storage.withLock { storage -> [Waiter] in
            let old = storage.topics[name]
            storage.topics[name] = topic
            // Waiters on a deleted topic's partitions wake to find it gone.
            guard topic == nil, let old else { return [] }
            return old.partitions.flatMap { storage.waiters.removeValue(forKey: $0.id).map { Array($0.values) } ?? [] }
        }
        resume(woken)
    }

    /// Installs counters committed by the writer and wakes fetches waiting on those partitions.
    func publish(_ changes: [PartitionChange]) {
        let woken = storage.withLock { storage -> [Waiter] in
            var woken: [Waiter] = []
            for change in changes {
                if storage.topics[change.topic]?.partitions.indices.contains(change.partition) == true {
                    storage.topics[change.topic]!.partitions[change.partition].state = change.state
                }
                if let waiters = storage.waiters.removeValue(forKey: change.partitionID) {
                    woken.append(contentsOf: waiters.values)
                }
            }
            return woken
        }
        resume(woken)
    }

    /// The next partition for a batch of unkeyed records: sticky per batch, round robin across
    /// batches.
    func nextStickyPartition(count: Int) -> Int {
        storage.withLock { storage in
            storage.stickyPartition &+= 1
            return Int(UInt(bitPattern: storage.stickyPartition) % UInt(count))
        }
    }

    // MARK: Long-poll

    /// Waits until the partition's high watermark passes `offset`, the topic is deleted,
    /// `timeout` passes, or the task is cancelled; returns at once if the data is already there.
    /// Costs one suspended continuation and one sleeping timer task while it waits.
    func waitForData(topic: String, partitionID: Int64, index: Int, beyond offset: Int64, timeout: Duration) async {
        let id = storage.withLock { storage -> UInt64 in
            storage.nextWaiterID += 1
            return storage.nextWaiterID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let registered = storage.withLock { storage -> Bool in
                    guard let partition = storage.topics[topic]?.partitions[safe: index], partition.id == partitionID,
                        partition.state.nextOffset <= offset
                    else { return false }
                    storage.waiters[partitionID, default: [:]][id] = Waiter(continuation: continuation)
                    return true
                }
                guard registered else {
                    continuation.resume()
                    return
                }
                let timer = Task { [self] in
                    try? await Task.sleep(for: timeout)
                    self.expire(partitionID: partitionID, id: id)
                }
                let stillWaiting = storage.withLock { storage -> Bool in
                    guard storage.waiters[partitionID]?[id] != nil else { return false }
                    storage.waiters[partitionID]![id]!.timer = timer
                    return true
                }
                if !stillWaiting { timer.cancel() }
            }
        } onCancel: {
            expire(partitionID: partitionID, id: id)
        }
    }

    /// Resumes one waiter if it is still waiting (timeout or cancellation).
    private func expire(partitionID: Int64, id: UInt64) {
        let waiter = storage.withLock { storage -> Waiter? in
            let waiter = storage.waiters[partitionID]?.removeValue(forKey: id)
            if storage.waiters[partitionID]?.isEmpty == true { storage.waiters[partitionID] = nil }
            return waiter
        }
        if let waiter { resume([waiter]) }
    }

    /// Wakes every waiter (at shutdown).
    func wakeAll() {
        let woken = storage.withLock { storage -> [Waiter] in
            defer { storage.waiters.removeAll() }
            return storage.waiters.values.flatMap { Array($0.values) }
        }
        resume(woken)
    }

    var waiterCount: Int { storage.withLock { $0.waiters.values.reduce(0) { $0 + $1.count } } }

    private func resume(_ waiters: [Waiter]) {
        for waiter in waiters {
            waiter.timer?.cancel()
            waiter.continuation.resume()
        }
    }
}

extension Array {
    subscript(safe index: Int) -> Element? {
        indices.contains(index) ? self[index] : nil
    }
}
