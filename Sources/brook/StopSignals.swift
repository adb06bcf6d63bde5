import Dispatch
import Foundation
import Synchronization

/// SIGINT and SIGTERM as a request to stop cleanly: the first one sets ``requested`` so a
/// consuming loop can finish its batch, commit and leave its group, as Kafka's console consumer
/// does; a second one ends the process at once, for a user who does not want to wait.
final class StopSignals: @unchecked Sendable {
    private let received = Atomic<Int>(0)
    /// Kept so the sources stay installed; set once in `init`.
    private var sources: [any DispatchSourceSignal] = []

    init() {
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [weak self] in
                guard let self else { return }
                if self.received.add(1, ordering: .sequentiallyConsistent).newValue > 1 { exit(128 + number) }
            }
            source.resume()
            sources.append(source)
        }
    }

    /// Whether SIGINT or SIGTERM has arrived.
    var requested: Bool { received.load(ordering: .sequentiallyConsistent) > 0 }
}
