import NIOCore
import NIOExtras
import NIOPosix
import ServiceLifecycle

/// Where a listener accepts connections.
public enum ListenAddress: Sendable, Hashable {
    case tcp(host: String, port: Int)
    /// A Unix domain socket; a stale socket file at the path is replaced.
    case unixSocket(path: String)
}

/// A bound server socket whose connections drain on shutdown: ``stop()`` stops accepting, sends
/// each connection `ChannelShouldQuiesceEvent` (a ``RequestPipelineHandler`` then finishes what it
/// started and closes), and ``stopped()`` returns once the last one has closed.
public final class QuiescingListener: Sendable {
    /// The bound address (with port 0, the port picked).
    public let localAddress: SocketAddress
    private let quiescing: ServerQuiescingHelper
    private let done: EventLoopPromise<Void>

    private init(localAddress: SocketAddress, quiescing: ServerQuiescingHelper, done: EventLoopPromise<Void>) {
        self.localAddress = localAddress
        self.quiescing = quiescing
        self.done = done
    }

    /// How long accepting pauses after `accept` fails (out of file descriptors, say).
    public static let acceptBackoff = TimeAmount.milliseconds(250)

    /// Binds `address`. Accepted connections allow remote half-closure (a peer that shuts down
    /// its sending side still reads every reply) and, over TCP, send without Nagle's delay.
    /// - Parameter initializeConnection: sets up an accepted connection's pipeline, on its event loop.
    public static func bind(
        _ address: ListenAddress, group: any EventLoopGroup, backlog: Int32 = 256,
        initializeConnection: @escaping @Sendable (any Channel) throws -> Void
    ) async throws -> QuiescingListener {
        let quiescing = ServerQuiescingHelper(group: group)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: backlog)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(quiescing.makeServerChannelHandler(channel: channel))
                    // A failing accept (EMFILE: out of file descriptors) is retried after a pause
                    // instead of at once, which spun a core until connections closed.
                    try channel.pipeline.syncOperations.addHandler(
                        AcceptBackoffHandler(shouldForwardIOErrorCaught: false, backoffProvider: { _ in acceptBackoff }))
                }
            }
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try initializeConnection(channel) }
            }
        let channel: any Channel
        switch address {
        case .unixSocket(let path):
            channel = try await bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get()
        case .tcp(let host, let port):
            channel = try await bootstrap
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
                .bind(host: host, port: port).get()
        }
        return QuiescingListener(localAddress: channel.localAddress!, quiescing: quiescing, done: channel.eventLoop.makePromise())
    }

    /// Stops accepting and lets every connection drain; ``stopped()`` returns once they have.
    public func stop() {
        quiescing.initiateShutdown(promise: done)
    }

    /// Returns once ``stop()`` has drained every connection.
    public func stopped() async {
        try? await done.futureResult.get()
    }

    /// Serves until graceful shutdown (or the task's cancellation), then stops accepting and
    /// returns once every connection has drained. `stopping` runs first (to log it).
    public func serveUntilShutdown(stopping: @escaping @Sendable () -> Void) async {
        let stop: @Sendable () -> Void = { [self] in
            stopping()
            self.stop()
        }
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                await stopped()
            } onCancel: {
                stop()
            }
        } onGracefulShutdown: {
            stop()
        }
    }
}
