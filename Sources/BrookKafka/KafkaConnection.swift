import BrookAuth
import BrookBroker
import BrookFrontEnd
import BrookModel
import Logging
import NIOCore
import Synchronization

/// Kafka's side of one connection; a ``RequestPipelineHandler`` does the rest (replies in
/// request order, in-flight limits, idle close, quiesce, half-close).
///
/// Produce requests overlap: each is queued to the broker's writer as it is read, so a
/// connection's produces commit in order and group commit sees many at once. Any other request
/// runs once every earlier one has finished, as the line protocol's do; a Fetch, JoinGroup or
/// SyncGroup that waits holds the requests behind it, as Kafka's clients expect of one connection
/// (they send group requests on a connection of their own).
final class KafkaConnection: RequestPipelineAdapter, Sendable {
    typealias Request = KafkaFrameEvent

    let listener: KafkaListener
    let peer: String
    var broker: Broker { listener.broker }
    var configuration: KafkaListenerConfiguration { listener.configuration }
    /// Where this connection is in SASL (KafkaAuthentication.swift).
    let authentication = Mutex(KafkaAuthenticationState())
    /// PLAIN is offered only where nobody can listen: loopback.
    let isLoopback: Bool
    /// The next chunk of the partitions this connection reads, prepared while the client decodes
    /// the last (a Kafka client keeps one fetch in flight per broker).
    let readAhead = FetchReadAhead<KafkaBatchSink>()

    init(listener: KafkaListener, peer: String, isLoopback: Bool = false) {
        self.listener = listener
        self.peer = peer
        self.isLoopback = isLoopback
    }

    // MARK: RequestPipelineAdapter

    func admission(of event: KafkaFrameEvent) -> RequestAdmission {
        switch event {
        case .request(let header, .produce(let produce), let size):
            // A large produce is decoded in a task, and one to a topic that must first be created
            // is queued from one; later requests wait until it is queued.
            return RequestAdmission(
                heldBytes: size, concurrency: .overlapping, orderedOnStart: size <= Self.inlineProduceBytes && missingTopics(produce).isEmpty,
                meter: listener.requestMeters?[header.apiKey])
        case .request(let header, _, _):
            return RequestAdmission(concurrency: .exclusive, meter: listener.requestMeters?[header.apiKey])
        case .unsupported, .lost:
            return RequestAdmission(concurrency: .exclusive)
        }
    }

    func start(_ event: KafkaFrameEvent, responder: RequestResponder, context: ChannelHandlerContext) {
        switch event {
        case .lost(let error):
            listener.logger.warning("closing a Kafka connection: unreadable request", metadata: ["peer": "\(peer)", "error": "\(error)"])
            responder.succeed(.none, thenClose: true)
        case .unsupported(let header, _):
            if header.apiKey == KafkaAPI.apiVersions.rawValue {
                // A newer client: answer with every API's range, so it can retry with one we share.
                return responder.succeed(.buffer(KafkaResponse.apiVersions(
                    correlationID: header.correlationID, version: 0, errorCode: KafkaErrorCode.unsupportedVersion)))
            }
            let what = KafkaAPI(rawValue: header.apiKey).map { "\($0.name) v\(header.apiVersion) (Brook serves v\($0.versions.lowerBound)–\($0.versions.upperBound))" }
                ?? "unknown API key \(header.apiKey) v\(header.apiVersion)"
            listener.logger.warning("closing a Kafka connection: unsupported request", metadata: [
                "peer": "\(peer)", "request": "\(what)", "client_id": "\(header.clientID ?? "")",
            ])
            responder.succeed(.none, thenClose: true)
        case .request(let header, let request, let size):
            if configuration.tls?.requiresClientCertificate == true, let name = ServerTLS.clientCommonName(context.pipeline.syncOperations) {
                authentication.withLock { if $0.principal == nil { $0.principal = name } }
            }
            if let refusal = refusalBeforeAuthentication(header) {
                listener.logger.notice("closing a Kafka connection: a request before authentication", metadata: [
                    "peer": "\(peer)", "request": "\(refusal)", "client_id": "\(header.clientID ?? "")",
                ])
                return responder.succeed(.none, thenClose: true)
            }
            start(request, header: header, size: size, responder: responder, loop: context.eventLoop)
        }
    }

