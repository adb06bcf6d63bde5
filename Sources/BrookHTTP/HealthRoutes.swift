import BrookBroker
import Hummingbird
import NIOCore
import NIOPosix
import Synchronization

/// `/livez` and `/readyz`, for an orchestrator's probes: 200, or 503 with the reason as text.
/// They stay open under `--auth`, since probes carry no credentials.
struct HealthRoutes: Sendable {
    let broker: Broker
    let readiness: Readiness
    let eventLoops: MultiThreadedEventLoopGroup

    /// How long an event loop may take to run an empty task before `/livez` calls it stuck.
    static let eventLoopDeadline = Duration.seconds(2)

    func add(to router: Router<HTTPRequestContext>) {
        router.get("/livez") { _, _ in
            if let stuck = await stuckEventLoop() { return Self.answer(.serviceUnavailable, stuck) }
            return Self.answer(.ok, "live")
        }
        router.get("/readyz") { _, _ in
            var reasons = readiness.reasons
            if let reason = broker.health.reason { reasons.append(reason) }
            guard reasons.isEmpty else { return Self.answer(.serviceUnavailable, "not ready: " + reasons.joined(separator: "; ")) }
            return Self.answer(.ok, "ready")
        }
    }

    /// The first event loop that did not run an empty task within the deadline, described. The
    /// deadline is kept off the event loops, since a stuck loop would never fire its own timer.
    private func stuckEventLoop() async -> String? {
        for (index, loop) in eventLoops.makeIterator().enumerated() {
            let ran = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let answered = FirstAnswer()
                loop.execute {
                    if answered.take() { continuation.resume(returning: true) }
                }
                Task {
                    try? await Task.sleep(for: Self.eventLoopDeadline)
                    if answered.take() { continuation.resume(returning: false) }
                }
            }
            if !ran { return "event loop \(index) did not run a task within \(Self.eventLoopDeadline)" }
        }
        return nil
    }

    static func answer(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(
            status: status, headers: [.contentType: "text/plain; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: text + "\n")))
    }
}

/// Lets the first of two racing answers through.
private final class FirstAnswer: Sendable {
    private let taken = Atomic<Bool>(false)

    /// True for the first caller only.
    func take() -> Bool { !taken.exchange(true, ordering: .relaxed) }
}
