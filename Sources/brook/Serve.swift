import ArgumentParser
import BrookBroker
import BrookCommandLine
import BrookFrontEnd
import BrookHTTP
import BrookKafka
import BrookLineServer
import BrookModel
import BrookWire
import Foundation
import Logging
import ServiceLifecycle

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the Brook server on a database file.")

    @Option(help: "The database file; created if missing.")
    var db = "brook.db"

    @Option(help: "The address to listen on; 0.0.0.0 opts in to every interface.")
    var host = "127.0.0.1"

    @Option(help: "The port to listen on (0 picks a free one).")
    var port = WireProtocol.defaultPort

    @Option(help: "Listen on this Unix domain socket instead of TCP (clients use --server unix:PATH).")
    var unixSocket: String?

    @Option(help: "The port for Kafka clients (0 picks a free one, logged).")
    var kafkaPort = KafkaListenerConfiguration.defaultPort

    @Flag(help: "Do not listen for Kafka clients.")
    var noKafka = false

    @Option(help: "The port for HTTP: /metrics, /livez, /readyz and the web console (0 picks a free one, logged).")
    var httpPort = HTTPListenerConfiguration.defaultPort

    @Option(help: "The address HTTP listens on (default: the --host address). Under --auth, beyond loopback it needs --tls-cert.")
    var httpHost: String?

    @Flag(help: "Do not serve HTTP (no metrics, health probes or console).")
    var noHttp = false

    @Option(help: "The host Kafka's Metadata tells clients to connect to (default: the --host address).")
    var kafkaAdvertisedHost: String?

    @Flag(help: "Do not create unknown topics on a Kafka client's Metadata or Produce.")
    var noAutoCreateTopics = false

    @Option(help: "Partitions of a topic a Kafka client auto-creates.")
    var defaultPartitions = 1

    @Option(help: "How often retention runs, in ms.")
    var retentionCheckIntervalMs = BrokerOptions().retentionCheckIntervalMs

    @Option(help: "group.initial.rebalance.delay.ms: how long a new group waits for more members.")
    var groupInitialRebalanceDelayMs: Int64 = GroupDefaults.initialRebalanceDelayMs

    @Option(help: "offsets.retention.minutes: a group with no members and no commit for this long is forgotten with its offsets.")
    var offsetsRetentionMinutes: Int64 = GroupDefaults.offsetsRetentionMs / 60_000

    @Flag(help: "Every connection must authenticate as a user of the file (brook users add): AUTH on the line protocol, SASL for Kafka clients; SCRAM-SHA-256/512, or PLAIN on loopback.")
    var auth = false

    @Option(
        name: .customLong("super-user"),
        help: "A user who passes every ACL check, beside those added with brook users add --super (repeatable).")
    var superUsers: [String] = []

    @Flag(help: "Listen on a non-loopback address without --auth: anyone who reaches the port can do anything.")
    var insecure = false

    @Option(help: "TLS on every listener (HTTP too): the server's certificate chain (PEM). Needs --tls-key.")
    var tlsCert: String?

    @Option(help: "The private key of --tls-cert (PEM, unencrypted).")
    var tlsKey: String?

    @Option(help: "Require client certificates signed by this CA (PEM): mTLS; a certificate's subject CN is the client's user.")
    var tlsClientCa: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"

    func validate() throws {
        // Protected mode, as Redis's: a server others can reach must check who they are.
        if (tlsCert == nil) != (tlsKey == nil) {
            throw ValidationError("--tls-cert and --tls-key go together: give the certificate (PEM) and its private key (PEM)")
        }
        if tlsClientCa != nil && tlsCert == nil {
            throw ValidationError("--tls-client-ca needs TLS: add --tls-cert and --tls-key")
        }
        if !Self.isLoopback(host), unixSocket == nil, !auth, tlsClientCa == nil, !insecure {
            throw ValidationError(
                "--host \(host) listens beyond this machine, and without --auth anyone who reaches the port can read, write and delete everything: add --auth (after brook users add NAME --super --db \(db)), or --insecure if that is what you mean")
        }
        if let httpHost, !noHttp, !Self.isLoopback(httpHost), !auth, tlsClientCa == nil, !insecure {
            throw ValidationError(
                "--http-host \(httpHost) serves the console beyond this machine, and without --auth it has no login: anyone who reaches the port can read, write and delete everything; add --auth (with --tls-cert and --tls-key), or --insecure if that is what you mean")
        }
        if defaultPartitions < 1 || defaultPartitions > TopicName.maxPartitions {
            throw ValidationError("--default-partitions \(defaultPartitions) is invalid: use 1 to \(TopicName.maxPartitions)")
        }
        if kafkaPort < 0 || kafkaPort > 65_535 {
            throw ValidationError("--kafka-port \(kafkaPort) is invalid: use 0 to 65535")
        }
        if httpPort < 0 || httpPort > 65_535 {
            throw ValidationError("--http-port \(httpPort) is invalid: use 0 to 65535")
        }
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    func run() async throws {
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError("log level '\(logLevel)' is not one of trace, debug, info, notice, warning, error, critical")
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        try await reportingErrors {
            var options = BrokerOptions()
            options.retentionCheckIntervalMs = retentionCheckIntervalMs
            options.groups.initialRebalanceDelayMs = groupInitialRebalanceDelayMs
            options.groups.offsetsRetentionMs = offsetsRetentionMinutes * 60_000
            options.logger = Logger(label: "brook.broker")
            // Connections have identities, so the ACLs in the file hold (docs/security.md).
            options.enforceACLs = auth || tlsClientCa != nil
            options.superUsers = Set(superUsers)
            // The registry /metrics shows; without HTTP the broker records nothing.
            let metrics = noHttp ? nil : BrookMetrics()
            options.metrics = metrics?.factory
            var configuration = LineServerConfiguration()
            configuration.host = host
            configuration.port = port
            configuration.unixSocketPath = unixSocket
            var tls: ServerTLS?
            if let tlsCert, let tlsKey {
                do {
                    tls = try ServerTLS(certificateFile: tlsCert, keyFile: tlsKey, clientCAFile: tlsClientCa)
                } catch let error as ServerTLS.SetupError {
                    throw BrookError(.invalidConfig, error.description)
                }
            }
            configuration.tls = tls
            // Before the database is opened, so a port in use leaves no new file behind.
            try await LineServer.checkCanListen(configuration)
            var http = HTTPListenerConfiguration()
            http.host = httpHost ?? host
            http.port = httpPort
            // Under --auth or client certificates, the console asks for a login and applies the
            // ACLs, and /metrics takes HTTP Basic credentials (docs/http.md).
            http.requireLogin = auth || tlsClientCa != nil
            if let tlsCert, let tlsKey {
                // Browsers are not asked for client certificates: the console has its own login.
                do {
                    http.tls = try ServerTLS(certificateFile: tlsCert, keyFile: tlsKey)
                } catch let error as ServerTLS.SetupError {
                    throw BrookError(.invalidConfig, error.description)
                }
            }
            if !noHttp { try HTTPListener.checkCanListen(http) }
            // What /readyz waits for: the database, then every listener bound.
            let readiness = Readiness()
            readiness.expect("database", reason: "the database is not open yet")
            let broker = try Broker(path: db, options: options)
            if auth && broker.users.isEmpty {
                await broker.close()
                throw BrookError(
                    .invalidConfig,
                    "--auth needs a user in '\(db)', and it has none: stop here and run brook users add NAME --super --db \(db), then start the server again")
            }
            configuration.requireAuthentication = auth
            let server = LineServer(broker: broker, configuration: configuration, logger: Logger(label: "brook.server"))
            readiness.ready("database")
            var services: [any Service] = [BrokerService(broker: broker), server]
            readiness.expect("line listener", reason: "the line listener is not bound yet") { _ = try await server.localAddress() }
            metrics?.countConnections(protocol: "line") { server.connections }
            if !noKafka {
                var kafka = KafkaListenerConfiguration()
                kafka.host = host
                kafka.port = kafkaPort
                kafka.advertisedHost = kafkaAdvertisedHost
                kafka.autoCreateTopics = !noAutoCreateTopics
                kafka.defaultPartitions = defaultPartitions
                kafka.requireAuthentication = auth
                kafka.tls = tls
                // One connection limit for both listeners: the line server's, which it lowered to
                // fit the open-file limit, since both take their descriptors from that one limit.
                kafka.maxConnections = server.connectionLimit.maximum
                kafka.idleTimeoutMs = configuration.limits.idleTimeoutMs
                kafka.maxInFlight = configuration.limits.maxInFlight
                kafka.maxInFlightBytes = configuration.limits.maxInFlightBytes
                let kafkaLogger = Logger(label: "brook.kafka")
                kafkaLogger.info("the Kafka listener shares the line server's connection limit", metadata: [
                    "max_connections": "\(server.connectionLimit.maximum)",
                ])
                let listener = KafkaListener(broker: broker, configuration: kafka, logger: kafkaLogger, sharing: server.connectionLimit)
                readiness.expect("Kafka listener", reason: "the Kafka listener is not bound yet") { _ = try await listener.localAddress() }
                metrics?.countConnections(protocol: "kafka") { listener.connections }
                services.append(listener)
            }
            if !noHttp {
                services.append(HTTPListener(
                    broker: broker, configuration: http, readiness: readiness, metrics: metrics, logger: Logger(label: "brook.http")))
            }
            // Services stop in reverse order: the listeners first, then the broker closes the file.
            let group = ServiceGroup(
                services: services,
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: Logger(label: "brook.lifecycle"))
            try await group.run()
        }
    }
}