    func reply(to error: any Error, allocator: ByteBufferAllocator) -> ByteBuffer {
        // Every request is answered in its own format; an error without one has no encoding.
        ByteBuffer()
    }

    func connectionFailed(_ error: any Error) {
        listener.logger.debug("Kafka connection ended", metadata: ["peer": "\(peer)", "error": "\(error)"])
    }

    // MARK: Requests

    private func start(_ request: KafkaRequest, header: KafkaRequestHeader, size: Int, responder: RequestResponder, loop: any EventLoop) {
        let correlationID = header.correlationID
        let version = header.apiVersion
        switch request {
        case .apiVersions:
            responder.succeed(.buffer(KafkaResponse.apiVersions(correlationID: correlationID, version: version)))
        case .saslHandshake(let mechanism):
            handshake(mechanism, correlationID: correlationID, responder: responder)
        case .saslAuthenticate(let bytes):
            authenticate(Array(buffer: bytes), correlationID: correlationID, version: version, responder: responder)
        case .metadata(let metadata):
            Task { [self] in
                responder.succeed(.buffer(await self.metadata(metadata, correlationID: correlationID, version: version)))
            }
        case .produce(let produce):
            startProduce(produce, size: size, correlationID: correlationID, version: version, responder: responder, loop: loop)
        case .fetch(let fetch):
            startFetch(fetch, correlationID: correlationID, version: version, responder: responder, loop: loop)
        case .listOffsets(let list):
            Task { [self] in
                responder.succeed(.buffer(await self.listOffsets(list, correlationID: correlationID, version: version)))
            }
        case .createTopics(let create):
            Task { [self] in
                responder.succeed(.buffer(KafkaResponse.createTopics(
                    correlationID: correlationID, version: version, results: await self.createTopics(create))))
            }
        case .deleteTopics(let delete):
            Task { [self] in
                responder.succeed(.buffer(KafkaResponse.deleteTopics(
                    correlationID: correlationID, version: version, results: await self.deleteTopics(delete))))
            }
        case .createPartitions(let create):
            Task { [self] in
                responder.succeed(.buffer(KafkaResponse.createPartitions(
                    correlationID: correlationID, results: await self.createPartitions(create))))
            }
        case .describeConfigs(let describe):
            responder.succeed(.buffer(KafkaResponse.describeConfigs(
                correlationID: correlationID, version: version, resources: describeConfigs(describe))))
        case .alterConfigs(let alter):
            Task { [self] in
                responder.succeed(.buffer(KafkaResponse.alterConfigs(correlationID: correlationID, resources: await self.alterConfigs(alter))))
            }
        case .deleteRecords(let delete):
            Task { [self] in
                responder.succeed(.buffer(KafkaResponse.deleteRecords(correlationID: correlationID, topics: await self.deleteRecords(delete))))
            }
        case .findCoordinator, .joinGroup, .syncGroup, .heartbeat, .leaveGroup, .offsetCommit, .offsetFetch, .listGroups, .describeGroups,
            .deleteGroups, .offsetDelete:
            startGroupRequest(request, header: header, responder: responder)
        case .createAcls, .describeAcls, .deleteAcls:
            startAclRequest(request, header: header, responder: responder)
        case .initProducerID(let initProducer):
            let access = self.access
            Task { [broker] in
                guard initProducer.transactionalID == nil else {
                    return responder.succeed(.buffer(KafkaResponse.initProducerID(
                        correlationID: correlationID, errorCode: KafkaErrorCode.invalidRequest, producerID: -1, epoch: -1)))
                }
                // Kafka 3.0+: IDEMPOTENT_WRITE on the cluster, or WRITE on some topic.
                guard access.allows(.idempotentWrite, .cluster) || access.control.allowsSome(access.user, host: access.host, .write, on: .topic) else {
                    return responder.succeed(.buffer(KafkaResponse.initProducerID(
                        correlationID: correlationID, errorCode: KafkaErrorCode.clusterAuthorizationFailed, producerID: -1, epoch: -1)))
                }
                do {
                    let identity = try await broker.initProducer()
                    responder.succeed(.buffer(KafkaResponse.initProducerID(
                        correlationID: correlationID, errorCode: KafkaErrorCode.none, producerID: identity.id,
                        epoch: Int16(clamping: identity.epoch))))
                } catch {
                    responder.succeed(.buffer(KafkaResponse.initProducerID(
                        correlationID: correlationID, errorCode: KafkaErrorCode.code(for: error), producerID: -1, epoch: -1)))
                }
            }
        }
    }

