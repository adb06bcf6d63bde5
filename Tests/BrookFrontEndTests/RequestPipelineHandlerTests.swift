import BrookFrontEnd
import NIOCore
import NIOEmbedded
import Testing

/// A request of the fake protocol: a name, and how it is admitted.
struct FakeRequest {
    var name: String
    var held = 0
    var concurrency = RequestAdmission.Concurrency.exclusive
    var orderedOnStart = true
}

struct FakeError: Error {
    var text: String
}

/// A protocol whose requests are answered only when a test says so, through the responders it keeps.
final class FakeAdapter: RequestPipelineAdapter {
    typealias Request = FakeRequest

    var started: [String] = []
    var responders: [String: RequestResponder] = [:]
    var ended: [String] = []
    var closed = 0

    func admission(of request: FakeRequest) -> RequestAdmission {
        RequestAdmission(heldBytes: request.held, concurrency: request.concurrency, orderedOnStart: request.orderedOnStart)
    }

    func start(_ request: FakeRequest, responder: RequestResponder, context: ChannelHandlerContext) {
        started.append(request.name)
        responders[request.name] = responder
        responder.onEnd { [unowned self] ending in ended.append("\(request.name):\(ending)") }
    }

    func reply(to error: any Error, allocator: ByteBufferAllocator) -> ByteBuffer {
        ByteBuffer(string: "ERR \((error as? FakeError)?.text ?? "?")\n")
    }

    func greeting(allocator: ByteBufferAllocator) -> ByteBuffer? { ByteBuffer(string: "HELLO\n") }

    func idleFarewell(allocator: ByteBufferAllocator) -> ByteBuffer? { ByteBuffer(string: "IDLE\n") }

    func connectionClosed() { closed += 1 }

    /// Answers `name` with the line `name`.
    func answer(_ name: String, thenClose: Bool = false) {
        responders[name]!.succeed(.buffer(ByteBuffer(string: "\(name)\n")), thenClose: thenClose)
    }
}

/// Counts the reads and flushes that reach the channel, as swift-nio's
/// HTTPServerPipelineHandlerTest counts reads.
final class ReadCounter: ChannelOutboundHandler {
    typealias OutboundIn = Any
    typealias OutboundOut = Any
    var reads = 0
    var flushes = 0

    func read(context: ChannelHandlerContext) {
        reads += 1
        context.read()
    }

    func flush(context: ChannelHandlerContext) {
        flushes += 1
        context.flush()
    }
}

/// A connection of the fake protocol on an `EmbeddedChannel`: no sockets, no clocks but its own.
final class FakeConnection {
    let channel = EmbeddedChannel()
    let adapter = FakeAdapter()
    let counter = ReadCounter()
    let held = SharedCount()

    init(maxInFlight: Int = 100, maxInFlightBytes: Int = 1_000) throws {
        try channel.pipeline.syncOperations.addHandler(counter)
        try channel.pipeline.syncOperations.addHandler(RequestPipelineHandler(
            adapter: adapter, limits: RequestPipelineLimits(maxInFlight: maxInFlight, maxInFlightBytes: maxInFlightBytes),
            heldBytes: held))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        #expect(try written() == ["HELLO"])
    }

    var reads: Int { counter.reads }

    func send(_ requests: FakeRequest...) throws {
        for request in requests { try channel.writeInbound(request) }
        channel.embeddedEventLoop.run()
    }

    /// The lines written since the last call.
    func written() throws -> [String] {
        channel.embeddedEventLoop.run()
        var lines: [String] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) {
            lines += String(buffer: buffer).split(separator: "\n").map(String.init)
        }
        return lines
    }

    /// Asks to read, as the channel does after each read burst.
    func read() {
        channel.read()
        channel.embeddedEventLoop.run()
    }

    func finish() throws {
        #expect(try written() == [])
        #expect(try channel.finish().isClean)
    }
}

func overlapping(_ name: String, held: Int = 0) -> FakeRequest {
    FakeRequest(name: name, held: held, concurrency: .overlapping)
}

func exclusive(_ name: String, held: Int = 0) -> FakeRequest {
    FakeRequest(name: name, held: held, concurrency: .exclusive)
}

struct RequestPipelineHandlerTests {
    @Test func repliesAreWrittenInRequestOrderWhateverOrderTheyComplete() throws {
        let connection = try FakeConnection()
        try connection.send(overlapping("a"), overlapping("b"), overlapping("c"))
        #expect(connection.adapter.started == ["a", "b", "c"])
        connection.adapter.answer("c")
        connection.adapter.answer("b")
        #expect(try connection.written() == [], "b and c wait for a")
        connection.adapter.answer("a")
        #expect(try connection.written() == ["a", "b", "c"])
        try connection.finish()
    }

