import BrookBroker
import BrookClient
import BrookLineServer
import BrookModel
import BrookTestSupport
import BrookWire
import NIOCore
import NIOPosix
import Testing

/// A client stops waiting on its server when its task is cancelled, and never waits forever.
/// `brook serve` once checked its port by listening on it for a moment before opening its
/// database; a client reconnecting then was accepted by no server and waited for a greeting that
/// never came, deaf to its task's cancellation.
struct CancellationTests {
    @Test func thePortCheckBeforeServingNeverAcceptsAConnection() async throws {
        let port = try freePort()
        var configuration = LineServerConfiguration()
        configuration.port = port
        let connecting = Task {
            var connected = 0
            while !Task.isCancelled {
                if let channel = try? await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port).get() {
                    connected += 1
                    try? await channel.close()
                }
            }
            return connected
        }
        for _ in 0..<300 { try await LineServer.checkCanListen(configuration) }
        connecting.cancel()
        let connected = await connecting.value
        #expect(connected == 0, "\(connected) connects reached the port while it was only being checked")
    }

    @Test func aConnectToAPeerThatNeverGreetsEndsWhenItsTaskIsCancelled() async throws {
        let silent = try await SilentListener()
        let connecting = Task { try await BrookClient.connect(to: ServerAddress(host: "127.0.0.1", port: silent.port)) }
        #expect(try await eventually { silent.acceptedCount == 1 }, "the client connected and waits for a greeting")
        connecting.cancel()
        // Bounded, so that a connect that waits on fails the test instead of hanging the run; the
        // error says the cancellation ended it, not the greeting's 10 s timeout.
        let stopped = await finishes(within: .seconds(30)) { _ = await connecting.result }
        #expect(stopped, "the connect ended after its cancellation")
        if stopped {
            let result = await connecting.result
            #expect(throws: CancellationError.self) { try result.get() }
        }
        await silent.close()
    }

    @Test func aConnectToAPeerThatNeverGreetsFailsAfterTenSeconds() async throws {
        let silent = try await SilentListener()
        let connecting = Task { try await BrookClient.connect(to: ServerAddress(host: "127.0.0.1", port: silent.port)) }
        // Bounded, so that a connect that waits on fails the test instead of hanging the run.
        try #require(await finishes(within: .seconds(30)) { _ = await connecting.result }, "the connect gave up")
        await expectBrookError(.brokerNotAvailable, containing: "sent no greeting within 10 s") { try await connecting.value }
        await silent.close()
    }

    @Test func aConsumerReconnectingToAPeerThatNeverGreetsStopsWhenItsTaskIsCancelled() async throws {
        let port = try freePort()
        let server = try await TestServer.start(broker: { $0.groups.initialRebalanceDelayMs = 0 }, server: { $0.port = port })
        let admin = try await server.client()
        try await admin.createTopic("t")
        await admin.close()
        let consumer = GroupConsumer(client: try await server.client(), configuration: consumerConfiguration("g", ["t"]))
        _ = try await consumer.poll()
        #expect(await consumer.assignment.count == 1, "joined")

        // The server goes; what answers at its address next accepts and never speaks.
        await server.stop()
        let silent = try await SilentListener(port: port)
        let consuming = Task {
            while !Task.isCancelled { _ = try? await consumer.poll() }
        }
        #expect(try await eventually { silent.acceptedCount >= 1 }, "the consumer reconnected and waits for a greeting")
        consuming.cancel()
        let stopped = await finishes(within: .seconds(30)) { _ = await consuming.result }
        #expect(stopped, "the consumer stopped after its cancellation")
        await silent.close()
        _ = await consuming.result
    }

    @Test func aConsumerWhoseJoinTheServerHoldsStopsWhenItsTaskIsCancelled() async throws {
        let server = try await groupServer()
        let admin = try await server.client()
        try await admin.createTopic("t", partitions: 2)
        // A member by hand that never rejoins: a rebalance waits for it until the 60 s rebalance
        // timeout (its 120 s session outlasts that).
        let slow = try await BrookConnection.connect(to: server.address)
        var options = JoinOptions(group: "g", topics: ["t"])
        options.sessionTimeoutMs = 120_000
        _ = try Reply.joined(try await slow.send(.join(options)))

        let consumer = GroupConsumer(client: try await server.client(), configuration: consumerConfiguration("g", ["t"]))
        let consuming = Task {
            while !Task.isCancelled { _ = try? await consumer.poll() }
        }
        try await awaitMembers(server, "g", 2)  // the consumer's JOIN is in, and held
        consuming.cancel()
        let stopped = await finishes(within: .seconds(30)) { _ = await consuming.result }
        #expect(stopped, "the consumer stopped after its cancellation, not when the rebalance ended")
        await slow.close()
        _ = await consuming.result
        await admin.close()
        await server.stop()
    }
}
