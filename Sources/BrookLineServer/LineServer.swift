import BrookAuth
import BrookBroker
import BrookFrontEnd
import BrookModel
import BrookWire
import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// Where the line server listens and what it allows.
public struct LineServerConfiguration: Sendable {
    /// Loopback by default; "0.0.0.0" opts in to every interface.
    public var host = "127.0.0.1"
    /// 7665 ("ROOK" on a phone keypad); 0 picks a free port.
    public var port = WireProtocol.defaultPort
    /// Listen on this Unix domain socket instead of TCP: for clients on the same machine (a
    /// sidecar), it skips the TCP stack. A stale socket file there is replaced.
    public var unixSocketPath: String?
    /// Frame sizes, connections, in-flight requests and the idle timeout, announced in the greeting.
    public var limits = WireLimits()
    /// Every connection must authenticate (AUTH) before anything but PING, HELP and QUIT.
    public var requireAuthentication = false
    /// TLS on every connection; with a client CA, a verified client certificate authenticates
    /// its connection as its subject CN.
    public var tls: ServerTLS?

    public init() {}
}

/// The TCP front-end speaking the line protocol (docs/protocol.md) to a ``Broker``. A
/// swift-service-lifecycle `Service`: on graceful shutdown it stops accepting, stops reading
/// new requests, finishes the ones in flight (waking long polls) and closes its connections.
public final class LineServer: Service, Sendable {
    public let broker: Broker
    /// The group members this server's connections consume through (JOIN, POLL, SEEK…).
    public let consumers: ServerSideConsumers
    public let configuration: LineServerConfiguration
    let logger: Logger
    private let group: any EventLoopGroup
    private let listening: EventLoopPromise<SocketAddress>
    /// Counts this server's connections against `max_connections` (after ``fitting``); another
    /// listener in the same process may share it, since they share one open-file limit.
    public let connectionLimit: ConnectionLimit
    private let connectionIDs = Atomic<UInt64>(0)
    /// Bytes all connections hold in unanswered PRODUCE data and unwritten replies.
    let heldBytes = SharedCount()
    /// Requests read from all connections since start.
    let requestsRead = SharedCount()
    /// Derives unknown users' stand-in SCRAM salts, so they look like known ones.
    let authSecret = ScramServerExchange.makeSecret()
    /// Requests counted and timed by verb, when the broker keeps metrics.
    let requestMeters: RequestMeters<String>?

    public init(
        broker: Broker, configuration: LineServerConfiguration = LineServerConfiguration(),
        logger: Logger = Logger(label: "brook.server"),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.broker = broker
        consumers = ServerSideConsumers(broker: broker)
        self.configuration = Self.fitting(configuration, logger: logger)
        self.logger = logger
        self.group = eventLoopGroup
        self.listening = eventLoopGroup.next().makePromise(of: SocketAddress.self)
        self.connectionLimit = ConnectionLimit(maximum: self.configuration.limits.maxConnections)
        self.requestMeters = broker.options.metrics.map { factory in
            RequestMeters(protocol: "line", apis: Request.verbs.map { (key: $0, name: $0) }, countsFailures: true, factory: factory)
        }
    }

    /// Raises the open-file limit to its hard limit, and lowers `max_connections` to what fits
    /// under it: past the limit `accept` fails, and the server could only turn clients away
    /// without a word. The greeting announces what is kept.
    private static func fitting(_ configuration: LineServerConfiguration, logger: Logger) -> LineServerConfiguration {
        var configuration = configuration
        let (before, after) = DescriptorLimit.raiseToHard()
        if after > before { logger.info("raised the open-file limit (RLIMIT_NOFILE) to its hard limit", metadata: ["from": "\(before)", "to": "\(after)"]) }
        let fit = DescriptorLimit.connectionsThatFit
        if fit < configuration.limits.maxConnections {
            logger.notice(
                "lowered max_connections to fit the open-file limit; raise it (ulimit -n) for more connections",
                metadata: [
                    "max_connections": "\(fit)", "asked": "\(configuration.limits.maxConnections)", "open_file_limit": "\(DescriptorLimit.current)",
                    "open_files": "\(DescriptorLimit.open)", "reserved": "\(DescriptorLimit.reserve)",
                ])
            configuration.limits.maxConnections = fit
        }
        return configuration
    }

    /// The bound address, once the server listens (useful with port 0).
    public func localAddress() async throws -> SocketAddress {
        try await listening.futureResult.get()
    }

    /// Open connections now.
    public var connections: Int { connectionLimit.count }
    /// Bytes held now for unanswered PRODUCE data and replies not yet written, over all connections.
    public var inFlightBytes: Int { heldBytes.value }
    /// Requests read since start, over all connections.
    public var requestsReceived: Int { requestsRead.value }

