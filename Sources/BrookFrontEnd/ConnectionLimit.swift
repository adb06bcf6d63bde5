import NIOCore
import Synchronization

/// Counts a server's open connections, so that those past its maximum are turned away.
public final class ConnectionLimit: Sendable {
    public let maximum: Int
    private let open = Atomic<Int>(0)

    public init(maximum: Int) {
        self.maximum = maximum
    }

    /// Open connections now.
    public var count: Int { open.load(ordering: .relaxed) }

    /// Counts `channel` until it closes. Returns false past the maximum: the caller refuses it
    /// (``ConnectionRefusal``), and it is counted until then.
    public func admit(_ channel: any Channel) -> Bool {
        let now = open.add(1, ordering: .relaxed).newValue
        channel.closeFuture.whenComplete { _ in self.open.subtract(1, ordering: .relaxed) }
        return now <= maximum
    }
}

/// Answers a connection with one farewell as soon as it opens (nothing, for a protocol with no
/// unsolicited messages), then closes it: a connection past the server's maximum.
public final class ConnectionRefusal: ChannelInboundHandler, Sendable {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer
    private let farewell: ByteBuffer?

    public init(farewell: ByteBuffer?) {
        self.farewell = farewell
    }

    public func channelActive(context: ChannelHandlerContext) {
        guard let farewell else { return context.close(promise: nil) }
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(farewell)).whenComplete { _ in bound.value.close(promise: nil) }
    }
}

extension ChannelPipeline.SynchronousOperations {
    /// A request/reply connection's handlers: the protocol's frame decoder, then a
    /// ``RequestPipelineHandler`` over `adapter`, which also keeps the idle timer. The channel should allow remote half-closure,
    /// so that a peer that shuts down its write side still reads every reply.
    /// - Parameters:
    ///   - idleTimeout: no traffic either way for this long closes the connection, with the
    ///     adapter's farewell.
    public func addRequestPipeline<Adapter: RequestPipelineAdapter>(
        decoder: some ChannelHandler, adapter: Adapter, limits: RequestPipelineLimits, idleTimeout: TimeAmount,
        heldBytes: SharedCount
    ) throws {
        try addHandler(decoder)
        try addHandler(RequestPipelineHandler(adapter: adapter, limits: limits, heldBytes: heldBytes, idleTimeout: idleTimeout))
    }
}
