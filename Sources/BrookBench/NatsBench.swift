import ArgumentParser
import BrookClient
import BrookCommandLine
import BrookModel
import Foundation
import NIOCore
import Synchronization

/// `brook bench nats`: the workloads of `brook bench produce`, `consume` and `e2e` against NATS
/// JetStream, so bench/compare.sh can set JetStream beside Brook with the same load generator —
/// the same pacing, window, connections and histograms, on the same event loops.
struct NatsBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nats",
        abstract: "The same workloads against a NATS JetStream server, for comparison.",
        discussion: """
            A stream stands for a partition: --streams N creates N streams (<stream>-0 … <stream>-N-1), \
            each taking the one subject <stream>.<i>, with file storage and one replica.
            """,
        subcommands: [NatsProduceBench.self, NatsConsumeBench.self, NatsEndToEndBench.self])
}

struct NatsServerOption: ParsableArguments {
    @Option(name: .long, help: "The NATS server, HOST:PORT (run with -js).")
    var server = "127.0.0.1:4222"

    func address() throws -> ServerAddress {
        guard let address = ServerAddress(server), address.unixSocketPath == nil else {
            throw BrookError(.invalidRequest, "--server '\(server)' is not HOST:PORT")
        }
        return address
    }
}

extension NatsMessage {
    /// The payload holds `"error"`: the key of a JetStream reply that refuses (a publish
    /// acknowledgement has `stream` and `seq` only). A plain scan: the standard library's generic
    /// search cost more CPU than the rest of an acknowledgement's handling.
    var isJetStreamError: Bool {
        payload.withUnsafeReadableBytes { bytes in
            let key: StaticString = #""error""#
            return key.withUTF8Buffer { key in
                guard bytes.count >= key.count else { return false }
                for start in 0...(bytes.count - key.count) where bytes[start] == key[0] {
                    var index = 1
                    while index < key.count, bytes[start + index] == key[index] { index += 1 }
                    if index == key.count { return true }
                }
                return false
            }
        }
    }
}

/// JetStream's API calls the benches make, on an admin connection.
enum JetStreamAdmin {
    /// Creates a stream with file storage and one replica taking `subject`; creating it again with
    /// the same settings is accepted.
    static func createStream(_ name: String, subject: String, on connection: NatsConnection) async throws {
        _ = try await connection.jetStreamRequest(
            "$JS.API.STREAM.CREATE.\(name)",
            #"{"name":"\#(name)","subjects":["\#(subject)"],"storage":"file","retention":"limits","discard":"old","num_replicas":1}"#)
    }

    /// The number of messages a stream holds.
    static func messageCount(_ name: String, on connection: NatsConnection) async throws -> Int {
        let info = try await connection.jetStreamRequest("$JS.API.STREAM.INFO.\(name)", "")
        guard let state = info["state"] as? [String: Any], let messages = state["messages"] as? Int else {
            throw BrookError(.unknownServerError, "JetStream's STREAM.INFO for \(name) has no state.messages")
        }
        return messages
    }

    /// Creates a durable consumer that acknowledges nothing (the server keeps its position, as a
    /// consumer group's committed offset), from the stream's first message, or its next one with
    /// `fromNew`. With `deliverSubject` it is a push consumer, else a pull consumer.
    static func createConsumer(_ name: String, stream: String, fromNew: Bool = false, deliverSubject: String? = nil, on connection: NatsConnection) async throws {
        let deliver = deliverSubject.map { #","deliver_subject":"\#($0)""# } ?? ""
        _ = try await connection.jetStreamRequest(
            "$JS.API.CONSUMER.DURABLE.CREATE.\(stream).\(name)",
            #"{"stream_name":"\#(stream)","config":{"durable_name":"\#(name)","deliver_policy":"\#(fromNew ? "new" : "all")","ack_policy":"none","replay_policy":"instant"\#(deliver)}}"#)
    }
}

struct NatsProduceBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "produce", abstract: "Publish N messages with JetStream acknowledgements, up to --window unacknowledged per connection.")
    @OptionGroup var server: NatsServerOption
    @Option var stream = "bench"
    @Option(help: "Streams (JetStream's partitions); connection i publishes to stream i mod N.") var streams = 4
    @Option var messages = 1_000_000
    @Option(help: "Payload bytes per message.") var size = 100
    @Option var connections = 4
    @Option(help: "Messages published and not yet acknowledged, per connection.") var window = 800

    func run() async throws {
        try await reportingErrors {
            guard streams > 0, connections > 0, window > 0, messages > 0 else { throw BrookError(.invalidRequest, "--streams, --connections, --window and --messages must be at least 1") }
            let address = try server.address()
            let admin = try await NatsConnection.connect(to: address)
            for index in 0..<streams { try await JetStreamAdmin.createStream("\(stream)-\(index)", subject: "\(stream).\(index)", on: admin) }
            await admin.close()
            let payload = ByteBuffer(repeating: UInt8(ascii: "x"), count: size)
            let progress = Progress(label: "nats produce", total: messages)
            let started = ContinuousClock.now
            let latencies = try await Latencies.ofShares(of: messages, connections: connections) { index, share in
                let connection = try await NatsConnection.connect(to: address)
                let load = NatsPublishLoad(connection: connection, subject: "\(stream).\(index % streams)", payload: payload, window: window, share: share, progress: progress)
                let latencies = try await load.run()
                await connection.close()
                return latencies
            }
            progress.stop()
            report("nats-produce", messages: messages, size: size, elapsed: ContinuousClock.now - started, latencies: latencies,
                   extra: "connections=\(connections) window=\(window) streams=\(streams) size=\(size)")
        }
    }
}

/// One connection's share of `bench nats produce`: up to `window` publishes awaiting their
/// JetStream acknowledgement, each next one sent from an acknowledgement's callback on the
/// connection's event loop — as `ProduceLoad` drives Brook. The publishes sent for the
/// acknowledgements of one read go out in one flush, as nats.go's writer sends them. Each
/// publish's reply subject ends in its number, so its acknowledgement finds its send time even
/// out of order.
final class NatsPublishLoad: Sendable {
    private struct State {
        var sent = 0
        var acknowledged = 0
        var inFlight = 0
        var sentAt: [ContinuousClock.Instant]
        var latencies = Latencies()
        var finished: CheckedContinuation<Latencies, Error>?
    }

