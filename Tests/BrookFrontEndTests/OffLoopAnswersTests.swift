import Dispatch
import NIOCore
import NIOEmbedded
import NIOPosix
import Synchronization
import Testing

@testable import BrookFrontEnd

/// Pipeline slots that record the answers handed to them and how they were grouped.
final class RecordingSlots: RequestSlots, @unchecked Sendable {
    // Touched only on the event loop.
    var deliveries: [[UInt64]] = []
    private var current: [UInt64]?

    func answering(_ body: () -> Void) {
        current = []
        body()
        deliveries.append(current!)
        current = nil
    }

    func complete(_ slot: UInt64, with answer: SlotAnswer, thenClose: Bool) {
        if current != nil { current!.append(slot) } else { deliveries.append([slot]) }
    }

    func ordered(_ slot: UInt64) {}
    func setEnd(_ slot: UInt64, _ end: @escaping (RequestEnding) -> Void) {}
    func setDeadline(_ slot: UInt64, in delay: TimeAmount) {}
    func deadlinePassed(_ slot: UInt64) {}
    func release(_ bytes: Int) {}
    func streamWritten(held: Int) {}
    func processAfterRelease() {}
    func idleCheckDue() {}
}

struct OffLoopAnswersTests {
    @Test func answersGivenWhileTheLoopIsBusyReachThePipelineTogetherInOrder() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let loop = group.next()
        let slots = RecordingSlots()
        let pipeline = try loop.submit { NIOLoopBound<any RequestSlots>(slots, eventLoop: loop) }.wait()
        let answers = OffLoopAnswers()
        let responders = (0..<5).map { RequestResponder(pipeline: pipeline, answers: answers, slot: UInt64($0)) }

        // The loop is busy (as it is between a commit's first answer and its last): the five
        // answers given meanwhile wait, then arrive in one delivery.
        let busy = DispatchSemaphore(value: 0)
        loop.execute { busy.wait() }
        for responder in responders { responder.succeed(.none) }
        busy.signal()
        try loop.submit {}.wait()
        #expect(try loop.submit { slots.deliveries }.wait() == [[0, 1, 2, 3, 4]])

        // Once delivered, the next answer schedules a delivery of its own.
        responders[0].fail(FakeError(text: "late"))
        try loop.submit {}.wait()
        #expect(try loop.submit { slots.deliveries }.wait() == [[0, 1, 2, 3, 4], [0]])
    }

    @Test func answersDeliveredTogetherAreWrittenWithOneFlush() throws {
        let connection = try FakeConnection()
        let flushes = connection.counter
        let before = flushes.flushes
        let handler = try connection.channel.pipeline.syncOperations.handler(type: RequestPipelineHandler<FakeAdapter>.self)
        try connection.send(overlapping("a"), overlapping("b"), overlapping("c"))
        handler.answering {
            connection.adapter.answer("b")
            connection.adapter.answer("a")
            connection.adapter.answer("c")
        }
        #expect(try connection.written() == ["a", "b", "c"])
        #expect(flushes.flushes == before + 1)

        // Answered on the loop, one by one, each writes at once.
        try connection.send(overlapping("d"), overlapping("e"))
        connection.adapter.answer("d")
        connection.adapter.answer("e")
        #expect(try connection.written() == ["d", "e"])
        #expect(flushes.flushes == before + 3)
        try connection.finish()
    }
}