    // MARK: Metadata

    private func metadata(_ request: MetadataRequest, correlationID: Int32, version: Int16) async -> ByteBuffer {
        var topics: [KafkaResponse.MetadataTopic] = []
        let access = self.access
        if let names = request.topics {
            for name in names {
                // Kafka's answer to a topic the user may not describe, whether or not it exists.
                guard access.allows(.describe, .topic(name)) else {
                    topics.append(KafkaResponse.MetadataTopic(errorCode: KafkaErrorCode.topicAuthorizationFailed, name: name, partitions: 0))
                    continue
                }
                let create = request.allowAutoTopicCreation && configuration.autoCreateTopics && mayCreate(name, access)
                topics.append(await metadataTopic(name, create: create))
            }
        } else {
            // Every topic the user may describe.
            let all = (try? broker.listTopics()) ?? []
            topics = all.filter { access.allows(.describe, .topic($0.name)) }.map {
                KafkaResponse.MetadataTopic(errorCode: KafkaErrorCode.none, name: $0.name, partitions: $0.partitions.count)
            }
        }
        return KafkaResponse.metadata(
            correlationID: correlationID, version: version, nodeID: configuration.nodeID, host: configuration.effectiveAdvertisedHost,
            port: listener.advertisedPort, clusterID: configuration.clusterID, topics: topics)
    }

    private func metadataTopic(_ name: String, create: Bool) async -> KafkaResponse.MetadataTopic {
        do {
            let topic = try await describe(name, create: create)
            return KafkaResponse.MetadataTopic(errorCode: KafkaErrorCode.none, name: name, partitions: topic.partitions.count)
        } catch {
            return KafkaResponse.MetadataTopic(errorCode: KafkaErrorCode.code(for: error), name: name, partitions: 0)
        }
    }

    /// A topic's metadata, creating it first when it is unknown and `create` holds.
    private func describe(_ name: String, create: Bool) async throws -> TopicMetadata {
        do {
            return try broker.describeTopic(name)
        } catch let error as BrookError where error.code == .unknownTopic && create {
            do {
                let topic = try await broker.createTopic(name, partitions: configuration.defaultPartitions)
                listener.logger.info("auto-created topic", metadata: ["topic": "\(name)", "partitions": "\(configuration.defaultPartitions)"])
                return topic
            } catch let error as BrookError where error.code == .topicAlreadyExists {
                return try broker.describeTopic(name)  // another request created it first
            }
        }
    }

    // MARK: Produce

    /// Topics a produce names that do not exist and would be auto-created.
    private func missingTopics(_ request: ProduceRequest) -> [String] {
        guard configuration.autoCreateTopics else { return [] }
        return request.topics.compactMap { topic in
            if case .failure(let error as BrookError) = Result(catching: { try broker.describeTopic(topic.name) }), error.code == .unknownTopic,
                access.allows(.write, .topic(topic.name)), mayCreate(topic.name)
            {
                return topic.name
            }
            return nil
        }
    }

    /// Produce requests up to this size are decoded on the event loop; larger ones (checksums and
    /// decompression of many records) in a task, keeping the loop, which other connections
    /// share, free of long work.
    static let inlineProduceBytes = 64 * 1_024

    private func startProduce(
        _ request: ProduceRequest, size: Int, correlationID: Int32, version: Int16, responder: RequestResponder, loop: any EventLoop
    ) {
        let missing = missingTopics(request)
        guard !missing.isEmpty || size > Self.inlineProduceBytes else {
            let decoded = Self.decode(request)
            submitProduce(request, decoded: decoded, correlationID: correlationID, version: version, responder: responder, loop: loop)
            // Admitted as unordered when its topic was missing then, and another request has
            // created it since: it is queued now.
            return responder.ordered()
        }
        Task { [self] in
            for name in missing { _ = try? await describe(name, create: true) }
            let decoded = Self.decode(request)
            loop.execute {
                self.submitProduce(request, decoded: decoded, correlationID: correlationID, version: version, responder: responder, loop: loop)
                responder.ordered()
            }
        }
    }