    private let connection: NatsConnection
    private let subject: String
    private let replyPrefix: String
    private let payload: ByteBuffer
    private let window: Int
    private let share: Int
    private let progress: Progress
    private let state: Mutex<State>

    init(connection: NatsConnection, subject: String, payload: ByteBuffer, window: Int, share: Int, progress: Progress) {
        self.connection = connection
        self.subject = subject
        replyPrefix = connection.inbox + ".p."
        self.payload = payload
        self.window = window
        self.share = share
        self.progress = progress
        state = Mutex(State(sentAt: Array(repeating: .now, count: share)))
    }

    func run() async throws -> Latencies {
        connection.subscribe(replyPrefix + "*") { [self] message in acknowledged(message) }
        try await connection.roundTrip()
        return try await withCheckedThrowingContinuation { continuation in
            state.withLock { $0.finished = continuation }
            connection.onFailure { [self] error in finish(error) }
            connection.eventLoop.execute { [self] in fill(flush: true) }
        }
    }

    private func fill(flush: Bool) {
        while true {
            let now = ContinuousClock.now
            let token = state.withLock { state -> Int? in
                guard state.sent < share, state.inFlight < window, state.finished != nil else { return nil }
                defer {
                    state.sent += 1
                    state.inFlight += 1
                }
                state.sentAt[state.sent] = now
                return state.sent
            }
            guard let token else { break }
            connection.publish(subject, replyTo: replyPrefix, token: token, payload: payload, flush: false)
        }
        if flush { connection.flush() }
        finish(nil)
    }

    private func acknowledged(_ message: NatsMessage) {
        let now = ContinuousClock.now
        guard message.status == nil, let token = message.lastSubjectNumber, token < share,
            !message.isJetStreamError
        else {
            let said = message.status == 503 ? "no stream takes the subject \(subject)" : String(buffer: message.payload).prefix(200)
            return finish(BrookError(.unknownServerError, "JetStream did not acknowledge a publish to \(subject): \(said)"))
        }
        state.withLock { state in
            state.inFlight -= 1
            state.acknowledged += 1
            state.latencies.record(now - state.sentAt[token])
        }
        progress.add(1)
        fill(flush: false)
    }

    private func finish(_ error: Error?) {
        let done = state.withLock { state -> (CheckedContinuation<Latencies, Error>, Latencies)? in
            guard error != nil || state.acknowledged == share, let finished = state.finished else { return nil }
            state.finished = nil
            return (finished, state.latencies)
        }
        guard let (continuation, latencies) = done else { return }
        if let error { continuation.resume(throwing: error) } else { continuation.resume(returning: latencies) }
    }
}

struct NatsConsumeBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consume", abstract: "Drain the streams' backlog with a durable pull consumer per stream, B messages per pull request.")
    @OptionGroup var server: NatsServerOption
    @Option var stream = "bench"
    @Option var streams = 4
    @Option var messages = 1_000_000
    @Option(help: "Messages per pull request.") var batch = 1_000

