import BrookBroker
import Logging

/// A broker on a fresh database in a temporary directory, as the in-process test servers run
/// one: retention checks off (a test runs them when it means to) and no log output.
public struct TestBroker: Sendable {
    public let dir: TemporaryDirectory
    public let broker: Broker

    /// - Parameters:
    ///   - label: the start of the temporary directory's name.
    ///   - configure: changes to the options, made last.
    ///   - prepare: runs on the database file's path before the broker opens it (users, say).
    public init(_ label: String, configure: (inout BrokerOptions) -> Void = { _ in }, prepare: (String) throws -> Void = { _ in }) throws {
        dir = TemporaryDirectory(label)
        try prepare(dir.file("brook.db"))
        var options = BrokerOptions()
        options.retentionCheckIntervalMs = 0
        options.logger = Logger(label: "test.broker", factory: { _ in SwiftLogNoOpLogHandler() })
        configure(&options)
        broker = try Broker(path: dir.file("brook.db"), options: options)
    }

    /// Stops the front-end that `task` runs (cancelling it shuts the front-end down), then closes
    /// the broker.
    public func stop(serving task: Task<Void, Error>) async {
        task.cancel()
        _ = await task.result
        await broker.close()
    }
}
