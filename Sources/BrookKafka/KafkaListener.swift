import BrookAuth
import BrookBroker
import BrookFrontEnd
import BrookModel
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// Where the Kafka listener listens, what it advertises, and what it allows.
public struct KafkaListenerConfiguration: Sendable {
    /// Loopback by default; "0.0.0.0" opts in to every interface.
    public var host = "127.0.0.1"
    /// Kafka's port; 0 picks a free one.
    public var port = KafkaListenerConfiguration.defaultPort
    /// The host Metadata tells clients to connect to; nil advertises `host` (or 127.0.0.1 when
    /// `host` is a wildcard address).
    public var advertisedHost: String?
    /// Kafka's `auto.create.topics.enable`: Metadata and Produce create unknown topics.
    public var autoCreateTopics = true
    /// Partitions of an auto-created topic (Kafka's `num.partitions`).
    public var defaultPartitions = 1
    /// The most connections held; more are closed at once. Ignored when the listener is given a
    /// shared ``ConnectionLimit``.
    public var maxConnections = 10_000
    /// Requests one connection may have unanswered before it is no longer read.
    public var maxInFlight = 1_024
    /// Bytes one connection may hold in unanswered requests and unwritten replies.
    public var maxInFlightBytes = 64 * 1_048_576
    /// The largest request (its size field); a larger one closes the connection, as Kafka's
    /// `socket.request.max.bytes` does.
    public var maxRequestBytes = 64 * 1_048_576
    /// A connection with no traffic either way for this long is closed.
    public var idleTimeoutMs: Int64 = 600_000
    /// This broker's node id in Metadata (and the controller's).
    public var nodeID: Int32 = 0
    /// The cluster id Metadata reports.
    public var clusterID = "brook"
    /// Every connection must authenticate with SASL (SCRAM-SHA-256/512, or PLAIN on loopback)
    /// before anything but ApiVersions.
    public var requireAuthentication = false
    /// TLS on every connection (SSL or SASL_SSL for clients); with a client CA, a verified client
    /// certificate authenticates its connection as its subject CN.
    public var tls: ServerTLS?

    public static let defaultPort = 9092

    public init() {}

    /// The host Metadata advertises.
    public var effectiveAdvertisedHost: String {
        if let advertisedHost { return advertisedHost }
        return host == "0.0.0.0" || host == "::" ? "127.0.0.1" : host
    }
}

/// The TCP front-end speaking Kafka's wire protocol (docs/kafka.md) to a ``Broker``: the same
/// broker, records, topics and fetch engine as the line protocol. A swift-service-lifecycle
/// `Service`: on graceful shutdown it stops accepting, finishes the requests in flight (waking
/// long polls) and closes its connections.
public final class KafkaListener: Service, Sendable {
    public let broker: Broker
    public let configuration: KafkaListenerConfiguration
    let logger: Logger
    private let group: any EventLoopGroup
    private let listening: EventLoopPromise<SocketAddress>
    private let connectionLimit: ConnectionLimit
    /// The bound port, which Metadata advertises (known once listening).
    private let boundPort = Atomic<Int>(0)
    let heldBytes = SharedCount()
    /// Derives unknown users' stand-in SCRAM salts, so they look like known ones.
    let authSecret = ScramServerExchange.makeSecret()
    /// Requests counted and timed by API, when the broker keeps metrics.
    let requestMeters: RequestMeters<Int16>?

    public init(
        broker: Broker, configuration: KafkaListenerConfiguration = KafkaListenerConfiguration(),
        logger: Logger = Logger(label: "brook.kafka"),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        sharing connectionLimit: ConnectionLimit? = nil
    ) {
        self.broker = broker
        self.configuration = configuration
        self.logger = logger
        self.group = eventLoopGroup
        self.listening = eventLoopGroup.next().makePromise(of: SocketAddress.self)
        // With a shared limit (the line server's), both listeners' connections count against one
        // maximum, which fits the process's open-file limit.
        self.connectionLimit = connectionLimit ?? ConnectionLimit(maximum: configuration.maxConnections)
        self.requestMeters = broker.options.metrics.map { factory in
            RequestMeters(protocol: "kafka", apis: KafkaAPI.allCases.map { (key: $0.rawValue, name: $0.name) }, countsFailures: false, factory: factory)
        }
    }

    /// The bound address, once listening (useful with port 0).
    public func localAddress() async throws -> SocketAddress {
        try await listening.futureResult.get()
    }

    /// Open connections now.
    public var connections: Int { connectionLimit.count }

    /// The port Metadata advertises: the bound one.
    var advertisedPort: Int32 { Int32(boundPort.load(ordering: .relaxed)) }

    public func run() async throws {
        let listener: QuiescingListener
        do {
            listener = try await QuiescingListener.bind(.tcp(host: configuration.host, port: configuration.port), group: group) { channel in
                try self.setUp(channel)
            }
        } catch {
            listening.fail(error)
            throw error
        }
        let address = listener.localAddress
        boundPort.store(address.port ?? configuration.port, ordering: .relaxed)
        listening.succeed(address)
        // Logged as one address (no "port=" key), apart from the line server's port.
        logger.info("listening for Kafka clients", metadata: [
            "kafka": "\(configuration.host):\(address.port ?? configuration.port)",
            "advertised": "\(configuration.effectiveAdvertisedHost):\(address.port ?? configuration.port)",
        ])
        await listener.serveUntilShutdown { [logger] in
            logger.info("Kafka listener stopped accepting connections; finishing in-flight requests")
        }
        logger.info("Kafka listener stopped")
    }

    private func setUp(_ channel: any Channel) throws {
        let pipeline = channel.pipeline.syncOperations
        let peer = channel.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?"
        if let tls = configuration.tls { try pipeline.addHandler(tls.makeHandler()) }
        guard connectionLimit.admit(channel) else {
            // Kafka has no unsolicited messages: the client sees the connection close.
            logger.warning("refusing a Kafka connection: the listener holds its maximum", metadata: [
                "peer": "\(peer)", "max_connections": "\(connectionLimit.maximum)", "open": "\(connectionLimit.count)",
            ])
            try pipeline.addHandler(ConnectionRefusal(farewell: nil))
            return
        }
        try pipeline.addRequestPipeline(
            // The decoder refuses an oversize frame before buffering it; the cap is a backstop.
            decoder: ByteToMessageHandler(
                KafkaFrameDecoder(maxRequestBytes: configuration.maxRequestBytes), maximumBufferSize: configuration.maxRequestBytes + 1_024),
            adapter: KafkaConnection(listener: self, peer: peer, isLoopback: channel.remoteAddress?.isLoopback ?? false),
            limits: RequestPipelineLimits(maxInFlight: configuration.maxInFlight, maxInFlightBytes: configuration.maxInFlightBytes),
            idleTimeout: .milliseconds(configuration.idleTimeoutMs), heldBytes: heldBytes)
    }
}