    func run() async throws {
        try await reportingErrors {
            guard streams > 0, batch > 0 else { throw BrookError(.invalidRequest, "--streams and --batch must be at least 1") }
            let address = try server.address()
            let admin = try await NatsConnection.connect(to: address)
            // A new durable consumer per run, so each run reads from the first message.
            let consumer = "drain-\(UUID().uuidString.prefix(8))"
            var counts: [Int] = []
            for index in 0..<streams {
                counts.append(try await JetStreamAdmin.messageCount("\(stream)-\(index)", on: admin))
                try await JetStreamAdmin.createConsumer(consumer, stream: "\(stream)-\(index)", on: admin)
            }
            await admin.close()
            let target = min(messages, counts.reduce(0, +))
            guard target > 0 else { throw BrookError(.invalidRequest, "streams \(stream)-0… hold no messages; run brook bench nats produce first") }
            let progress = Progress(label: "nats consume", total: target)
            let started = ContinuousClock.now
            let (count, bytes, latencies) = try await Latencies.ofDrain(target: target, available: counts) { index, want in
                let connection = try await NatsConnection.connect(to: address)
                let load = NatsPullLoad(connection: connection, stream: "\(stream)-\(index)", consumer: consumer, want: want, batch: batch, progress: progress)
                let result = try await load.run()
                await connection.close()
                return result
            }
            progress.stop()
            report("nats-consume", messages: count, size: count == 0 ? 0 : bytes / count, elapsed: ContinuousClock.now - started, latencies: latencies, extra: "batch=\(batch) streams=\(streams)")
        }
    }
}

/// One stream's drain: one pull request of up to `batch` messages in flight, the next sent from
/// the callback that receives the last message of the one before — as `brook bench consume` keeps
/// one FETCH in flight per partition. Latency is per pull request, from its send to its last
/// message.
final class NatsPullLoad: Sendable {
    private struct State {
        var received = 0
        var bytes = 0
        var requested = 0
        var outstanding = 0
        var requestSentAt = ContinuousClock.now
        var latencies = Latencies()
        var finished: CheckedContinuation<(Int, Int, Latencies), Error>?
    }

    private let connection: NatsConnection
    private let stream: String
    private let nextSubject: String
    private let deliverTo: String
    private let want: Int
    private let batch: Int
    private let progress: Progress
    private let state = Mutex(State())

    init(connection: NatsConnection, stream: String, consumer: String, want: Int, batch: Int, progress: Progress) {
        self.connection = connection
        self.stream = stream
        nextSubject = "$JS.API.CONSUMER.MSG.NEXT.\(stream).\(consumer)"
        deliverTo = connection.inbox + ".pull"
        self.want = want
        self.batch = batch
        self.progress = progress
    }

    func run() async throws -> (Int, Int, Latencies) {
        connection.subscribe(deliverTo) { [self] message in delivered(message) }
        try await connection.roundTrip()
        return try await withCheckedThrowingContinuation { continuation in
            state.withLock { $0.finished = continuation }
            connection.onFailure { [self] error in finish(error) }
            connection.eventLoop.execute { [self] in pull() }
        }
    }

    private func pull() {
        let count = state.withLock { state -> Int in
            state.requested = min(batch, want - state.received)
            state.outstanding = state.requested
            state.requestSentAt = .now
            return state.requested
        }
        // A request that cannot be filled within 10 s ends with a 408 status and is sent again.
        connection.publish(nextSubject, replyTo: deliverTo, payload: ByteBuffer(string: #"{"batch":\#(count),"expires":10000000000}"#))
    }

    private func delivered(_ message: NatsMessage) {
        if let status = message.status {
            // 100: a heartbeat; 404 and 408: the request ended before it was filled.
            switch status {
            case 100: return
            case 404, 408: return pull()
            default:
                return finish(BrookError(.unknownServerError, "JetStream ended a pull request on \(stream) with status \(status): \(String(buffer: message.headers ?? ByteBuffer()).prefix(200))"))
            }
        }
        let now = ContinuousClock.now
        let next = state.withLock { state -> (filled: Int, done: Bool)? in
            state.received += 1
            state.bytes += message.payload.readableBytes
            state.outstanding -= 1
            guard state.outstanding == 0 else { return nil }
            state.latencies.record(now - state.requestSentAt)
            return (state.requested, state.received >= want)
        }
        guard let next else { return }
        progress.add(next.filled)
        if next.done { finish(nil) } else { pull() }
    }

    private func finish(_ error: Error?) {
        let done = state.withLock { state -> (CheckedContinuation<(Int, Int, Latencies), Error>, (Int, Int, Latencies))? in
            guard let finished = state.finished else { return nil }
            state.finished = nil
            return (finished, (state.received, state.bytes, state.latencies))
        }
        guard let (continuation, result) = done else { return }
        if let error { continuation.resume(throwing: error) } else { continuation.resume(returning: result) }
    }
}

struct NatsEndToEndBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "e2e", abstract: "Publish at a fixed rate while a push consumer receives; latency from send to receipt.")
    @OptionGroup var server: NatsServerOption
    @Option var stream = "e2e"
    @Option(help: "Messages per second.") var rate = 10_000
    @Option(help: "Seconds.") var duration = 10
    @Option var size = 100