    @Test func anExclusiveRequestWaitsForEveryEarlierOneAndLaterOnesWaitForIt() throws {
        let connection = try FakeConnection()
        try connection.send(overlapping("p1"), overlapping("p2"), exclusive("x"), overlapping("p3"))
        #expect(connection.adapter.started == ["p1", "p2"])
        connection.adapter.answer("p2")
        #expect(connection.adapter.started == ["p1", "p2"])
        connection.adapter.answer("p1")
        #expect(connection.adapter.started == ["p1", "p2", "x"])
        connection.adapter.answer("x")
        #expect(connection.adapter.started == ["p1", "p2", "x", "p3"])
        connection.adapter.answer("p3")
        #expect(try connection.written() == ["p1", "p2", "x", "p3"])
        try connection.finish()
    }

    @Test func aRequestNotOrderedOnStartHoldsBackTheNextUntilItIs() throws {
        let connection = try FakeConnection()
        try connection.send(FakeRequest(name: "big", concurrency: .overlapping, orderedOnStart: false), overlapping("small"))
        #expect(connection.adapter.started == ["big"])
        connection.adapter.responders["big"]!.ordered()
        #expect(connection.adapter.started == ["big", "small"])
        connection.adapter.answer("small")
        connection.adapter.answer("big")
        #expect(try connection.written() == ["big", "small"])
        try connection.finish()
    }

    @Test func errorsAndEmptyRepliesKeepTheirPlace() throws {
        let connection = try FakeConnection()
        try connection.send(overlapping("a"), overlapping("b"), overlapping("c"))
        connection.adapter.responders["c"]!.succeed(.buffer(ByteBuffer(string: "c\n")))
        connection.adapter.responders["b"]!.succeed(.none)
        connection.adapter.responders["a"]!.fail(FakeError(text: "no a"))
        connection.adapter.answer("a")  // answered twice: ignored
        #expect(try connection.written() == ["ERR no a", "c"])
        try connection.finish()
    }

    @Test func noReadWhileOverTheCountLimitAndAReadOnceRoomReturns() throws {
        let connection = try FakeConnection(maxInFlight: 2)
        connection.read()
        #expect(connection.reads == 1)
        try connection.send(overlapping("a"), overlapping("b"))
        connection.read()
        #expect(connection.reads == 1, "two unanswered requests: no read")
        connection.adapter.answer("b")
        #expect(connection.reads == 1, "b is answered but not written: it still counts")
        connection.adapter.answer("a")
        #expect(try connection.written() == ["a", "b"])
        #expect(connection.reads == 2, "the read asked for while full happens now")
        try connection.finish()
    }

    @Test func noReadWhileOverTheByteLimitAndAReadOnceRoomReturns() throws {
        let connection = try FakeConnection(maxInFlightBytes: 100)
        try connection.send(overlapping("a", held: 60))
        connection.read()
        #expect(connection.reads == 1, "60 of 100 bytes held: reading goes on")
        #expect(connection.held.value == 60)
        try connection.send(overlapping("b", held: 60))
        connection.read()
        #expect(connection.reads == 1, "120 of 100 bytes held: no read")
        // A request read while full waits; it is not started, and holds nothing yet.
        try connection.send(overlapping("c", held: 60))
        #expect(connection.adapter.started == ["a", "b"])
        connection.adapter.answer("a")
        #expect(try connection.written() == ["a"])
        #expect(connection.adapter.started == ["a", "b", "c"])
        #expect(connection.reads == 1, "b and c hold 120 bytes")
        connection.adapter.answer("b")
        connection.adapter.answer("c")
        #expect(try connection.written() == ["b", "c"])
        #expect(connection.reads == 2)
        #expect(connection.held.value == 0)
        try connection.finish()
    }

    @Test func aLargeReplyIsHeldUntilTheSocketTakesIt() throws {
        let connection = try FakeConnection(maxInFlightBytes: 100_000)
        try connection.send(exclusive("a"))
        let reply = ByteBuffer(repeating: UInt8(ascii: "x"), count: 20_000)
        connection.adapter.responders["a"]!.succeed(.buffer(reply))
        // EmbeddedChannel takes a write as soon as it is flushed.
        #expect(try connection.channel.readOutbound(as: ByteBuffer.self) == reply)
        connection.channel.embeddedEventLoop.run()
        #expect(connection.held.value == 0)
        try connection.finish()
    }