    /// A partition's records as decoded from its batches, with the idempotent producer that sent
    /// them, or why they cannot be written.
    typealias DecodedPartition = Result<(records: [ProducerRecord], producer: ProducerIdentity?), BrookError>

    /// Decodes every partition's batches, by topic and partition in request order.
    private static func decode(_ request: ProduceRequest) -> [[DecodedPartition]] {
        request.topics.map { topic in
            topic.partitions.map { partition -> DecodedPartition in
                Result { () throws(BrookError) in
                    if request.transactionalID != nil {
                        throw BrookError(
                            .invalidRecord, "transactional produce is not supported: Brook has no transactions; produce without a transactional.id")
                    }
                    guard let bytes = partition.records else {
                        throw BrookError(.corruptMessage, "a produce to \(topic.name)-\(partition.index) carries null records")
                    }
                    let batches = try RecordBatchCodec.decode(bytes, partition: Int(partition.index))
                    let records = batches.count == 1 ? batches[0].records : batches.flatMap(\.records)
                    var producer: ProducerIdentity?
                    if let first = batches.first, first.isIdempotent {
                        producer = ProducerIdentity(id: first.producerID, epoch: Int32(first.producerEpoch))
                    }
                    return (records, producer)
                }
            }
        }
    }

    /// Queues each decoded partition to the writer, one submission per partition so that each
    /// answers its own error; replies once every partition has. On the event loop.
    private func submitProduce(
        _ request: ProduceRequest, decoded: [[DecodedPartition]], correlationID: Int32, version: Int16, responder: RequestResponder,
        loop: any EventLoop
    ) {
        let replies = ProduceReplies(request: request, correlationID: correlationID, version: version, responder: responder, loop: loop)
        let acks: Acks
        switch request.acks {
        case 0: acks = .noAck
        case 1: acks = .leader
        case -1: acks = .all
        default:
            // Kafka's INVALID_REQUIRED_ACKS: nothing is written.
            for (topicIndex, topic) in request.topics.enumerated() {
                for partitionIndex in topic.partitions.indices {
                    replies.answer((topicIndex, partitionIndex), code: KafkaErrorCode.invalidRequiredAcks, message: "acks=\(request.acks) is invalid: use 0, 1 or -1 (all)")
                }
            }
            replies.submitted = true
            return replies.replyIfDone()
        }
        let access = self.access
        for (topicIndex, topic) in request.topics.enumerated() {
            let writable = Result { () throws(KafkaAuthorizationError) in try authorize(.write, .topic(topic.name), access) }
            for (partitionIndex, partition) in topic.partitions.enumerated() {
                let slot = (topicIndex, partitionIndex)
                do {
                    try writable.get()
                    let (records, producer) = try decoded[topicIndex][partitionIndex].get()
                    let ticket = try broker.submitProduce(topic: topic.name, records: records, acks: acks, producer: producer)
                    replies.pending += 1
                    ticket.whenComplete { result in
                        responder.execute {
                            switch result {
                            case .success(let positions):
                                replies.answer(
                                    slot, baseOffset: positions.first?.offset ?? -1, logAppendTime: positions.first?.logAppendTime ?? -1,
                                    logStartOffset: self.logStartOffset(topic.name, Int(partition.index)))
                            case .failure(let error):
                                replies.answer(slot, error: error)
                                self.logRefusal(error, topic: topic.name, partition: partition.index, acks: acks)
                            }
                        }
                    }
                } catch {
                    replies.answer(slot, error: error)
                    logRefusal(error, topic: topic.name, partition: partition.index, acks: acks)
                }
            }
        }
        if acks == .noAck {
            responder.succeed(.none)
        } else {
            replies.submitted = true
            replies.replyIfDone()
        }
    }

    private func logStartOffset(_ topic: String, _ partition: Int) -> Int64 {
        (try? broker.describeTopic(topic).partition(partition).state.logStartOffset) ?? -1
    }

