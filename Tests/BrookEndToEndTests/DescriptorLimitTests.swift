import BrookModel
import BrookTestSupport
import Foundation
import Testing

/// `brook serve` under a low open-file limit (`ulimit -n`), as a real process: it raises the soft
/// limit to the hard one, and keeps `max_connections` below what the limit allows, so that one
/// connection too many is answered TOO_MANY_CONNECTIONS instead of failing `accept` (which spun
/// the server at 100% CPU until connections closed).
struct DescriptorLimitTests {
    @Test func maxConnectionsFitsUnderAHardOpenFileLimit() async throws {
        let dir = TemporaryDirectory("brook-nofile")
        let server = try await CLI.Server(db: dir.file("brook.db"), in: dir, shellSetup: "ulimit -n 128")
        var connections: [RawConnection] = []
        let first = try await RawConnection(port: server.port)
        let greeting = try #require(try await first.line())
        let announced = try #require(greeting.split(separator: " ").first { $0.hasPrefix("max_connections=") }.flatMap { Int($0.dropFirst(16)) })
        try #require(announced > 0 && announced < 128, "\(greeting)")
        let log = try String(contentsOfFile: server.log, encoding: .utf8)
        #expect(log.contains("lowered max_connections to fit the open-file limit"), "\(log)")
        #expect(log.contains("max_connections=\(announced)"), "\(log)")
        connections.append(first)
        // Every announced connection is served; the next one is refused with a word, not dropped.
        for _ in 1..<announced {
            let connection = try await RawConnection(port: server.port)
            #expect(try await connection.line()?.hasPrefix("HELLO brook") == true)
            connections.append(connection)
        }
        for connection in connections {
            try await connection.send("PING\r\n")
            #expect(try await connection.line() == "OK PONG")
        }
        let extra = try await RawConnection(port: server.port)
        #expect(try await extra.line()?.hasPrefix("ERR TOO_MANY_CONNECTIONS the server holds max_connections=\(announced) connections") == true)
        #expect(try await extra.isClosedByServer())
        // Room again once one closes.
        connections.removeLast()
        var admitted = false
        for _ in 0..<100 where !admitted {
            let again = try await RawConnection(port: server.port)
            admitted = try await again.line()?.hasPrefix("HELLO brook") == true
            if !admitted { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(admitted)
        connections.removeAll()
        #expect(try await server.stop() == 0)
    }

    /// The Kafka listener takes its descriptors from the same open-file limit: its connections
    /// count against the one `max_connections` the line server fitted under it.
    @Test func theKafkaListenerSharesTheFittedConnectionLimit() async throws {
        let dir = TemporaryDirectory("brook-nofile")
        let server = try await CLI.Server(db: dir.file("brook.db"), in: dir, extra: ["--kafka-port", "0"], shellSetup: "ulimit -n 128")
        var kafkaPort = 0
        for _ in 0..<300 where kafkaPort == 0 {
            let log = try String(contentsOfFile: server.log, encoding: .utf8)
            if let range = log.range(of: "kafka=127.0.0.1:") { kafkaPort = Int(log[range.upperBound...].prefix { $0.isNumber }) ?? 0 }
            if kafkaPort == 0 { try await Task.sleep(for: .milliseconds(50)) }
        }
        try #require(kafkaPort > 0)
        let first = try await RawConnection(port: server.port)
        let greeting = try #require(try await first.line())
        let announced = try #require(greeting.split(separator: " ").first { $0.hasPrefix("max_connections=") }.flatMap { Int($0.dropFirst(16)) })
        try #require(announced > 3 && announced < 128, "\(greeting)")
        let log = try String(contentsOfFile: server.log, encoding: .utf8)
        let shared = log.split(separator: "\n").first { $0.contains("the Kafka listener shares the line server's connection limit") }
        #expect(shared?.contains("max_connections=\(announced) ") == true, "\(log)")
        // Three Kafka connections, each answered (ApiVersions v0), and line connections for the rest.
        var connections = [first]
        for correlation in 1...3 {
            let kafka = try await RawConnection(port: kafkaPort)
            try await kafka.send([0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, UInt8(correlation), 0xFF, 0xFF])
            #expect(try await kafka.bytes(8).map { Array($0[4...]) } == [0, 0, 0, UInt8(correlation)])
            connections.append(kafka)
        }
        while connections.count < announced {
            let connection = try await RawConnection(port: server.port)
            #expect(try await connection.line()?.hasPrefix("HELLO brook") == true)
            connections.append(connection)
        }
        // The limit is full over both listeners: one more of either kind is refused.
        let extraLine = try await RawConnection(port: server.port)
        #expect(try await extraLine.line()?.hasPrefix("ERR TOO_MANY_CONNECTIONS") == true)
        let extraKafka = try await RawConnection(port: kafkaPort)
        #expect(try await extraKafka.isClosedByServer())
        connections.removeAll()
        #expect(try await server.stop() == 0)
    }

    @Test func theSoftOpenFileLimitIsRaisedToTheHardOne() async throws {
        let dir = TemporaryDirectory("brook-nofile")
        var limit = rlimit()
        try #require(getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0)
        try #require(limit.rlim_max > 1_024 && limit.rlim_max != rlim_t.max, "this test needs a finite hard limit above 1024")
        let server = try await CLI.Server(db: dir.file("brook.db"), in: dir, shellSetup: "ulimit -S -n 256")
        let limits = try String(contentsOfFile: "/proc/\(server.process.processIdentifier)/limits", encoding: .utf8)
        let line = try #require(limits.split(separator: "\n").first { $0.hasPrefix("Max open files") })
        let numbers = line.split(separator: " ").compactMap { Int($0) }
        #expect(numbers == [Int(limit.rlim_max), Int(limit.rlim_max)], "\(line)")
        let raw = try await RawConnection(port: server.port)
        #expect(try await raw.line()?.contains(" max_connections=10000 ") == true)
        #expect(try await server.stop() == 0)
    }
}
