import NIOCore
import NIOPosix
import Synchronization

/// A TCP listener that accepts connections and never says a word, as a socket nobody serves
/// does: for tests of clients that must not wait on such a peer forever.
public final class SilentListener: Sendable {
    private let channel: any Channel
    private let accepted: AcceptedChannels
    public let port: Int

    /// Listens on `port` of 127.0.0.1 (0: an ephemeral port).
    public init(port: Int = 0) async throws {
        let accepted = AcceptedChannels()
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { child in
                accepted.add(child)
                return child.eventLoop.makeSucceededVoidFuture()
            }
            .bind(host: "127.0.0.1", port: port).get()
        self.accepted = accepted
        self.port = channel.localAddress?.port ?? port
    }

    /// Connections accepted so far.
    public var acceptedCount: Int { accepted.channels.withLock { $0.count } }

    /// Stops listening and closes every accepted connection.
    public func close() async {
        try? await channel.close()
        for child in accepted.channels.withLock({ $0 }) { try? await child.close() }
    }

    private final class AcceptedChannels: Sendable {
        let channels = Mutex<[any Channel]>([])
        func add(_ channel: any Channel) { channels.withLock { $0.append(channel) } }
    }
}
