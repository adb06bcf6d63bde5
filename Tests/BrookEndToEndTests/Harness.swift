import BrookBroker
import BrookClient
import BrookLineServer
import BrookTestSupport
import Logging

/// A broker and a line server on an ephemeral loopback port, in this process.
final class TestServer: Sendable {
    private let test: TestBroker
    let server: LineServer
    let task: Task<Void, Error>
    let address: ServerAddress

    var dir: TemporaryDirectory { test.dir }
    var broker: Broker { test.broker }

    private init(test: TestBroker, server: LineServer, task: Task<Void, Error>, address: ServerAddress) {
        self.test = test
        self.server = server
        self.task = task
        self.address = address
    }

    static func start(
        broker configureBroker: (inout BrokerOptions) -> Void = { _ in },
        server configureServer: (inout LineServerConfiguration) -> Void = { _ in }
    ) async throws -> TestServer {
        let test = try TestBroker("brook-e2e", configure: configureBroker)
        var configuration = LineServerConfiguration()
        configuration.port = 0
        configureServer(&configuration)
        let server = LineServer(broker: test.broker, configuration: configuration, logger: Logger(label: "test.server", factory: { _ in SwiftLogNoOpLogHandler() }))
        let task = Task { try await server.run() }
        let bound = try await server.localAddress()
        let address = configuration.unixSocketPath.map { ServerAddress(unixSocketPath: $0) } ?? ServerAddress(host: "127.0.0.1", port: bound.port!)
        return TestServer(test: test, server: server, task: task, address: address)
    }

    func client() async throws -> BrookClient {
        try await BrookClient.connect(to: address)
    }

    func stop() async {
        await test.stop(serving: task)
    }
}