    @Test func anUnwritableChannelIsNotReadUntilItIsWritableAgain() throws {
        let connection = try FakeConnection()
        connection.channel.isWritable = false
        connection.channel.pipeline.fireChannelWritabilityChanged()
        connection.read()
        #expect(connection.reads == 0)
        connection.channel.isWritable = true
        connection.channel.pipeline.fireChannelWritabilityChanged()
        connection.channel.embeddedEventLoop.run()
        #expect(connection.reads == 1)
        try connection.finish()
    }

    @Test func closingWithRequestsPendingEndsThemAndDropsTheirLateReplies() throws {
        let connection = try FakeConnection()
        try connection.send(overlapping("a", held: 10), overlapping("b", held: 20), exclusive("queued"))
        let released = ReleaseCount()
        connection.adapter.responders["b"]!.succeed(.stream(ReplyStream(head: ByteBuffer(string: "b\n"), write: { _ in }, release: { released.add() })))
        #expect(connection.held.value == 30)
        #expect(try connection.written() == [], "b waits for a")
        try connection.channel.close().wait()
        #expect(connection.adapter.ended == ["a:connectionClosed"], "the running request is told; the answered one is not")
        #expect(released.value == 1, "the unwritten stream is released")
        #expect(connection.held.value == 0)
        #expect(connection.adapter.closed == 1)
        connection.adapter.answer("a")
        #expect(try connection.written() == [])
        #expect(connection.adapter.started == ["a", "b"], "the queued request never starts")
        #expect(try connection.channel.finish(acceptAlreadyClosed: true).isClean)
    }

    @Test func quiesceEndsStartedRequestsFinishesThemThenCloses() throws {
        let connection = try FakeConnection()
        try connection.send(overlapping("a"), overlapping("b"), exclusive("queued"))
        connection.adapter.answer("b")
        connection.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        #expect(connection.adapter.ended == ["a:quiesce"])
        connection.read()
        #expect(connection.reads == 0, "no read after quiesce")
        try connection.send(exclusive("late"))
        #expect(connection.channel.isActive)
        connection.adapter.answer("a")
        #expect(try connection.written() == ["a", "b"])
        #expect(!connection.channel.isActive)
        #expect(connection.adapter.started == ["a", "b"], "nothing not started before quiesce starts after it")
        #expect(try connection.channel.finish(acceptAlreadyClosed: true).isClean)
    }

    @Test func quiesceOfAnIdleConnectionClosesItAtOnce() throws {
        let connection = try FakeConnection()
        connection.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        connection.channel.embeddedEventLoop.run()
        #expect(!connection.channel.isActive)
        #expect(try connection.written() == [])
        #expect(try connection.channel.finish(acceptAlreadyClosed: true).isClean)
    }

    @Test func aPeerThatHalfClosesGetsEveryReplyThenTheConnectionCloses() throws {
        let connection = try FakeConnection()
        try connection.send(overlapping("a"), overlapping("b"), exclusive("c"))
        connection.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        connection.adapter.answer("b")
        connection.adapter.answer("a")
        #expect(try connection.written() == ["a", "b"])
        #expect(connection.adapter.started == ["a", "b", "c"], "a request read before the half-close still starts")
        #expect(connection.channel.isActive)
        #expect(connection.adapter.ended == ["a:inputClosed", "b:inputClosed", "c:inputClosed"], "each is told, so that a long poll may answer now")
        connection.adapter.answer("c")
        #expect(try connection.written() == ["c"])
        #expect(!connection.channel.isActive)
        #expect(try connection.channel.finish(acceptAlreadyClosed: true).isClean)
    }

    @Test func aHalfCloseWithNothingPendingClosesAtOnce() throws {
        let connection = try FakeConnection()
        connection.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(try connection.written() == [])
        #expect(!connection.channel.isActive)
        #expect(try connection.channel.finish(acceptAlreadyClosed: true).isClean)
    }

    @Test func aReplyThatEndsTheConnectionClosesItAfterTheRepliesBefore() throws {
        let connection = try FakeConnection()
        try connection.send(overlapping("a"), overlapping("quit"), overlapping("after"))
        connection.adapter.answer("quit", thenClose: true)
        #expect(connection.channel.isActive, "a is still running")
        connection.adapter.answer("after")
        connection.adapter.answer("a")
        #expect(try connection.written() == ["a", "quit", "after"], "what started before the end is answered")
        #expect(!connection.channel.isActive)
        #expect(try connection.channel.finish(acceptAlreadyClosed: true).isClean)
    }