    public func run() async throws {
        let listener: QuiescingListener
        do {
            let address: ListenAddress
            if let path = configuration.unixSocketPath {
                try Self.checkUnixSocketPath(path)
                address = .unixSocket(path: path)
            } else {
                address = .tcp(host: configuration.host, port: configuration.port)
            }
            do {
                listener = try await QuiescingListener.bind(address, group: group) { channel in try self.setUp(channel) }
            } catch {
                throw Self.bindError(error, host: configuration.host, port: configuration.port) ?? error
            }
        } catch {
            listening.fail(error)
            throw error
        }
        let address = listener.localAddress
        listening.succeed(address)
        if let path = configuration.unixSocketPath {
            logger.info("listening", metadata: ["unix": "\(path)", "db": "\(broker.path)"])
        } else {
            logger.info("listening", metadata: [
                "host": "\(configuration.host)", "port": "\(address.port ?? configuration.port)", "db": "\(broker.path)",
            ])
        }
        // Runs until graceful shutdown (or cancellation): then it stops accepting, each connection
        // stops reading, answers what it started (waking long polls) and closes.
        await listener.serveUntilShutdown { [logger] in
            logger.info("stopped accepting connections; finishing in-flight requests")
        }
        if let path = configuration.unixSocketPath { try? FileManager.default.removeItem(atPath: path) }
        logger.info("line server stopped")
    }

    /// Binds the configured TCP address and lets it go: `brook serve` calls this before it opens
    /// its database, so a port in use is reported without creating a database file first.
    /// (``PortProbe`` binds without listening.)
    /// - Throws: `INVALID_CONFIG` naming the host and port when they cannot be bound.
    public static func checkCanListen(_ configuration: LineServerConfiguration) async throws {
        guard configuration.unixSocketPath == nil, configuration.port != 0 else { return }
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
            return BrookError(.invalidConfig, "port \(port) on \(host) is already in use (another brook serve?); stop that process or choose another --port")
        case EACCES:
            return BrookError(.invalidConfig, "port \(port) on \(host) needs privileges to bind; choose a port above 1023")
        case EADDRNOTAVAIL:
            return BrookError(.invalidConfig, "address \(host) is not one of this machine's; choose another --host")
        default:
            return nil
        }
    }

    /// The longest Unix socket path the system takes (`sun_path` holds 108 bytes with its NUL).
    static let maxUnixSocketPathBytes = 107

    /// Refuses a path too long for a socket, or one holding something other than a socket (a
    /// stale socket file is replaced; anything else is left alone).
    static func checkUnixSocketPath(_ path: String) throws(BrookError) {
        if path.utf8.count > maxUnixSocketPathBytes {
            throw BrookError(.invalidConfig, "unix socket path '\(path)' is \(path.utf8.count) bytes; the limit is \(maxUnixSocketPathBytes)")
        }
        var status = stat()
        if lstat(path, &status) == 0 && (status.st_mode & S_IFMT) != S_IFSOCK {
            throw BrookError(.invalidConfig, "'\(path)' exists and is not a socket; refusing to replace it (remove it or choose another path)")
        }
    }

    /// The pipeline of an accepted connection, or a refusal past `max_connections`.
    private func setUp(_ channel: any Channel) throws {
        let limits = configuration.limits
        let pipeline = channel.pipeline.syncOperations
        if let tls = configuration.tls { try pipeline.addHandler(tls.makeHandler()) }
        guard connectionLimit.admit(channel) else {
            let refusal = LineConnection.error(BrookError(
                .tooManyConnections, "the server holds max_connections=\(limits.maxConnections) connections; try again later"))
            try pipeline.addHandler(ConnectionRefusal(farewell: refusal))
            return
        }
        let peer = channel.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?"
        let isLoopback = channel.remoteAddress?.isLoopback ?? false
        try pipeline.addRequestPipeline(
            // The decoder bounds its own buffer; the handler's cap is a backstop.
            decoder: ByteToMessageHandler(FrameDecoder(limits: limits), maximumBufferSize: limits.maxRequestBytes + 2 * limits.maxLine),
            adapter: LineConnection(server: self, id: connectionIDs.add(1, ordering: .relaxed).newValue, peer: peer, isLoopback: isLoopback),
            limits: RequestPipelineLimits(maxInFlight: limits.maxInFlight, maxInFlightBytes: limits.maxInFlightBytes),
            idleTimeout: .milliseconds(limits.idleTimeoutMs), heldBytes: heldBytes)
    }
}