    private func logRefusal(_ error: any Error, topic: String, partition: Int32, acks: Acks) {
        listener.logger.debug("Kafka produce refused", metadata: [
            "peer": "\(peer)", "topic": "\(topic)", "partition": "\(partition)", "acks": "\(acks.rawValue)", "error": "\(error)",
        ])
    }

    // MARK: Fetch

    private func startFetch(_ request: KafkaFetchRequest, correlationID: Int32, version: Int16, responder: RequestResponder, loop: any EventLoop) {
        let options = broker.options
        let access = self.access
        let unreadable = Set(request.topics.map(\.name).filter { !access.allows(.read, .topic($0)) })
        let partitions = request.topics.filter { !unreadable.contains($0.name) }.flatMap { topic in
            topic.partitions.map {
                FetchRequest.Partition(
                    topic: topic.name, partition: Int($0.index), offset: $0.fetchOffset, maxBytes: max(1, Int($0.maxBytes)),
                    maxRecords: options.maxFetchRecords)
            }
        }
        let maxWaitMs = min(max(0, Int64(request.maxWaitMs)), options.maxFetchWaitMs)
        let fetchRequest = FetchRequest(
            partitions: partitions, minBytes: max(0, Int(request.minBytes)), maxBytes: max(1, Int(request.maxBytes)),
            maxWait: .milliseconds(maxWaitMs))
        let topics = request.topics
        // How each topic serves its batches, as its configs say now.
        let serving = Dictionary(request.topics.map { topic in
            (topic.name, (try? broker.describeTopic(topic.name).config).map(FetchServing.init) ?? FetchServing())
        }, uniquingKeysWith: { first, _ in first })
        let compresses = serving.values.contains { $0.codec != 0 }
        let fetch: PendingFetch<KafkaBatchSink>
        guard !partitions.isEmpty || unreadable.isEmpty else {
            // Nothing the user may read: every partition answers TOPIC_AUTHORIZATION_FAILED at once.
            let refusal = KafkaAuthorizationError(refusal: access.refusal(.read, .topic(unreadable.sorted()[0])), resourceType: .topic)
            return responder.succeed(.buffer(Self.fetchReply(
                .failure(refusal), topics: topics, unreadable: unreadable, serving: serving, correlationID: correlationID, version: version)))
        }
        do {
            fetch = try broker.startFetch(fetchRequest, into: KafkaBatchSink.self, readAhead: readAhead, executor: { loop.execute($0) }) { result in
                let reply = {
                    Self.fetchReply(result, topics: topics, unreadable: unreadable, serving: serving, correlationID: correlationID, version: version)
                }
                // An answer usually comes on a reader thread; records a commit handed over, or an
                // answer the asker called for, come on the event loop. Compressing them costs CPU in
                // proportion to their bytes (gzip about 1 µs a record), so that is done off it.
                if compresses, loop.inEventLoop, case .success(let response) = result, response.recordCount > 0 {
                    Task { responder.succeed(.buffer(reply())) }
                } else {
                    responder.succeed(.buffer(reply()))
                }
            }
        } catch {
            return responder.succeed(.buffer(Self.fetchReply(
                .failure(error), topics: topics, unreadable: unreadable, serving: serving, correlationID: correlationID, version: version)))
        }
        responder.onEnd { _ in fetch.answerNow() }
    }