    @Test func aDeadlineEndsARunningRequest() throws {
        let connection = try FakeConnection()
        try connection.send(exclusive("poll"), exclusive("answered"))
        connection.adapter.responders["poll"]!.setDeadline(in: .seconds(5))
        connection.channel.embeddedEventLoop.advanceTime(by: .seconds(4))
        #expect(connection.adapter.ended == [])
        connection.channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(connection.adapter.ended == ["poll:deadline"])
        connection.adapter.answer("poll")
        // A deadline of an answered request never fires.
        connection.adapter.responders["answered"]!.setDeadline(in: .seconds(1))
        connection.adapter.answer("answered")
        connection.channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(connection.adapter.ended == ["poll:deadline"])
        #expect(try connection.written() == ["poll", "answered"])
        try connection.finish()
    }

    @Test func anIdleConnectionGetsTheFarewellAndCloses() throws {
        let connection = try FakeConnection()
        try connection.send(exclusive("a"))
        connection.channel.pipeline.fireUserInboundEventTriggered(IdleStateHandler.IdleStateEvent.all)
        #expect(try connection.written() == ["IDLE"])
        #expect(!connection.channel.isActive)
        #expect(connection.adapter.ended == ["a:connectionClosed"])
        #expect(try connection.channel.finish(acceptAlreadyClosed: true).isClean)
    }
}

final class ReleaseCount: @unchecked Sendable {
    private(set) var value = 0
    func add() { value += 1 }
}

struct ConnectionLimitTests {
    @Test func connectionsPastTheMaximumAreRefusedWithAFarewell() throws {
        let limit = ConnectionLimit(maximum: 1)
        let first = EmbeddedChannel()
        let second = EmbeddedChannel()
        #expect(limit.admit(first))
        #expect(!limit.admit(second))
        #expect(limit.count == 2)
        try second.pipeline.syncOperations.addHandler(ConnectionRefusal(farewell: ByteBuffer(string: "FULL\n")))
        try second.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        #expect(try second.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "FULL\n"))
        #expect(!second.isActive)
        second.embeddedEventLoop.run()
        #expect(limit.count == 1)
        _ = try first.finish()
        first.embeddedEventLoop.run()
        #expect(limit.count == 0)
    }
}

extension ConnectionLimitTests {
    @Test func aProtocolWithoutUnsolicitedMessagesRefusesByClosingSilently() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ConnectionRefusal(farewell: nil))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        #expect(!channel.isActive)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
    }
}

struct RequestPipelineIdleTests {
    /// A connection of the fake protocol whose handler keeps an idle timer of `timeout`.
    private func connection(idleTimeout timeout: TimeAmount) throws -> (EmbeddedChannel, FakeAdapter) {
        let channel = EmbeddedChannel()
        let adapter = FakeAdapter()
        try channel.pipeline.syncOperations.addHandler(RequestPipelineHandler(
            adapter: adapter, limits: RequestPipelineLimits(maxInFlight: 100, maxInFlightBytes: 1_000), idleTimeout: timeout))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        #expect(try channel.readOutbound(as: ByteBuffer.self).map { String(buffer: $0) } == "HELLO\n")
        return (channel, adapter)
    }

    @Test func aConnectionWithNoTrafficForTheTimeoutGetsTheFarewellAndCloses() throws {
        let (channel, adapter) = try connection(idleTimeout: .seconds(10))
        channel.embeddedEventLoop.advanceTime(by: .seconds(9))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(try channel.readOutbound(as: ByteBuffer.self).map { String(buffer: $0) } == "IDLE\n")
        #expect(!channel.isActive)
        #expect(adapter.closed == 1)
        #expect(try channel.finish(acceptAlreadyClosed: true).isClean)
    }

    @Test func readsAndRepliesPutTheIdleCloseOff() throws {
        let (channel, adapter) = try connection(idleTimeout: .seconds(10))
        channel.embeddedEventLoop.advanceTime(by: .seconds(6))
        // A request read: the connection is idle only 10 s after it.
        try channel.writeInbound(exclusive("a"))
        channel.embeddedEventLoop.advanceTime(by: .seconds(6))
        #expect(channel.isActive)
        // Its reply flushed: 10 s more from then.
        adapter.answer("a")
        #expect(try channel.readOutbound(as: ByteBuffer.self).map { String(buffer: $0) } == "a\n")
        channel.embeddedEventLoop.advanceTime(by: .seconds(9))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(try channel.readOutbound(as: ByteBuffer.self).map { String(buffer: $0) } == "IDLE\n")
        #expect(!channel.isActive)
        #expect(try channel.finish(acceptAlreadyClosed: true).isClean)
    }
}
