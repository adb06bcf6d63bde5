import BrookBroker
import BrookFrontEnd
import BrookModel
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// Where and what the HTTP listener serves.
public struct HTTPListenerConfiguration: Sendable {
    /// The address to listen on.
    public var host = "127.0.0.1"
    /// The port (0 picks a free one, logged).
    public var port = HTTPListenerConfiguration.defaultPort
    /// Serve only `/livez` and `/readyz`, as under `--auth`: the console and `/metrics` show every
    /// topic and group, and need a login of their own before they can be served there.
    public var healthOnly = false

    public static let defaultPort = 7666

    public init() {}
}

/// The HTTP front-end, on Hummingbird: `/livez`, `/readyz`, `/metrics` and the web console, over
/// the same broker as the other listeners. A swift-service-lifecycle `Service`: on graceful
/// shutdown it stops accepting and finishes the requests in flight.
public final class HTTPListener: Service, Sendable {
    public let broker: Broker
    public let configuration: HTTPListenerConfiguration
    public let readiness: Readiness
    /// The registry behind `/metrics`; nil serves no `/metrics`.
    public let metrics: BrookMetrics?
    private let logger: Logger
    private let eventLoopGroup: MultiThreadedEventLoopGroup
    private let listening: EventLoopPromise<SocketAddress>

    /// - Parameters:
    ///   - broker: the broker the console and `/metrics` read.
    ///   - readiness: what `/readyz` waits for besides the broker's own health.
    ///   - metrics: what `/metrics` shows.
    public init(
        broker: Broker, configuration: HTTPListenerConfiguration = HTTPListenerConfiguration(), readiness: Readiness = Readiness(),
        metrics: BrookMetrics? = nil, logger: Logger = Logger(label: "brook.http")
    ) {
        self.broker = broker
        self.configuration = configuration
        self.readiness = readiness
        self.metrics = metrics
        self.logger = logger
        eventLoopGroup = MultiThreadedEventLoopGroup.singleton
        listening = eventLoopGroup.next().makePromise(of: SocketAddress.self)
    }

    /// The bound address, once the listener listens (useful with port 0).
    public func localAddress() async throws -> SocketAddress {
        try await listening.futureResult.get()
    }

    public func run() async throws {
        let router = Router()
        HealthRoutes(broker: broker, readiness: readiness, eventLoops: eventLoopGroup).add(to: router)
        if configuration.healthOnly {
            for path in ["/", "/metrics"] {
                router.get(RouterPath(path)) { _, _ in
                    HealthRoutes.answer(.forbidden, "the console and /metrics are not served under --auth yet; /livez and /readyz are")
                }
            }
        } else if let metrics {
            router.get("/metrics") { [broker] request, _ in
                let perPartition = request.uri.queryParameters["lag"] == "partition"
                let text = await metrics.exposition(of: broker, lagPerPartition: perPartition)
                return Response(
                    status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                    body: .init(byteBuffer: ByteBuffer(string: text)))
            }
        }
        if !configuration.healthOnly { ConsoleRoutes(broker: broker).add(to: router) }
        let listening = self.listening
        let logger = self.logger
        let configuration = self.configuration
        let app = Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname(configuration.host, port: configuration.port), serverName: nil),
            onServerRunning: { channel in
                let address = channel.localAddress!
                listening.succeed(address)
                logger.info("listening for HTTP", metadata: ["http": "\(configuration.host):\(address.port ?? configuration.port)"])
            },
            eventLoopGroupProvider: .shared(eventLoopGroup),
            logger: logger)
        do {
            try await app.run()
        } catch {
            let named = Self.bindError(error, host: configuration.host, port: configuration.port) ?? error
            listening.fail(named)
            throw named
        }
        // Bound and stopped, or never bound: either way nobody waits any longer.
        listening.fail(BrookError(.brokerNotAvailable, "the HTTP listener stopped"))
        logger.info("HTTP listener stopped")
    }

    /// Binds the configured address and lets it go: `brook serve` calls this before it opens its
    /// database, so a port in use is reported without creating a database file first.
    /// - Throws: `INVALID_CONFIG` naming the host and port when they cannot be bound.
    public static func checkCanListen(_ configuration: HTTPListenerConfiguration) throws {
        guard configuration.port != 0 else { return }
        do {
            try PortProbe.check(host: configuration.host, port: configuration.port)
        } catch {
            throw bindError(error, host: configuration.host, port: configuration.port) ?? error
        }
    }

    /// A failed bind in words that name the port and say what to do, or nil for other failures.
    static func bindError(_ error: any Error, host: String, port: Int) -> BrookError? {
        guard let error = error as? IOError else { return nil }
        switch error.errnoCode {
        case EADDRINUSE:
            return BrookError(.invalidConfig, "HTTP port \(port) on \(host) is already in use (another brook serve?); stop that process, choose another --http-port, or add --no-http")
        case EACCES:
            return BrookError(.invalidConfig, "HTTP port \(port) on \(host) needs privileges to bind; choose an --http-port above 1023")
        case EADDRNOTAVAIL:
            return BrookError(.invalidConfig, "address \(host) is not one of this machine's; choose another --host")
        default:
            return nil
        }
    }
}