    /// A Fetch reply in the request's topic order; every requested partition answers, those of
    /// `unreadable` topics with TOPIC_AUTHORIZATION_FAILED.
    private static func fetchReply(
        _ result: Result<FetchResponse<KafkaBatchSink>, Error>, topics: [KafkaFetchRequest.Topic], unreadable: Set<String> = [],
        serving: [String: FetchServing], correlationID: Int32, version: Int16
    ) -> ByteBuffer {
        var flat = 0
        let answered = topics.map { topic in
            (name: topic.name, partitions: topic.partitions.map { partition -> KafkaResponse.FetchedPartition in
                if unreadable.contains(topic.name) {
                    return KafkaResponse.FetchedPartition(
                        index: partition.index, errorCode: KafkaErrorCode.topicAuthorizationFailed, highWatermark: -1, logStartOffset: -1, records: nil)
                }
                defer { flat += 1 }
                switch result {
                case .success(let response):
                    let fetched = response.partitions[flat]
                    if let error = fetched.error {
                        return KafkaResponse.FetchedPartition(
                            index: partition.index, errorCode: KafkaErrorCode.code(for: error), highWatermark: fetched.highWatermark,
                            logStartOffset: fetched.logStartOffset, records: nil)
                    }
                    let serves = serving[topic.name] ?? FetchServing()
                    return KafkaResponse.FetchedPartition(
                        index: partition.index, errorCode: KafkaErrorCode.none, highWatermark: fetched.highWatermark,
                        logStartOffset: fetched.logStartOffset, records: fetched.sink, logAppendTime: serves.logAppendTime, codec: serves.codec)
                case .failure(let error):
                    return KafkaResponse.FetchedPartition(
                        index: partition.index, errorCode: KafkaErrorCode.code(for: error), highWatermark: -1, logStartOffset: -1, records: nil)
                }
            })
        }
        return KafkaResponse.fetch(correlationID: correlationID, version: version, topics: answered)
    }

    // MARK: Topic admin

    private func createTopics(_ request: CreateTopicsRequest) async -> [KafkaResponse.NamedResult] {
        var results: [KafkaResponse.NamedResult] = []
        let access = self.access
        for topic in request.topics {
            do {
                guard mayCreate(topic.name, access) else { throw KafkaAuthorizationError(refusal: access.refusal(.create, .topic(topic.name)), resourceType: .topic) }
                let partitions = topic.assignedPartitions > 0 ? topic.assignedPartitions
                    : topic.partitions == -1 ? configuration.defaultPartitions : Int(topic.partitions)
                if topic.replicationFactor > 1 {
                    results.append(KafkaResponse.NamedResult(
                        name: topic.name, errorCode: KafkaErrorCode.invalidReplicationFactor,
                        errorMessage: "replication factor \(topic.replicationFactor) is more than Brook's one replica: use 1 or -1"))
                    continue
                }
                var config = TopicConfig()
                try TopicConfigs.apply(topic.configs, to: &config)
                if request.validateOnly {
                    try TopicName.validate(topic.name)
                    try TopicName.validatePartitionCount(partitions)
                    if (try? broker.describeTopic(topic.name)) != nil {
                        throw BrookError(.topicAlreadyExists, "topic '\(topic.name)' already exists")
                    }
                } else {
                    try await broker.createTopic(topic.name, partitions: partitions, config: config)
                }
                results.append(KafkaResponse.NamedResult(name: topic.name, errorCode: KafkaErrorCode.none))
            } catch {
                results.append(Self.namedResult(topic.name, error))
            }
        }
        return results
    }

    private func deleteTopics(_ request: DeleteTopicsRequest) async -> [KafkaResponse.NamedResult] {
        var results: [KafkaResponse.NamedResult] = []
        let access = self.access
        for name in request.names {
            do {
                try authorize(.delete, .topic(name), access)
                try await broker.deleteTopic(name)
                results.append(KafkaResponse.NamedResult(name: name, errorCode: KafkaErrorCode.none))
            } catch {
                results.append(Self.namedResult(name, error))
            }
        }
        return results
    }

    private func createPartitions(_ request: CreatePartitionsRequest) async -> [KafkaResponse.NamedResult] {
        var results: [KafkaResponse.NamedResult] = []
        let access = self.access
        for topic in request.topics {
            do {
                try authorize(.alter, .topic(topic.name), access)
                let current = try broker.describeTopic(topic.name).partitions.count
                // Kafka's rule: the new count must be larger.
                guard Int(topic.count) > current else {
                    throw BrookError(.invalidPartitions, "topic '\(topic.name)' has \(current) partitions; the new count \(topic.count) must be larger")
                }
                try TopicName.validatePartitionCount(Int(topic.count))
                if !request.validateOnly { try await broker.addPartitions(topic.name, count: Int(topic.count)) }
                results.append(KafkaResponse.NamedResult(name: topic.name, errorCode: KafkaErrorCode.none))
            } catch {
                results.append(Self.namedResult(topic.name, error))
            }
        }
        return results
    }