    func run() async throws {
        try await reportingErrors {
            guard rate > 0, duration > 0 else { throw BrookError(.invalidRequest, "--rate and --duration must be at least 1") }
            let address = try server.address()
            let total = rate * duration
            let origin = ContinuousClock.now
            // The consumer: a push consumer with no acknowledgements delivering to this
            // connection as each message is stored, the lowest-latency consumer JetStream has.
            let consumerConnection = try await NatsConnection.connect(to: address)
            try await JetStreamAdmin.createStream(stream, subject: stream, on: consumerConnection)
            let receiver = NatsReceiveLoad(total: total, origin: origin)
            let deliverSubject = consumerConnection.inbox + ".tail"
            consumerConnection.subscribe(deliverSubject) { message in receiver.received(message) }
            consumerConnection.onFailure { error in receiver.fail(error) }
            try await consumerConnection.roundTrip()
            try await JetStreamAdmin.createConsumer("tail-\(UUID().uuidString.prefix(8))", stream: stream, fromNew: true, deliverSubject: deliverSubject, on: consumerConnection)

            // The producer, paced on its connection's event loop as `bench e2e` paces Brook's;
            // acknowledgements are counted as they come, pacing never waits for them.
            let producer = try await NatsConnection.connect(to: address)
            let acknowledged = Mutex<(count: Int, failure: Error?)>((0, nil))
            producer.subscribe(producer.inbox + ".acks") { message in
                let refused = message.status != nil || message.isJetStreamError
                acknowledged.withLock { state in
                    state.count += 1
                    if refused, state.failure == nil {
                        state.failure = BrookError(.unknownServerError, "JetStream did not acknowledge a publish to \(stream): \(String(buffer: message.payload).prefix(200))")
                    }
                }
            }
            try await producer.roundTrip()
            let replyTo = producer.inbox + ".acks"
            let pacer = Pacer(rate: rate, total: total, origin: origin, loop: producer.eventLoop) { nanos in
                var payload = ByteBuffer(repeating: 0, count: max(8, size))
                payload.setInteger(nanos, at: 0, endianness: .little)
                producer.publish(stream, replyTo: replyTo, payload: payload)
            }
            let sent = await pacer.run()
            let deadline = ContinuousClock.now + .seconds(30)
            while acknowledged.withLock({ $0.count }) < sent, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
            if let failure = acknowledged.withLock({ $0.failure }) { throw failure }
            let acks = acknowledged.withLock { $0.count }
            guard acks == sent else { throw BrookError(.requestTimedOut, "JetStream acknowledged \(acks) of \(sent) publishes within 30 s of the last") }
            let latencies = try await receiver.result(within: .seconds(30))
            await producer.close()
            await consumerConnection.close()
            Output.line("nats e2e: \(total) messages at \(rate)/s for \(duration) s, publish-to-receive latency: \(latencies.summary)")
            Output.line("RESULT bench=nats-e2e messages=\(total) rate=\(rate) \(latencies.fields)")
        }
    }
}

/// The receiving side of `bench nats e2e`: reads the send time in each message's first 8 bytes
/// (nanoseconds since `origin`, little-endian, as `bench e2e` writes them).
final class NatsReceiveLoad: Sendable {
    private struct State {
        var received = 0
        var latencies = Latencies()
        var failure: Error?
    }

    private let total: Int
    private let origin: ContinuousClock.Instant
    private let state = Mutex(State())

    init(total: Int, origin: ContinuousClock.Instant) {
        self.total = total
        self.origin = origin
    }

    func received(_ message: NatsMessage) {
        let now = ContinuousClock.now
        guard message.status == nil else { return }  // a heartbeat or flow-control message
        guard let sentNanos = message.payload.getInteger(at: message.payload.readerIndex, endianness: .little, as: UInt64.self) else {
            return fail(BrookError(.corruptMessage, "a message of \(message.payload.readableBytes) bytes has no send time"))
        }
        state.withLock { state in
            state.latencies.record(origin.duration(to: now) - .nanoseconds(Int64(sentNanos)))
            state.received += 1
        }
    }

    func fail(_ error: Error) {
        state.withLock { state in
            if state.failure == nil { state.failure = error }
        }
    }

    /// The latencies once all `total` messages arrived; fails if they have not within `limit`.
    func result(within limit: Duration) async throws -> Latencies {
        let deadline = ContinuousClock.now + limit
        while true {
            let (received, failure, latencies) = state.withLock { ($0.received, $0.failure, $0.latencies) }
            if let failure { throw failure }
            if received >= total { return latencies }
            guard ContinuousClock.now < deadline else {
                throw BrookError(.requestTimedOut, "the push consumer received \(received) of \(total) messages")
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}
