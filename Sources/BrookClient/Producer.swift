import BrookModel
import BrookWire

/// Settings of a ``Producer``, with Kafka's names.
public struct ProducerConfiguration: Sendable {
    /// `acks`: when the server answers.
    public var acks: Acks = .leader
    /// `batch.size`, in records: a batch is sent once it holds this many.
    public var batchRecords = 1_000
    /// `batch.size`, in bytes.
    public var batchBytes = 1_048_576
    /// `linger.ms`: how long a partial batch waits for more records.
    public var lingerMs = 5
    /// Batches sent but not yet answered, before ``Producer/send(_:)`` waits.
    public var maxInFlightBatches = 16

    public init() {}
}

/// A batching producer for one topic. It partitions exactly as the broker (and Kafka's default
/// partitioner) would: an explicit partition wins; a keyed record goes to
/// `toPositive(murmur2(key)) % partitions`; unkeyed records stick to one partition per batch,
/// moving round robin from batch to batch. Records are sent in batches of up to `batchRecords`
/// or after `lingerMs`, several batches in flight on the pipelined connection.
public actor Producer {
    public let client: BrookClient
    public let topic: String
    public let configuration: ProducerConfiguration
    private var partitionCount: Int
    private var stickyPartition: Int
    private var pending: [(record: ProducerRecord, continuation: CheckedContinuation<RecordPosition, Error>?)] = []
    private var pendingBytes = 0
    private var lingerTask: Task<Void, Never>?
    private var inFlight = 0
    private var inFlightWaiters: [CheckedContinuation<Void, Never>] = []

    /// Looks the topic's partition count up and returns a producer for it.
    public init(client: BrookClient, topic: String, configuration: ProducerConfiguration = ProducerConfiguration()) async throws {
        self.client = client
        self.topic = topic
        self.configuration = configuration
        let description = try await client.describeTopic(topic)
        partitionCount = description.partitionCount
        stickyPartition = Int.random(in: 0..<max(1, description.partitionCount))
    }

    /// The partition a record goes to.
    public func partition(for record: ProducerRecord) -> Int {
        if let partition = record.partition { return partition }
        if let key = record.key { return Partitioner.partition(forKey: key, partitionCount: partitionCount) }
        return stickyPartition
    }

    /// Sends a record and waits for its acknowledgement (its offset is -1 with acks=0).
    @discardableResult
    public func send(_ record: ProducerRecord) async throws -> RecordPosition {
        await waitForRoom()
        return try await withCheckedThrowingContinuation { continuation in
            enqueue(record, continuation)
        }
    }

    /// Queues a record without waiting for its acknowledgement; ``flush()`` reports failures.
    public func sendAsync(_ record: ProducerRecord) async {
        await waitForRoom()
        enqueue(record, nil)
    }

    private func waitForRoom() async {
        while inFlight >= configuration.maxInFlightBatches {
            await withCheckedContinuation { inFlightWaiters.append($0) }
        }
    }

    /// Sends what is queued and waits until every batch sent so far is answered.
    public func flush() async throws {
        sendBatch()
        while inFlight > 0 {
            await withCheckedContinuation { inFlightWaiters.append($0) }
        }
        if let failure { throw failure }
    }

    private var failure: Error?

    private func enqueue(_ record: ProducerRecord, _ continuation: CheckedContinuation<RecordPosition, Error>?) {
        var record = record
        record.partition = partition(for: record)
        guard record.partition! >= 0, record.partition! < partitionCount else {
            continuation?.resume(throwing: BrookError(.unknownPartition, "partition \(record.partition!) of topic '\(topic)' does not exist: it has partitions 0 to \(partitionCount - 1)"))
            return
        }
        pending.append((record, continuation))
        pendingBytes += record.size + 64
        if pending.count >= configuration.batchRecords || pendingBytes >= configuration.batchBytes {
            sendBatch()
        } else if lingerTask == nil {
            let linger = configuration.lingerMs
            lingerTask = Task { [weak self] in
                try? await Task.sleep(for: .milliseconds(linger))
                await self?.lingerExpired()
            }
        }
    }

    private func lingerExpired() {
        lingerTask = nil
        sendBatch()
    }

    private func sendBatch() {
        lingerTask?.cancel()
        lingerTask = nil
        guard !pending.isEmpty else { return }
        let batch = pending
        pending = []
        pendingBytes = 0
        // The next batch's unkeyed records go to the next partition.
        stickyPartition = (stickyPartition + 1) % partitionCount
        inFlight += 1
        // Written now, in order; only the acknowledgement is awaited in a task.
        let pending = client.submitProduce(topic: topic, records: batch.map(\.record), acks: configuration.acks)
        Task { await self.deliver(batch, pending) }
    }

    private func deliver(_ batch: [(record: ProducerRecord, continuation: CheckedContinuation<RecordPosition, Error>?)], _ pending: PendingProduce) async {
        do {
            let positions = try await pending.positions()
            for (entry, position) in zip(batch, positions) { entry.continuation?.resume(returning: position) }
        } catch {
            failure = failure ?? error
            for entry in batch { entry.continuation?.resume(throwing: error) }
        }
        inFlight -= 1
        let waiters = inFlightWaiters
        inFlightWaiters = []
        for waiter in waiters { waiter.resume() }
    }
}

/// A stateless consumer of one partition: fetches from a position it keeps, as Kafka's
/// `assign` + `poll` without a group.
public struct PartitionConsumer: Sendable {
    public let client: BrookClient
    public let topic: String
    public let partition: Int
    /// The next offset to read.
    public private(set) var position: Int64
    public var maxRecords = Request.defaultMaxRecords
    public var maxBytes = Request.defaultMaxBytes

    /// Starts at an offset, or at the earliest or latest one.
    public init(client: BrookClient, topic: String, partition: Int, from start: OffsetSpec) async throws {
        self.client = client
        self.topic = topic
        self.partition = partition
        switch start {
        case .earliest, .latest:
            position = try await client.listOffset(topic: topic, partition: partition, start)?.offset ?? 0
        case .timestamp:
            if let found = try await client.listOffset(topic: topic, partition: partition, start) {
                position = found.offset
            } else {
                position = try await client.listOffset(topic: topic, partition: partition, .latest)?.offset ?? 0
            }
        }
    }

    public init(client: BrookClient, topic: String, partition: Int, offset: Int64) {
        self.client = client
        self.topic = topic
        self.partition = partition
        self.position = offset
    }

    /// The next records, waiting up to `maxWait` when there are none yet.
    public mutating func poll(maxWait: Duration = .milliseconds(500)) async throws -> [Record] {
        let fetched = try await client.fetch(
            topic: topic, partition: partition, offset: position, maxRecords: maxRecords, maxBytes: maxBytes, maxWait: maxWait)
        position = fetched.nextOffset(after: position)
        return fetched.records
    }

    /// Moves the position.
    public mutating func seek(to offset: Int64) {
        position = offset
    }
}