    /// Topics (resource type 2) answer their configs; a broker (4) has none to describe.
    private func describeConfigs(_ request: DescribeConfigsRequest) -> [KafkaResponse.DescribedResource] {
        let access = self.access
        return request.resources.map { resource in
            switch resource.type {
            case 2:
                do {
                    try authorize(.describeConfigs, .topic(resource.name), access)
                    let topic = try broker.describeTopic(resource.name)
                    let entries = TopicConfigs.entries(topic.config).filter { entry in resource.keys.map { $0.contains(entry.name) } ?? true }
                    return KafkaResponse.DescribedResource(errorCode: KafkaErrorCode.none, type: 2, name: resource.name, configs: entries)
                } catch {
                    let named = Self.namedResult(resource.name, error)
                    return KafkaResponse.DescribedResource(
                        errorCode: named.errorCode, errorMessage: named.errorMessage, type: 2, name: resource.name, configs: [])
                }
            case 4:
                guard access.allows(.describeConfigs, .cluster) else {
                    return KafkaResponse.DescribedResource(
                        errorCode: KafkaErrorCode.clusterAuthorizationFailed, errorMessage: access.refusal(.describeConfigs, .cluster).message,
                        type: 4, name: resource.name, configs: [])
                }
                return KafkaResponse.DescribedResource(errorCode: KafkaErrorCode.none, type: 4, name: resource.name, configs: [])
            default:
                return KafkaResponse.DescribedResource(
                    errorCode: KafkaErrorCode.invalidRequest, errorMessage: "resource type \(resource.type) has no configs in Brook: describe a topic (2)",
                    type: resource.type, name: resource.name, configs: [])
            }
        }
    }

    /// Topics' configs; a broker has none Brook lets a client change.
    private func alterConfigs(_ request: AlterConfigsRequest) async -> [(result: KafkaResponse.NamedResult, type: Int8)] {
        var results: [(result: KafkaResponse.NamedResult, type: Int8)] = []
        let access = self.access
        for resource in request.resources {
            guard resource.type == 2 else {
                results.append((KafkaResponse.NamedResult(
                    name: resource.name, errorCode: KafkaErrorCode.invalidRequest,
                    errorMessage: "resource type \(resource.type) has no configs Brook can change: alter a topic (2)"), resource.type))
                continue
            }
            do {
                try authorize(.alterConfigs, .topic(resource.name), access)
                let current = try broker.describeTopic(resource.name).config
                let altered = try TopicConfigs.alter(resource.configs, incremental: request.incremental, of: current)
                if !request.validateOnly { try await broker.alterTopic(resource.name, config: altered) }
                results.append((KafkaResponse.NamedResult(name: resource.name, errorCode: KafkaErrorCode.none), 2))
            } catch {
                results.append((Self.namedResult(resource.name, error), 2))
            }
        }
        return results
    }

    private func deleteRecords(_ request: DeleteRecordsRequest) async -> [(name: String, partitions: [KafkaResponse.DeletedPartition])] {
        var topics: [(name: String, partitions: [KafkaResponse.DeletedPartition])] = []
        let access = self.access
        for topic in request.topics {
            var partitions: [KafkaResponse.DeletedPartition] = []
            for partition in topic.partitions {
                do {
                    try authorize(.delete, .topic(topic.name), access)
                    let start = try await broker.deleteRecords(
                        topic: topic.name, partition: Int(partition.index), before: partition.offset == -1 ? nil : partition.offset)
                    partitions.append(KafkaResponse.DeletedPartition(index: partition.index, lowWatermark: start, errorCode: KafkaErrorCode.none))
                } catch {
                    partitions.append(KafkaResponse.DeletedPartition(index: partition.index, lowWatermark: -1, errorCode: KafkaErrorCode.code(for: error)))
                }
            }
            topics.append((topic.name, partitions))
        }
        return topics
    }

    private static func namedResult(_ name: String, _ error: any Error) -> KafkaResponse.NamedResult {
        let message = (error as? BrookError)?.message ?? (error as? KafkaAuthorizationError)?.refusal.message ?? "\(error)"
        return KafkaResponse.NamedResult(name: name, errorCode: KafkaErrorCode.code(for: error), errorMessage: message)
    }

    // MARK: ListOffsets

