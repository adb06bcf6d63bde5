import BrookBroker
import BrookModel
import Logging
import ServiceLifecycle

/// Keeps a ``Broker`` open for a service group and closes it on shutdown — after the servers
/// listed after it have stopped, since a group stops its services in reverse order. Closing
/// completes queued writes, checkpoints the WAL into the file and closes every connection.
public struct BrokerService: Service {
    public let broker: Broker

    public init(broker: Broker) {
        self.broker = broker
    }

    public func run() async throws {
        try? await gracefulShutdown()
        await broker.close()
    }
}
