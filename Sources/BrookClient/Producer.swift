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
    /// `max.in.flight.requests.per.connection`: batches sent but not yet answered.
    public var maxInFlightBatches = 5
    /// `enable.idempotence`: number records per partition so that retries never duplicate them.
    public var enableIdempotence = true
    /// A stable identity for the idempotent producer: a new instance with the same key fences
    /// the old one (`PRODUCER_FENCED`). nil: a fresh producer id.
    public var producerKey: String?
    /// `delivery.timeout.ms`: how long a batch may be retried after a lost connection.
    public var deliveryTimeoutMs: Int64 = 120_000
    /// `retry.backoff.ms`.
    public var retryBackoffMs: Int64 = 100

    public init() {}
}

/// A batching producer for one topic. It partitions exactly as the broker (and Kafka's default
/// partitioner) would: an explicit partition wins; a keyed record goes to
/// `toPositive(murmur2(key)) % partitions`; unkeyed records stick to one partition per batch,
/// moving round robin from batch to batch. Records are sent in batches of up to `batchRecords`
/// or after `lingerMs`, several batches in flight on the pipelined connection.
///
/// With idempotence (the default) the broker de-duplicates retries, so a connection lost mid-way
/// (a broker restart) is survived: unacknowledged batches are sent again, in order, once a new
/// connection is up, and each record is written exactly once.
public actor Producer {
    public private(set) var client: BrookClient
    public let topic: String
    public let configuration: ProducerConfiguration
    public private(set) var identity: ProducerIdentity?
    private let address: ServerAddress
    private var partitionCount: Int
    private var maxMessageBytes: Int
    private var stickyPartition: Int
    private var nextSequence: [Int: Int32] = [:]
    private var pending: [Entry] = []
    private var pendingBytes = 0
    private var lingerTask: Task<Void, Never>?
    private var inFlight: [Batch] = []
    private var draining: Task<Void, Never>?
    private var roomWaiters: [CheckedContinuation<Void, Never>] = []
    private var failure: Error?

    struct Entry {
        var record: ProducerRecord
        var continuation: CheckedContinuation<RecordPosition, Error>?
    }

    struct Batch {
        var entries: [Entry]
        var reply: PendingProduce
        let started: ContinuousClock.Instant
    }

    /// Looks the topic up (and, with idempotence, obtains a producer id) and returns a producer.
    public init(client: BrookClient, topic: String, configuration: ProducerConfiguration = ProducerConfiguration()) async throws {
        self.client = client
        self.topic = topic
        self.configuration = configuration
        address = client.connection.address
        let description = try await client.describeTopic(topic)
        partitionCount = description.partitionCount
        maxMessageBytes = description.config.maxMessageBytes
        stickyPartition = Int.random(in: 0..<max(1, description.partitionCount))
        if configuration.enableIdempotence {
            identity = try await Self.initProducer(client, key: configuration.producerKey)
        }
    }

    private static func initProducer(_ client: BrookClient, key: String?) async throws -> ProducerIdentity {
        let line = try Reply.check(try await client.connection.send(.initProducer(key: key)))
        guard let id = try line.int("producer"), let epoch = try line.int("epoch") else {
            throw BrookError(.invalidRequest, "INITPRODUCER reply lacks producer= or epoch=")
        }
        return ProducerIdentity(id: id, epoch: Int32(epoch))
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

    /// Sends what is queued and waits until every batch sent so far is answered.
    public func flush() async throws {
        sendBatch()
        while let draining { await draining.value }
        if let failure {
            self.failure = nil
            throw failure
        }
    }

    private func waitForRoom() async {
        while inFlight.count >= configuration.maxInFlightBatches {
            await withCheckedContinuation { roomWaiters.append($0) }
        }
    }

    private func enqueue(_ record: ProducerRecord, _ continuation: CheckedContinuation<RecordPosition, Error>?) {
        var record = record
        record.partition = partition(for: record)
        guard record.partition! >= 0, record.partition! < partitionCount else {
            continuation?.resume(throwing: BrookError(.unknownPartition, "partition \(record.partition!) of topic '\(topic)' does not exist: it has partitions 0 to \(partitionCount - 1)"))
            return
        }
        // Refused here, before it takes a sequence number: a refusal at the broker would leave a gap.
        guard record.size <= maxMessageBytes else {
            continuation?.resume(throwing: BrookError(.messageTooLarge, "record of \(record.size) bytes exceeds max.message.bytes \(maxMessageBytes) of topic '\(topic)'"))
            return
        }
        pending.append(Entry(record: record, continuation: continuation))
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
        var entries = pending
        pending = []
        pendingBytes = 0
        // The next batch's unkeyed records go to the next partition.
        stickyPartition = (stickyPartition + 1) % partitionCount
        if identity != nil {
            for index in entries.indices {
                let partition = entries[index].record.partition!
                let sequence = nextSequence[partition, default: 0]
                entries[index].record.sequence = sequence
                nextSequence[partition] = sequence &+ 1
            }
        }
        // Written now, in order; the acknowledgements are awaited in order by one loop.
        inFlight.append(Batch(entries: entries, reply: submit(entries), started: .now))
        if draining == nil {
            draining = Task { await self.drain() }
        }
    }

    private func submit(_ entries: [Entry]) -> PendingProduce {
        client.submitProduce(topic: topic, records: entries.map(\.record), acks: configuration.acks, producer: identity)
    }

    /// Completes batches in the order they were sent, recovering from lost connections.
    private func drain() async {
        while let batch = inFlight.first {
            do {
                let positions = try await batch.reply.positions()
                for (entry, position) in zip(batch.entries, positions) { entry.continuation?.resume(returning: position) }
                inFlight.removeFirst()
            } catch let error as BrookError where error.code == .brokerNotAvailable && identity != nil {
                // Lost connection: every unacknowledged batch goes again, in order, on a new one.
                if !(await reconnect(deadline: batch.started + .milliseconds(configuration.deliveryTimeoutMs))) {
                    failAll(error)
                }
            } catch {
                failure = failure ?? error
                inFlight.removeFirst()
                for entry in batch.entries { entry.continuation?.resume(throwing: error) }
                if identity != nil, !inFlight.isEmpty {
                    // The failed batch leaves a gap in its partitions' sequences: start a new epoch
                    // and number the rest again.
                    await restartSequences()
                }
            }
            let waiters = roomWaiters
            roomWaiters = []
            for waiter in waiters { waiter.resume() }
        }
        draining = nil
    }

    private func reconnect(deadline: ContinuousClock.Instant) async -> Bool {
        while ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(configuration.retryBackoffMs))
            guard let fresh = try? await BrookClient.connect(to: address, credentials: client.connection.credentials, tls: client.connection.tls) else { continue }
            await client.close()
            client = fresh
            for index in inFlight.indices { inFlight[index].reply = submit(inFlight[index].entries) }
            return true
        }
        return false
    }

    private func restartSequences() async {
        guard let fresh = try? await Self.initProducer(client, key: configuration.producerKey) else { return }
        identity = fresh
        nextSequence = [:]
        for index in inFlight.indices {
            for entry in inFlight[index].entries.indices {
                let partition = inFlight[index].entries[entry].record.partition!
                let sequence = nextSequence[partition, default: 0]
                inFlight[index].entries[entry].record.sequence = sequence
                nextSequence[partition] = sequence &+ 1
            }
            inFlight[index].reply = submit(inFlight[index].entries)
        }
    }

    private func failAll(_ error: Error) {
        failure = failure ?? error
        for batch in inFlight { for entry in batch.entries { entry.continuation?.resume(throwing: error) } }
        inFlight = []
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
    public var maxRecords = FetchDefaults.maxRecords
    public var maxBytes = FetchDefaults.maxBytes

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
