import BrookBroker
import BrookFrontEnd
import BrookModel
import BrookTestSupport
import BrookWire
import MetricsTestKit
import Testing

/// The line server counts and times each request by verb, as `/metrics` exports them.
@Suite struct RequestMetricsTests {
    static func series(_ verb: String) -> [(String, String)] { [("protocol", "line"), ("api", verb)] }

    @Test func eachRequestIsCountedAndTimedByVerbAndFailuresApart() async throws {
        let metrics = TestMetrics()
        let server = try await TestServer.start(broker: { $0.metrics = metrics })
        defer { Task { await server.stop() } }
        let port = try #require(server.address.port)
        let connection = try await RawConnection(port: port)
        _ = try await connection.line()  // the greeting
        for _ in 0..<3 {
            try await connection.send("PING\r\n")
            #expect(try await connection.line() == "OK PONG")
        }
        try await connection.send("TOPIC CREATE metered\r\n")
        #expect(try await connection.line()?.hasPrefix("OK topics=1") == true)
        while let line = try await connection.line(), !line.isEmpty {}  // the block, to its blank line
        // A request the broker refuses: answered with an error, counted as a failure.
        try await connection.send("FETCH nowhere 0 0\r\n")
        let refused = try await connection.line()
        #expect(refused?.hasPrefix("ERR UNKNOWN_TOPIC") == true, "\(refused ?? "closed")")
        // A line that is not a request at all is refused before it is one: not counted.
        try await connection.send("BOGUS\r\n")
        let unknown = try await connection.line()
        #expect(unknown?.hasPrefix("ERR") == true, "\(unknown ?? "closed")")

        #expect(try metrics.expectCounter(RequestMetricNames.requests, Self.series("PING")).totalValue == 3)
        #expect(try metrics.expectTimer(RequestMetricNames.duration, Self.series("PING")).values.count == 3)
        #expect(try metrics.expectTimer(RequestMetricNames.duration, Self.series("PING")).values.allSatisfy { $0 > 0 })
        #expect(try metrics.expectCounter(RequestMetricNames.failures, Self.series("PING")).totalValue == 0)
        #expect(try metrics.expectCounter(RequestMetricNames.requests, Self.series("TOPIC")).totalValue == 1)
        #expect(try metrics.expectCounter(RequestMetricNames.requests, Self.series("FETCH")).totalValue == 1)
        #expect(try metrics.expectCounter(RequestMetricNames.failures, Self.series("FETCH")).totalValue == 1)
        #expect(metrics.counters(label: RequestMetricNames.requests).allSatisfy { counter in
            counter.dimensions.contains { $0 == ("api", "BOGUS") } == false
        })
    }

    @Test func everyVerbListedIsOneTheParserKnows() throws {
        for verb in Request.verbs {
            do {
                _ = try Request.parse(Frame(line: Line(verb)))
            } catch let error as BrookError {
                #expect(!error.message.contains("unknown command"), "\(verb): \(error.message)")
            }
        }
    }
}
