import BrookBroker
import BrookFrontEnd
import BrookModel
import BrookTestSupport
import MetricsTestKit
import Testing

@testable import BrookKafka

/// The Kafka listener counts and times each request by API, as `/metrics` exports them.
@Suite struct KafkaRequestMetricsTests {
    static func series(_ api: String) -> [(String, String)] { [("protocol", "kafka"), ("api", api)] }

    @Test func eachRequestIsCountedAndTimedByAPI() async throws {
        let metrics = TestMetrics()
        let server = try await KafkaTestServer.start(broker: { $0.metrics = metrics })
        let connection = try await server.connect()
        for _ in 0..<2 {
            #expect(try await KafkaListenerTests.apiVersions(connection).error == KafkaErrorCode.none)
        }
        _ = try await server.broker.createTopic("metered")
        let produced = try await KafkaListenerTests.produce(connection, topic: "metered", batch: RecordBatchCodec.encode(
            [Record(offset: 0, timestamp: 1, key: nil, value: Array("a".utf8)), Record(offset: 1, timestamp: 1, key: nil, value: Array("b".utf8))]))
        #expect(produced?.error == KafkaErrorCode.none)

        #expect(try metrics.expectCounter(RequestMetricNames.requests, Self.series("ApiVersions")).totalValue == 2)
        #expect(try metrics.expectTimer(RequestMetricNames.duration, Self.series("ApiVersions")).values.count == 2)
        #expect(try metrics.expectCounter(RequestMetricNames.requests, Self.series("Produce")).totalValue == 1)
        #expect(try metrics.expectTimer(RequestMetricNames.duration, Self.series("Produce")).values.count == 1)
        // Kafka's errors are codes inside its responses: no failure series.
        #expect(metrics.counters(label: RequestMetricNames.failures).isEmpty)
        // Every API's series exists from the start, at zero until used.
        #expect(try metrics.expectCounter(RequestMetricNames.requests, Self.series("Metadata")).totalValue == 0)
        await server.stop()
    }
}
