import Benchmark
import BrookFrontEnd
import BrookModel
import BrookStore
import BrookWire
import CoreMetrics
import Foundation
import NIOCore
import Prometheus

/// The hot paths, each over a batch: decoding a PRODUCE of 100 records, parsing it into records,
/// encoding 1000 fetched records from stored buffers, appending 100 records in a transaction,
/// reading 1000 records back.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .throughput, .mallocCountTotal], maxDuration: .seconds(2))

    let value = [UInt8](repeating: UInt8(ascii: "x"), count: 100)
    let records = (0..<100).map { ProducerRecord(key: Array("key-\($0)".utf8), value: value, headers: [Header("trace", "abc")], partition: 0) }
    var encodedRequest = ByteBuffer()
    Request.produce(topic: "bench", acks: .leader, records: records).encode(into: &encodedRequest)

    Benchmark("split a one-record PRODUCE line into tokens") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(Line("PRODUCE orders acks=all producer=17 epoch=0 sequence=1234 key=2 header=5:2 value=100"))
        }
    }

    Benchmark("decode a PRODUCE frame of 100 records") { benchmark in
        for _ in benchmark.scaledIterations {
            var decoder = FrameDecoder()
            var input = encodedRequest
            blackHole(decoder.next(&input))
        }
    }

    var decoder = FrameDecoder()
    var input = encodedRequest
    guard case .frame(let frame)? = decoder.next(&input) else { fatalError("the benchmark's request does not decode") }
    Benchmark("parse a PRODUCE of 100 records into records") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try Request.parse(frame))
        }
    }

    let headers = HeaderCodec.encode([Header("trace", "abc")])
    Benchmark("encode 1000 fetched records as RECORD frames") { benchmark in
        for _ in benchmark.scaledIterations {
            var block = ByteBuffer()
            value.withUnsafeBytes { value in
                headers.withUnsafeBytes { headers in
                    for offset in 0..<1_000 {
                        RecordFrames.write(offset: Int64(offset), timestamp: 1_700_000_000_000, key: nil, encodedHeaders: headers, value: value, into: &block)
                    }
                }
            }
            blackHole(block)
        }
    }

    // What metrics add to one produce request when /metrics is served: the broker adds the
    // request's records and bytes to its topic's two counters, and the pipeline counts the request
    // and records its duration (two clock reads). Set against "parse" and "append" above, per
    // request of 100 records, or against a one-record request's whole cost.
    let registry = PrometheusCollectorRegistry()
    let factory = PrometheusMetricsFactory(registry: registry)
    let producedRecords = Counter(label: "brook_produced_records_total", dimensions: [("topic", "bench")], factory: factory)
    let producedBytes = Counter(label: "brook_produced_bytes_total", dimensions: [("topic", "bench")], factory: factory)
    let meter = RequestMeters(protocol: "line", apis: [(key: "PRODUCE", name: "PRODUCE")], countsFailures: true, factory: factory)["PRODUCE"]!
    Benchmark("record one produce request's metrics") { benchmark in
        for _ in benchmark.scaledIterations {
            let read = NIODeadline.now()
            producedRecords.increment(by: 100)
            producedBytes.increment(by: 10_900)
            meter.record(since: read, failed: false)
        }
    }

    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("brook-hotpaths-\(UUID().uuidString)").path
    try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let writer = try! LogWriter(path: "\(directory)/bench.db")
    try! writer.createTopic("bench", partitions: 1, config: TopicConfig())
    // The read benchmark gets its own partition, filled now: benchmarks do not run in order.
    try! writer.createTopic("filled", partitions: 1, config: TopicConfig())
    try! writer.begin(durable: false)
    for _ in 0..<10 { _ = try! writer.append(topic: "filled", partition: 0, records: records, now: 1) }
    _ = try! writer.commit()
    Benchmark("append 100 records in one transaction") { benchmark in
        for _ in benchmark.scaledIterations {
            try writer.begin(durable: false)
            blackHole(try writer.append(topic: "bench", partition: 0, records: records, now: 1))
            _ = try writer.commit()
        }
    }

    let reader = try! LogReader(path: "\(directory)/bench.db")
    let partitionID = writer.topics["filled"]!.partitions[0].id
    Benchmark("read 1000 records") { benchmark in
        for _ in benchmark.scaledIterations {
            var count = 0
            try reader.read(partitionID: partitionID, from: 0, maxRecords: 1_000, maxBytes: 1 << 30) { _ in count += 1 }
            precondition(count == 1_000, "the read benchmark must read 1000 records, read \(count)")
            blackHole(count)
        }
    }
}
