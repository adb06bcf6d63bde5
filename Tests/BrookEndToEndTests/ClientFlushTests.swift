import BrookWire
import NIOCore
import NIOEmbedded
import Testing

@testable import BrookClient

/// Counts the flushes that reach the channel.
private final class FlushCounter: ChannelOutboundHandler {
    typealias OutboundIn = Any
    typealias OutboundOut = Any
    var flushes = 0

    func flush(context: ChannelHandlerContext) {
        flushes += 1
        context.flush()
    }
}

struct ClientFlushTests {
    /// A producer refilling its window from each reply's callback sends what one read's replies
    /// asked for in one write.
    @Test func requestsSentWhileRepliesAreReadLeaveWithOneFlush() throws {
        let channel = EmbeddedChannel()
        let counter = FlushCounter()
        let greeting = channel.eventLoop.makePromise(of: Frame.self)
        try channel.pipeline.syncOperations.addHandler(counter)
        try channel.pipeline.syncOperations.addHandler(ClientHandler(greeting: greeting))
        let first = channel.eventLoop.makePromise(of: Frame.self)
        let second = channel.eventLoop.makePromise(of: Frame.self)
        let send = { (text: String) in
            channel.writeAndFlush(Outgoing(buffer: ByteBuffer(string: text), reply: nil), promise: nil)
        }
        let request = { (text: String, reply: EventLoopPromise<Frame>) in
            channel.writeAndFlush(Outgoing(buffer: ByteBuffer(string: text), reply: ReplySlot(.frame(reply))), promise: nil)
        }
        // Outside a read, each flush goes at once.
        request("PING 1\r\n", first)
        request("PING 2\r\n", second)
        #expect(counter.flushes == 2)
        for promise in [first, second] {
            promise.futureResult.whenSuccess { frame in send("PRODUCE after \(frame.line.text)\r\n") }
        }

        // One read brings the greeting and both replies; each callback sends a request.
        channel.pipeline.syncOperations.fireChannelRead(NIOAny(FrameEvent.frame(Frame(line: Line("OK HELLO")))))
        channel.pipeline.syncOperations.fireChannelRead(NIOAny(FrameEvent.frame(Frame(line: Line("OK PONG 1")))))
        channel.pipeline.syncOperations.fireChannelRead(NIOAny(FrameEvent.frame(Frame(line: Line("OK PONG 2")))))
        #expect(counter.flushes == 2, "nothing flushed before the read ends")
        channel.pipeline.syncOperations.fireChannelReadComplete()
        #expect(counter.flushes == 3)
        var written: [String] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { written.append(String(buffer: buffer)) }
        #expect(written == ["PING 1\r\n", "PING 2\r\n", "PRODUCE after OK PONG 1\r\n", "PRODUCE after OK PONG 2\r\n"])

        // A read that ends without its read-complete event still flushes before the loop's next turn.
        let third = channel.eventLoop.makePromise(of: Frame.self)
        request("PING 3\r\n", third)
        third.futureResult.whenSuccess { _ in send("LAST\r\n") }
        channel.pipeline.syncOperations.fireChannelRead(NIOAny(FrameEvent.frame(Frame(line: Line("OK PONG 3")))))
        #expect(counter.flushes == 4)
        channel.embeddedEventLoop.run()
        #expect(counter.flushes == 5)
        _ = try channel.finish()
    }
}
