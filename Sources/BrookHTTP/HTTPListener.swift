import BrookBroker
import BrookFrontEnd
import BrookModel
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
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
    /// The console asks for a login with the broker's users and applies their ACLs, and
    /// `/metrics` takes HTTP Basic credentials (`brook serve --auth` or `--tls-client-ca`). The
    /// password then crosses the connection: the listener must be on loopback or serve TLS.
    public var requireLogin = false
    /// Serve HTTPS with this certificate (`--tls-cert`, `--tls-key`). Browsers are not asked for
    /// client certificates: the console has its login.
    public var tls: ServerTLS?
    /// How long a console session lasts without a request.
    public var sessionIdleTimeout = Duration.seconds(30 * 60)

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
    /// The console's sessions, when it asks for a login.
    public let sessions: ConsoleSessions?
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
        sessions = configuration.requireLogin ? ConsoleSessions(idleTimeout: configuration.sessionIdleTimeout) : nil
        eventLoopGroup = MultiThreadedEventLoopGroup.singleton
        listening = eventLoopGroup.next().makePromise(of: SocketAddress.self)
    }

    /// The bound address, once the listener listens (useful with port 0).
    public func localAddress() async throws -> SocketAddress {
        try await listening.futureResult.get()
    }

    public func run() async throws {
        let server: HTTPServerBuilder
        do {
            try Self.checkLoginIsPrivate(configuration)
            server = try configuration.tls.map { try .tls(.http1(), tlsConfiguration: $0.tlsConfiguration) } ?? .http1()
        } catch {
            listening.fail(error)
            throw error
        }
        let router = Router(context: HTTPRequestContext.self)
        let passwords = PasswordCheck(users: broker.users)
        router.add(middleware: LoginGate(sessions: sessions, users: broker.users))
        HealthRoutes(broker: broker, readiness: readiness, eventLoops: eventLoopGroup).add(to: router)
        if let metrics {
            let gate = sessions.map { MetricsGate(sessions: $0, passwords: passwords, access: broker.access) }
            router.get("/metrics") { [broker] request, context in
                if let refusal = await gate?.refusal(request, context: context) { return refusal }
                let perPartition = request.uri.queryParameters["lag"] == "partition"
                let text = await metrics.exposition(of: broker, lagPerPartition: perPartition)
                return Response(
                    status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                    body: .init(byteBuffer: ByteBuffer(string: text)))
            }
        }
        let pages = ConsoleRoutes(broker: broker)
        LoginRoutes(sessions: sessions, passwords: passwords, secure: configuration.tls != nil, logger: logger).add(to: router, pages: pages)
        pages.add(to: router)
        let listening = self.listening
        let logger = self.logger
        let configuration = self.configuration
        let app = Application(
            router: router,
            server: server,
            configuration: ApplicationConfiguration(address: .hostname(configuration.host, port: configuration.port), serverName: nil),
            onServerRunning: { channel in
                let address = channel.localAddress!
                listening.succeed(address)
                logger.info("listening for HTTP", metadata: [
                    "http": "\(configuration.host):\(address.port ?? configuration.port)", "tls": "\(configuration.tls != nil)",
                    "login": "\(configuration.requireLogin)",
                ])
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
        try checkLoginIsPrivate(configuration)
        guard configuration.port != 0 else { return }
        do {
            try PortProbe.check(host: configuration.host, port: configuration.port)
        } catch {
            throw bindError(error, host: configuration.host, port: configuration.port) ?? error
        }
    }

    /// A login sends its password in the request: only over loopback, where no other machine can
    /// listen, or over TLS.
    /// - Throws: `INVALID_CONFIG` naming the address and the ways out.
    public static func checkLoginIsPrivate(_ configuration: HTTPListenerConfiguration) throws(BrookError) {
        guard configuration.requireLogin, configuration.tls == nil, !isLoopback(configuration.host) else { return }
        throw BrookError(
            .invalidConfig,
            "the console's login would send passwords unencrypted to HTTP on \(configuration.host):\(configuration.port), beyond this machine: give --tls-cert and --tls-key to serve HTTPS, bind HTTP to loopback with --http-host 127.0.0.1, or add --no-http")
    }

    /// Loopback by name or address: `localhost`, `127.x.x.x`, `::1`.
    public static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
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
