import BrookBroker
import BrookHTTP
import BrookModel
import BrookTestSupport
import Logging
import Testing

/// Starts an HTTP listener on a free port over `broker`, returning its port and the task that
/// runs it (cancel it to stop).
func startHTTP(
    _ broker: Broker, readiness: Readiness = Readiness(), metrics: BrookMetrics? = nil, configure: (inout HTTPListenerConfiguration) -> Void = { _ in }) async throws -> (port: Int, task: Task<Void, Error>, listener: HTTPListener) {
    var configuration = HTTPListenerConfiguration()
    configuration.port = 0
    configure(&configuration)
    let listener = HTTPListener(
        broker: broker, configuration: configuration, readiness: readiness, metrics: metrics,
        logger: Logger(label: "test.http", factory: { _ in SwiftLogNoOpLogHandler() }))
    let task = Task { try await listener.run() }
    let address = try await listener.localAddress()
    return (try #require(address.port), task, listener)
}

@Suite struct HealthTests {
    @Test func livezAnswersWhileTheEventLoopsRun() async throws {
        let test = try TestBroker("http-livez")
        let http = try await startHTTP(test.broker)
        defer { Task { await test.stop(serving: http.task) } }
        let live = try await HTTPExchange.send("/livez", port: http.port)
        #expect(live.status == 200)
        #expect(live.body == "live\n")
    }

    @Test func readyzWaitsForTheDatabaseAndTheListeners() async throws {
        let test = try TestBroker("http-readyz")
        let readiness = Readiness()
        readiness.expect("database", reason: "the database is not open yet")
        readiness.expect("line listener", reason: "the line listener is not bound yet")
        let http = try await startHTTP(test.broker, readiness: readiness)
        defer { Task { await test.stop(serving: http.task) } }

        let before = try await HTTPExchange.send("/readyz", port: http.port)
        #expect(before.status == 503)
        #expect(before.body == "not ready: the database is not open yet; the line listener is not bound yet\n")

        readiness.ready("database")
        let halfway = try await HTTPExchange.send("/readyz", port: http.port)
        #expect(halfway.status == 503)
        #expect(halfway.body == "not ready: the line listener is not bound yet\n")

        readiness.ready("line listener")
        let after = try await HTTPExchange.send("/readyz", port: http.port)
        #expect(after.status == 200)
        #expect(after.body == "ready\n")
    }

    @Test func readyzTurnsAwayOnceTheBrokerCloses() async throws {
        let test = try TestBroker("http-readyz-closed")
        let http = try await startHTTP(test.broker)
        #expect(try await HTTPExchange.send("/readyz", port: http.port).status == 200)
        await test.broker.close()
        let closed = try await HTTPExchange.send("/readyz", port: http.port)
        #expect(closed.status == 503)
        #expect(closed.body == "not ready: the broker is closed\n")
        await test.stop(serving: http.task)
    }

    @Test func aPortInUseIsNamed() async throws {
        let test = try TestBroker("http-port-in-use")
        let first = try await startHTTP(test.broker)
        defer { Task { await test.stop(serving: first.task) } }
        var configuration = HTTPListenerConfiguration()
        configuration.port = first.port
        #expect(throws: BrookError.self) { try HTTPListener.checkCanListen(configuration) }
        do {
            try HTTPListener.checkCanListen(configuration)
        } catch let error as BrookError {
            #expect(error.code == .invalidConfig)
            #expect(error.message == "HTTP port \(first.port) on 127.0.0.1 is already in use (another brook serve?); stop that process, choose another --http-port, or add --no-http")
        }
        // The listener itself says the same when it cannot bind.
        let second = HTTPListener(broker: test.broker, configuration: configuration, logger: Logger(label: "test.http", factory: { _ in SwiftLogNoOpLogHandler() }))
        await #expect(throws: BrookError.self) { try await second.run() }
    }
}