    private func listOffsets(_ request: ListOffsetsRequest, correlationID: Int32, version: Int16) async -> ByteBuffer {
        var topics: [(name: String, partitions: [KafkaResponse.ListedPartition])] = []
        let access = self.access
        for topic in request.topics {
            var partitions: [KafkaResponse.ListedPartition] = []
            let describable = access.allows(.describe, .topic(topic.name))
            for partition in topic.partitions {
                guard describable else {
                    partitions.append(KafkaResponse.ListedPartition(
                        index: partition.index, errorCode: KafkaErrorCode.topicAuthorizationFailed, timestamp: -1, offset: -1))
                    continue
                }
                let spec: OffsetSpec? = switch partition.timestamp {
                case -2: .earliest
                case -1: .latest
                case 0...: .timestamp(partition.timestamp)
                default: nil
                }
                guard let spec else {
                    partitions.append(KafkaResponse.ListedPartition(
                        index: partition.index, errorCode: KafkaErrorCode.invalidRequest, timestamp: -1, offset: -1))
                    continue
                }
                do {
                    let listed = try await broker.listOffset(topic: topic.name, partition: Int(partition.index), spec)
                    partitions.append(KafkaResponse.ListedPartition(
                        index: partition.index, errorCode: KafkaErrorCode.none, timestamp: listed?.timestamp ?? -1, offset: listed?.offset ?? -1))
                } catch {
                    partitions.append(KafkaResponse.ListedPartition(
                        index: partition.index, errorCode: KafkaErrorCode.code(for: error), timestamp: -1, offset: -1))
                }
            }
            topics.append((topic.name, partitions))
        }
        return KafkaResponse.listOffsets(correlationID: correlationID, version: version, topics: topics)
    }
}

/// Gathers a Produce request's partition answers on the connection's event loop; replies once
/// all have come. Used only on that loop.
private final class ProduceReplies: @unchecked Sendable {
    private var topics: [(name: String, partitions: [KafkaResponse.ProducedPartition])]
    private let correlationID: Int32
    private let version: Int16
    private let responder: RequestResponder
    var pending = 0
    var submitted = false

    init(request: ProduceRequest, correlationID: Int32, version: Int16, responder: RequestResponder, loop: any EventLoop) {
        topics = request.topics.map { topic in
            (topic.name, topic.partitions.map { KafkaResponse.ProducedPartition(index: $0.index) })
        }
        self.correlationID = correlationID
        self.version = version
        self.responder = responder
    }

    func answer(_ slot: (Int, Int), baseOffset: Int64, logAppendTime: Int64, logStartOffset: Int64) {
        topics[slot.0].partitions[slot.1].baseOffset = baseOffset
        topics[slot.0].partitions[slot.1].logAppendTime = logAppendTime
        topics[slot.0].partitions[slot.1].logStartOffset = logStartOffset
        pending -= 1
        replyIfDone()
    }

    func answer(_ slot: (Int, Int), error: any Error) {
        answer(slot, code: KafkaErrorCode.code(for: error), message: (error as? BrookError)?.message ?? "\(error)")
    }

    func answer(_ slot: (Int, Int), code: Int16, message: String) {
        topics[slot.0].partitions[slot.1].errorCode = code
        topics[slot.0].partitions[slot.1].errorMessage = message
        if submitted { pending -= 1 }
        replyIfDone()
    }

    func replyIfDone() {
        guard submitted, pending == 0 else { return }
        responder.succeed(.buffer(KafkaResponse.produce(correlationID: correlationID, version: version, topics: topics)))
    }
}

/// How a topic's fetched batches are written, from its configs.
struct FetchServing: Sendable {
    /// message.timestamp.type is LogAppendTime: batches carry the timestamp-type attribute.
    var logAppendTime = false
    /// compression.type's codec (1 gzip, 2 snappy, 3 lz4, 4 zstd); 0 serves them uncompressed.
    var codec: Int16 = 0

    init() {}

    init(_ config: TopicConfig) {
        logAppendTime = config.messageTimestampType == .logAppendTime
        switch config.compressionType {
        case .producer, .uncompressed: codec = 0
        case .gzip: codec = 1
        case .snappy: codec = 2
        case .lz4: codec = 3
        case .zstd: codec = 4
        }
    }
}
