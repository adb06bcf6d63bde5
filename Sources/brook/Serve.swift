import ArgumentParser
import BrookBroker
import BrookCommandLine
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

    @Option(help: "How often retention runs, in ms.")
    var retentionCheckIntervalMs = BrokerOptions().retentionCheckIntervalMs

    @Option(help: "group.initial.rebalance.delay.ms: how long a new group waits for more members.")
    var groupInitialRebalanceDelayMs: Int64 = GroupDefaults.initialRebalanceDelayMs

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"

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
            options.logger = Logger(label: "brook.broker")
            var configuration = LineServerConfiguration()
            configuration.host = host
            configuration.port = port
            configuration.unixSocketPath = unixSocket
            // Before the database is opened, so a port in use leaves no new file behind.
            try await LineServer.checkCanListen(configuration)
            let broker = try Broker(path: db, options: options)
            let server = LineServer(broker: broker, configuration: configuration, logger: Logger(label: "brook.server"))
            // Services stop in reverse order: the server first, then the broker closes the file.
            let group = ServiceGroup(
                services: [BrokerService(broker: broker), server],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: Logger(label: "brook.lifecycle"))
            try await group.run()
        }
    }
}
