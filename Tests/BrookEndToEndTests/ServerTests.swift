import BrookBroker
import BrookClient
import BrookLineServer
import BrookModel
import BrookTestSupport
import BrookWire
import Foundation
import NIOPosix
import Testing

struct ServerProtocolTests {
    @Test func greetingAnnouncesVersionAndLimits() async throws {
        let server = try await TestServer.start()
        let raw = try await RawConnection(port: server.address.port)
        let greeting = try #require(try await raw.line())
        #expect(greeting == "HELLO brook \(WireProtocol.serverVersion) protocol=1 max_line=65536 max_record_bytes=67108864 max_request_bytes=67108864 max_batch_records=10000 max_connections=10000 max_in_flight=1024 max_in_flight_bytes=67108864 max_long_polls=1 idle_timeout_ms=600000 max_group_members=1000 max_sql_bytes=1048576 max_sql_result_bytes=16777216 max_sql_queued=32")
        #expect(try await raw.isClosedByServer(within: .milliseconds(200)) == false, "an open connection is not reported closed")
        try await raw.send("PING x\r\nQUIT\r\n")
        #expect(try await raw.line() == "OK PONG x")
        #expect(try await raw.line() == "OK BYE")
        #expect(try await raw.isClosedByServer())
        await server.stop()
    }

    @Test func pipelinedProducesCommitInOrderAndFetchesMatchTheirRequests() async throws {
        let server = try await TestServer.start()
        let client = try await server.client()
        try await client.createTopic("t", partitions: 2)
        // 200 batches written back to back before any reply is read.
        let pending = (0..<200).map { batch in
            client.submitProduce(topic: "t", records: (0..<10).map { ProducerRecord(key: nil, value: "\(batch)-\($0)", partition: batch % 2) })
        }
        var next = [Int64](repeating: 0, count: 2)
        for (batch, reply) in pending.enumerated() {
            let positions = try await reply.positions()
            let partition = batch % 2
            #expect(positions == (0..<10).map { RecordPosition(partition: partition, offset: next[partition] + Int64($0)) })
            next[partition] += 10
        }
        // Concurrent fetches on the one connection each get their own reply.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for start in stride(from: Int64(0), to: 1000, by: 50) {
                group.addTask {
                    let fetched = try await client.fetch(topic: "t", partition: 1, offset: start, maxRecords: 7)
                    #expect(fetched.records.map(\.offset) == Array(start..<(start + 7)))
                    #expect(fetched.records.first?.value == bytes("\(Int(start) / 10 * 2 + 1)-\(Int(start) % 10)"))
                }
            }
            try await group.waitForAll()
        }
        await client.close()
        await server.stop()
    }

    @Test func longPollWakesOnProduceFromAnotherConnection() async throws {
        let server = try await TestServer.start()
        let consumer = try await server.client()
        let producer = try await server.client()
        try await producer.createTopic("t")
        let started = ContinuousClock.now
        async let fetched = consumer.fetch(topic: "t", partition: 0, offset: 0, maxWait: .seconds(20))
        try await Task.sleep(for: .milliseconds(150))
        try await producer.produce(topic: "t", records: [ProducerRecord(key: nil, value: "wake")])
        let result = try await fetched
        #expect(result.records.map(\.value) == [bytes("wake")])
        #expect(ContinuousClock.now - started < .seconds(10), "woken by the produce, not the 20 s deadline")
        let empty = try await consumer.fetch(topic: "t", partition: 0, offset: 1, maxWait: .milliseconds(200))
        #expect(empty.records.isEmpty && empty.highWatermark == 1)
        await consumer.close()
        await producer.close()
        await server.stop()
    }

    @Test func binaryKeysValuesAndHeadersRoundTrip() async throws {
        let server = try await TestServer.start()
        let client = try await server.client()
        try await client.createTopic("bin")
        let nasty: [UInt8] = [0, 13, 10, 13, 10, 0, 255, 254, 82, 69, 67, 79, 82, 68, 32]
        let records = [
            ProducerRecord(key: nasty, value: nasty + nasty, headers: [Header("h\r\nk", nasty), Header("empty", [])]),
            ProducerRecord(key: [], value: []),
            ProducerRecord(key: nil, value: nil, headers: [Header("only", "header")]),
        ]
        try await client.produce(topic: "bin", records: records)
        let fetched = try await client.fetch(topic: "bin", partition: 0, offset: 0).records
        #expect(fetched.map(\.key) == records.map(\.key))
        #expect(fetched.map(\.value) == records.map(\.value))
        #expect(fetched.map(\.headers) == records.map(\.headers))
        // The single-record form, typed by hand.
        let raw = try await RawConnection(port: server.address.port)
        _ = try await raw.line()
        try await raw.send(Array("PRODUCE bin key=3 value=4\r\n".utf8) + [0, 13, 10] + [13, 10] + [10, 13, 0, 10] + [13, 10])
        #expect(try await raw.line() == "OK 1 0:3")
        let single = try await client.fetch(topic: "bin", partition: 0, offset: 3).records
        #expect(single.first?.key == [0, 13, 10] && single.first?.value == [10, 13, 0, 10])
        await client.close()
        await server.stop()
    }

    @Test func acksZeroGetsNoReply() async throws {
        let server = try await TestServer.start()
        let client = try await server.client()
        try await client.createTopic("t")
        let raw = try await RawConnection(port: server.address.port)
        _ = try await raw.line()
        try await raw.send("PRODUCE t acks=0 value=1\r\na\r\nPRODUCE nope acks=0 value=1\r\nb\r\nPING after\r\n")
        #expect(try await raw.line() == "OK PONG after", "neither the acks=0 produce nor its failure is answered")
        #expect(try await client.fetch(topic: "t", partition: 0, offset: 0, maxWait: .seconds(5)).records.map(\.value) == [bytes("a")])
        await client.close()
        await server.stop()
    }

    @Test func aClientThatHalfClosesAfterSendingStillGetsEveryReply() async throws {
        let server = try await TestServer.start()
        let client = try await server.client()
        try await client.createTopic("t")
        let raw = try await RawConnection(port: server.address.port)
        _ = try await raw.line()
        // As `nc -N` does: send, then shut down the sending side, then read.
        try await raw.send("PRODUCE t acks=1 value=1\r\na\r\nPING after\r\n")
        try await raw.finishSending()
        #expect(try await raw.line() == "OK 1 0:0", "the produce is acknowledged")
        #expect(try await raw.line() == "OK PONG after")
        #expect(try await raw.isClosedByServer(), "then the server closes")
        #expect(try await client.fetch(topic: "t", partition: 0, offset: 0).records.map(\.value) == [bytes("a")])
        await client.close()
        await server.stop()
    }

    @Test func aLongPollOfAClientThatHalfClosesAnswersAtOnce() async throws {
        let server = try await TestServer.start()
        let client = try await server.client()
        try await client.createTopic("t")
        let raw = try await RawConnection(port: server.address.port)
        _ = try await raw.line()
        try await raw.send("FETCH t 0 0 max_wait_ms=30000\r\n")
        try await raw.finishSending()
        // Nothing more can come from this client: its wait would only hold the connection open.
        #expect(try await raw.line()?.hasPrefix("OK records=0 ") == true)
        #expect(try await raw.isClosedByServer())
        await client.close()
        await server.stop()
    }

    @Test func twoMebibyteRecordIsRefusedAndTheConnectionKeepsWorking() async throws {
        let server = try await TestServer.start()
        let client = try await server.client()
        try await client.createTopic("t")
        await expectBrookError(.messageTooLarge) {
            try await client.produce(topic: "t", records: [ProducerRecord(key: nil, value: [UInt8](repeating: 7, count: 2 * 1_048_576))])
        }
        #expect(try await client.produce(topic: "t", records: [ProducerRecord(key: nil, value: "small")]) == [RecordPosition(partition: 0, offset: 0)])
        await client.close()
        await server.stop()
    }

    @Test func dataOverTheServerLimitIsDrainedThenRefused() async throws {
        let server = try await TestServer.start(server: { $0.limits.maxRecordBytes = 1_048_576 })
        let raw = try await RawConnection(port: server.address.port)
        #expect(try await raw.line()?.contains("max_record_bytes=1048576") == true)
        try await raw.send("PRODUCE t value=2097152\r\n")
        try await raw.send([UInt8](repeating: 65, count: 2_097_152) + [13, 10])
        try await raw.send("PING still-here\r\n")
        let refusal = try #require(try await raw.line())
        #expect(refusal.hasPrefix("ERR MESSAGE_TOO_LARGE data item of 2097152 bytes exceeds max_record_bytes 1048576"))
        #expect(try await raw.line() == "OK PONG still-here")
        await server.stop()
    }

    @Test func connectionsBeyondTheLimitAreRefused() async throws {
        let server = try await TestServer.start(server: { $0.limits.maxConnections = 2 })
        let first = try await RawConnection(port: server.address.port)
        let second = try await RawConnection(port: server.address.port)
        #expect(try await first.line()?.hasPrefix("HELLO") == true)
        #expect(try await second.line()?.hasPrefix("HELLO") == true)
        let third = try await RawConnection(port: server.address.port)
        #expect(try await third.line() == "ERR TOO_MANY_CONNECTIONS the server holds max_connections=2 connections; try again later")
        #expect(try await third.isClosedByServer())
        try await first.send("PING\r\n")
        #expect(try await first.line() == "OK PONG", "the connections within the limit keep working")
        await server.stop()
    }

    /// A server with `max_in_flight_bytes` set and topic `t` holding 8 records of 64 KiB, so that
    /// one `FETCH t 0 0 max_records=8` reply is about 512 KiB.
    private func serverWithHalfMebibyteBacklog(maxInFlightBytes: Int) async throws -> (TestServer, BrookClient) {
        let server = try await TestServer.start(server: { $0.limits.maxInFlightBytes = maxInFlightBytes })
        let client = try await server.client()
        _ = try await client.createTopic("t")
        let value = [UInt8](repeating: 42, count: 64 * 1_024)
        _ = try await client.produce(topic: "t", records: (0..<8).map { _ in ProducerRecord(key: nil, value: value) })
        return (server, client)
    }

    @Test func aClientThatDoesNotReadItsRepliesStopsBeingRead() async throws {
        let limit = 256 * 1_024
        let (server, client) = try await serverWithHalfMebibyteBacklog(maxInFlightBytes: limit)
        // A client that does not read: a small receive buffer keeps the kernel from absorbing much.
        let raw = try await RawConnection(port: server.address.port, receiveBuffer: 65_536)
        #expect(try await raw.line()?.contains("max_in_flight_bytes=\(limit)") == true)
        let before = server.server.requestsReceived
        // 40 fetches of about 512 KiB each (20 MiB in all), sent without reading a reply.
        let fetches = 40
        try await raw.send(String(repeating: "FETCH t 0 0 max_records=8 max_bytes=1048576\r\n", count: fetches))
        // Wait until the server stops reading: it holds at least the limit, and the count of
        // requests read holds still for half a second.
        var read = -1
        var still = 0
        for _ in 0..<200 where still < 5 {
            try await Task.sleep(for: .milliseconds(100))
            let now = server.server.requestsReceived - before
            still = now == read && server.server.inFlightBytes >= limit ? still + 1 : 0
            read = now
        }
        #expect(still == 5, "the server stopped reading")
        #expect(read > 0 && read < fetches, "the server read \(read) of \(fetches) requests before stopping")
        let held = server.server.inFlightBytes
        #expect(held >= limit && held <= limit + 600 * 1_024, "held \(held) bytes with max_in_flight_bytes=\(limit)")
        // Reading the replies lets the server go on; every fetch is answered, whole and in order.
        for _ in 0..<fetches {
            let head = try #require(try await raw.line())
            #expect(head.hasPrefix("OK records=8 high_watermark=8 log_start=0 next_offset=8 bytes="))
            let size = try #require(head.split(separator: "=").last.flatMap { Int($0) })
            let block = try #require(try await raw.bytes(size + 2))
            #expect(block.count == size + 2 && block.suffix(2) == [13, 10])
        }
        #expect(server.server.requestsReceived - before == fetches)
        try await raw.send("PING\r\n")
        #expect(try await raw.line() == "OK PONG")
        // The server counts a reply as released just after writing it, so allow it a moment.
        for _ in 0..<100 where server.server.inFlightBytes != 0 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(server.server.inFlightBytes == 0)
        await client.close()
        await server.stop()
    }

    /// SQL replies count in the connection's in-flight bytes as fetches do: a client sending
    /// large queries and reading nothing makes the server hold a bounded amount, not every reply.
    @Test func aClientThatDoesNotReadItsSQLRepliesStopsBeingRead() async throws {
        let limit = 256 * 1_024
        let server = try await TestServer.start(server: { $0.limits.maxInFlightBytes = limit })
        let raw = try await RawConnection(port: server.address.port, receiveBuffer: 65_536)
        _ = try await raw.line()
        let before = server.server.requestsReceived
        // 40 queries of 512 KiB each (20 MiB in all), sent without reading a reply.
        let queries = 40
        try await raw.send(String(repeating: "SQL SELECT zeroblob(524288) AS b\r\n", count: queries))
        var read = -1
        var still = 0
        for _ in 0..<300 where still < 5 {
            try await Task.sleep(for: .milliseconds(100))
            let now = server.server.requestsReceived - before
            still = now == read && server.server.inFlightBytes >= limit ? still + 1 : 0
            read = now
        }
        #expect(still == 5, "the server stopped reading")
        #expect(read > 0 && read < queries, "the server read \(read) of \(queries) queries before stopping")
        let held = server.server.inFlightBytes
        #expect(held >= limit && held <= limit + 600 * 1_024, "held \(held) bytes with max_in_flight_bytes=\(limit)")
        for _ in 0..<queries {
            let head = try #require(try await raw.line())
            #expect(head.hasPrefix("OK columns=1 rows=1 truncated=0 bytes="), "\(head)")
            let size = try #require(head.split(separator: "=").last.flatMap { Int($0) })
            let block = try #require(try await raw.bytes(size + 2))
            #expect(block.count == size + 2 && block.suffix(2) == [13, 10])
        }
        #expect(server.server.requestsReceived - before == queries)
        await server.stop()
    }

    @Test func aClientThatStopsReadingThenVanishesFreesItsConnection() async throws {
        let limit = 256 * 1_024
        let (server, client) = try await serverWithHalfMebibyteBacklog(maxInFlightBytes: limit)
        var raw: RawConnection? = try await RawConnection(port: server.address.port, receiveBuffer: 65_536)
        _ = try await raw?.line()
        try await raw?.send(String(repeating: "FETCH t 0 0 max_records=8 max_bytes=1048576\r\n", count: 40))
        // Until the server holds its limit and stops reading.
        for _ in 0..<200 where server.server.inFlightBytes < limit { try await Task.sleep(for: .milliseconds(20)) }
        #expect(server.server.inFlightBytes >= limit)
        #expect(server.server.connections == 2)
        raw = nil  // gone without reading a byte more
        // The connection's reader was waiting for room that never comes; it must end anyway.
        for _ in 0..<250 where server.server.connections > 1 || server.server.inFlightBytes > 0 {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(server.server.inFlightBytes == 0)
        guard server.server.connections == 1 else {
            // Stopping would wait for that connection forever; fail instead of hanging.
            Issue.record("the vanished connection is still open (\(server.server.connections) connections)")
            return
        }
        await client.close()
        await server.stop()
    }

    /// One FETCH reads many partitions of a topic, each from its own offset; a partition's own
    /// failure comes back in its entry while the others answer.
    @Test func oneFetchReadsManyPartitions() async throws {
        let server = try await TestServer.start()
        let client = try await server.client()
        try await client.createTopic("t", partitions: 3)
        try await client.produce(topic: "t", records: (0..<6).map { ProducerRecord(key: nil, value: "v\($0)", partition: $0 % 3) })
        let fetched = try await client.fetch(
            topic: "t", offsets: [PartitionOffset(partition: 2, offset: 1), PartitionOffset(partition: 0, offset: 0), PartitionOffset(partition: 7, offset: 0)])
        #expect(fetched.map(\.partition) == [2, 0, 7])
        #expect(fetched[0].result.records.map(\.value) == [Array("v5".utf8)])
        #expect(fetched[0].result.highWatermark == 2)
        #expect(fetched[1].result.records.map(\.offset) == [0, 1])
        #expect(fetched[2].error?.code == .unknownPartition)
        let raw = try await RawConnection(port: server.address.port)
        _ = try await raw.line()
        try await raw.send("FETCH t 1:1,0:2 max_records=5\r\n")
        let head = try #require(try await raw.line())
        #expect(head.hasPrefix("OK partitions=2 records=1 bytes="), "\(head)")
        try await raw.send("FETCH t 1:x\r\n")
        var lines: [String] = []
        while let line = try await raw.line(), !line.hasPrefix("ERR") { lines.append(line) }
        #expect(lines.contains("PARTITION 0 records=0 high_watermark=2 log_start=0 next_offset=2 bytes=0"), "\(lines)")
        await client.close()
        await server.stop()
    }

    @Test func aConnectionHasOneLongPollAndLaterRequestsWaitBehindIt() async throws {
        let server = try await TestServer.start()
        let client = try await server.client()
        _ = try await client.createTopic("t")
        let raw = try await RawConnection(port: server.address.port)
        #expect(try await raw.line()?.contains(" max_long_polls=1 ") == true)
        try await raw.send("FETCH t 0 0 max_wait_ms=10000\r\nFETCH t 0 0 max_wait_ms=10000\r\nPING behind\r\n")
        // The first FETCH waits in the broker; the second cannot start behind it, so the count
        // reaches 1 and never 2 (a loaded machine may take a while to reach 1).
        let deadline = ContinuousClock.now + .seconds(10)
        while server.broker.waitingFetches == 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        try await Task.sleep(for: .milliseconds(200))
        #expect(server.broker.waitingFetches == 1, "the second FETCH is not waiting yet: it is behind the first")
        _ = try await client.produce(topic: "t", records: [ProducerRecord(key: nil, value: "wake")])
        // Both fetches answer with the record (the second finds it at once), then the PING.
        for _ in 0..<2 {
            let head = try #require(try await raw.line())
            #expect(head.hasPrefix("OK records=1 "))
            #expect(try await raw.line()?.hasPrefix("RECORD offset=0 ") == true)
            #expect(try await raw.line() == "wake")
            #expect(try await raw.line() == "")
        }
        #expect(try await raw.line() == "OK PONG behind")
        await client.close()
        await server.stop()
    }

    @Test func aUnixDomainSocketServesTheSameProtocol() async throws {
        let socketDir = TemporaryDirectory("brook-unix")
        let path = socketDir.file("brook.sock")
        let server = try await TestServer.start(server: { $0.unixSocketPath = path })
        #expect(server.address == ServerAddress("unix:\(path)"))
        #expect(server.address.description == "unix:\(path)")
        let client = try await server.client()
        #expect(client.connection.greeting.verb == "HELLO")
        try await client.createTopic("t")
        #expect(try await client.produce(topic: "t", records: [ProducerRecord(key: bytes("k"), value: bytes("over a unix socket"))]) == [RecordPosition(partition: 0, offset: 0)])
        let fetched = try await client.fetch(topic: "t", partition: 0, offset: 0)
        #expect(fetched.records.map(\.value) == [bytes("over a unix socket")])
        await client.close()
        await server.stop()
        #expect(!FileManager.default.fileExists(atPath: path), "the socket file is removed on stop")
        // A stale socket file left by a killed server does not keep the next one from starting.
        let stale = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(stale, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        close(stale)
        #expect(bound == 0 && FileManager.default.fileExists(atPath: path))
        let again = try await TestServer.start(server: { $0.unixSocketPath = path })
        let second = try await again.client()
        #expect(try await second.listTopics().isEmpty)
        await second.close()
        await again.stop()
        #expect(ServerAddress("unix:") == nil, "a unix address needs a path")
        // Anything else at the path is left alone, and the refusal says why.
        let regular = socketDir.file("not-a-socket")
        FileManager.default.createFile(atPath: regular, contents: Data("keep me".utf8))
        await expectBrookError(.invalidConfig) { _ = try await TestServer.start(server: { $0.unixSocketPath = regular }) }
        #expect(FileManager.default.contents(atPath: regular) == Data("keep me".utf8))
        await expectBrookError(.invalidConfig) {
            _ = try await TestServer.start(server: { $0.unixSocketPath = "/tmp/" + String(repeating: "x", count: 120) })
        }
    }

    @Test func idleConnectionsAreClosedWithAReason() async throws {
        let server = try await TestServer.start(server: { $0.limits.idleTimeoutMs = 300 })
        let idle = try await RawConnection(port: server.address.port)
        #expect(try await idle.line()?.contains("idle_timeout_ms=300") == true)
        #expect(try await idle.line() == "ERR IDLE_TIMEOUT no traffic for idle_timeout_ms=300; closing the connection")
        #expect(try await idle.isClosedByServer())
        await server.stop()
    }

    @Test func lostFramesAreAnsweredThenClosed() async throws {
        let server = try await TestServer.start(server: { $0.limits.maxLine = 128 })
        do {
            let raw = try await RawConnection(port: server.address.port)
            _ = try await raw.line()
            try await raw.send(String(repeating: "X", count: 200) + "\r\n")
            #expect(try await raw.line()?.hasPrefix("ERR LINE_TOO_LONG line exceeds max_line 128 bytes") == true)
            #expect(try await raw.isClosedByServer())
        }
        do {
            let raw = try await RawConnection(port: server.address.port)
            _ = try await raw.line()
            try await raw.send("PRODUCE t value=2\r\nabc\r\nPING\r\n")
            #expect(try await raw.line()?.hasPrefix("ERR INVALID_REQUEST data item of 2 bytes was not followed by CRLF") == true)
            #expect(try await raw.isClosedByServer())
        }
        // Other connections are unaffected.
        let client = try await server.client()
        try await client.ping()
        await client.close()
        await server.stop()
    }
}

/// Every error code docs/protocol.md lists, provoked through a real server.
struct ServerErrorCodeTests {
    @Test func clientErrorsCarryTheirCodes() async throws {
        let server = try await TestServer.start(broker: { $0.sqlTimeoutMs = 200 })
        let client = try await server.client()
        try await client.createTopic("t", partitions: 2, config: TopicConfig(maxMessageBytes: 100))
        try await client.produce(topic: "t", records: [ProducerRecord(key: nil, value: "x", partition: 0)])

        let raw = try await RawConnection(port: server.address.port)
        _ = try await raw.line()
        try await raw.send("BOGUS\r\n")
        #expect(try await raw.line()?.hasPrefix("ERR INVALID_REQUEST unknown command 'BOGUS'") == true)

        await expectBrookError(.unknownTopic) { try await client.describeTopic("missing") }
        await expectBrookError(.unknownTopic) { _ = try await client.fetch(topic: "missing", partition: 0, offset: 0) }
        await expectBrookError(.unknownPartition) { _ = try await client.fetch(topic: "t", partition: 2, offset: 0) }
        await expectBrookError(.unknownPartition) { try await client.produce(topic: "t", records: [ProducerRecord(key: nil, value: "x", partition: 5)]) }
        await expectBrookError(.invalidTopic) { try await client.createTopic("bad/name") }
        await expectBrookError(.invalidTopic) { try await client.createTopic("x'; DROP TABLE __brook_topics; --") }
        await expectBrookError(.topicAlreadyExists) { try await client.createTopic("t") }
        await expectBrookError(.topicAlreadyExists) { try await client.createTopic("T") }
        await expectBrookError(.invalidPartitions) { try await client.createTopic("zero", partitions: 0) }
        await expectBrookError(.invalidPartitions) { try await client.alterTopic("t", TopicSettings(partitions: 1)) }
        await expectBrookError(.invalidConfig) { try await client.createTopic("cfg", config: TopicConfig(retentionMs: 0)) }
        await expectBrookError(.offsetOutOfRange) { _ = try await client.fetch(topic: "t", partition: 0, offset: 2) }
        await expectBrookError(.messageTooLarge) { try await client.produce(topic: "t", records: [ProducerRecord(key: nil, value: [UInt8](repeating: 1, count: 101))]) }
        await expectBrookError(.recordListTooLarge) { try await client.produce(topic: "t", records: (0..<10_001).map { _ in ProducerRecord(key: nil, value: "x") }) }
        await expectBrookError(.invalidSQL) { _ = try await client.query("SELEKT 1") }
        await expectBrookError(.notAuthorized) { _ = try await client.query("DELETE FROM __brook_topics") }
        await expectBrookError(.requestTimedOut) {
            _ = try await client.query("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n")
        }
        // After all of that, the same connection still works and nothing was written.
        #expect(try await client.describeTopic("t").partitions.map(\.recordCount) == [1, 0])
        #expect(try await client.listTopics().map(\.name) == ["t"])
        await client.close()
        await server.stop()
    }

    @Test func fullDatabaseIsAStorageErrorAndNothingIsLost() async throws {
        let server = try await TestServer.start(broker: { $0.maxDatabaseBytes = 256 * 1024 })
        let client = try await server.client()
        try await client.createTopic("t")
        var acked = 0
        var failure: BrookError?
        for batch in 0..<200 {
            do {
                try await client.produce(topic: "t", records: (0..<10).map { ProducerRecord(key: nil, value: Array(repeating: UInt8(batch % 256), count: 1_000) + Array("\($0)".utf8)) })
                acked += 10
            } catch let error as BrookError {
                failure = error
                break
            }
        }
        let error = try #require(failure, "the database never filled")
        #expect(error.code == .storageError)
        #expect(error.message.contains("full"))
        #expect(acked > 0)
        // Every acknowledged record is intact, and the broker keeps serving reads.
        let fetched = try await client.fetch(topic: "t", partition: 0, offset: 0, maxRecords: 100_000, maxBytes: 1 << 30)
        #expect(fetched.records.count == acked)
        #expect(fetched.highWatermark == Int64(acked))
        await client.close()
        await server.stop()
    }

    @Test func damagedPagesAreReportedAsCorruptDatabase() async throws {
        let dir = TemporaryDirectory("brook-corrupt")
        let path = dir.file("brook.db")
        do {
            let broker = try Broker(path: path)
            try await broker.createTopic("t")
            for _ in 0..<10 {
                try await broker.produce(topic: "t", records: (0..<100).map { _ in ProducerRecord(key: nil, value: Array(repeating: 66, count: 500)) })
            }
            await broker.close()  // checkpoints everything into the file
        }
        let plain = PlainSQLite(path)
        let leaf = try #require(plain.rows("SELECT pageno FROM dbstat WHERE name = '__brook_records_1' AND pagetype = 'leaf' ORDER BY path LIMIT 1").first?.first.flatMap { Int($0) })
        let pageSize = try #require(plain.rows("PRAGMA page_size").first?.first.flatMap { Int($0) })
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seek(toOffset: UInt64((leaf - 1) * pageSize))
        try handle.write(contentsOf: Data(repeating: 0xEE, count: pageSize))
        try handle.close()

        let broker = try Broker(path: path)
        let server = LineServer(broker: broker, configuration: { var c = LineServerConfiguration(); c.port = 0; return c }())
        let task = Task { try await server.run() }
        let client = try await BrookClient.connect(to: ServerAddress(host: "127.0.0.1", port: try await server.localAddress().port!))
        await expectBrookError(.corruptDatabase) { _ = try await client.fetch(topic: "t", partition: 0, offset: 0) }
        try await client.ping()
        await client.close()
        task.cancel()
        _ = await task.result
        await broker.close()
    }

    @Test func closedBrokerIsNotAvailable() async throws {
        let server = try await TestServer.start()
        let client = try await server.client()
        try await client.createTopic("t")
        await server.broker.close()
        await expectBrookError(.brokerNotAvailable) { try await client.produce(topic: "t", records: [ProducerRecord(key: nil, value: "x")]) }
        await expectBrookError(.brokerNotAvailable) { _ = try await client.fetch(topic: "t", partition: 0, offset: 0) }
        await client.close()
        await server.stop()
        await expectBrookError(.brokerNotAvailable) { _ = try await BrookClient.connect(to: server.address) }
    }
}

struct ClientFeatureTests {
    @Test func producerPartitionsLikeTheBrokerAndBatches() async throws {
        let server = try await TestServer.start()
        let client = try await server.client()
        try await client.createTopic("t", partitions: 12)
        var configuration = ProducerConfiguration()
        configuration.batchRecords = 50
        configuration.lingerMs = 2
        let producer = try await Producer(client: client, topic: "t", configuration: configuration)
        let keys = ["21", "foobar", "u1", "user-42", "abc", "a-little-bit-longer-string"]
        let positions = try await withThrowingTaskGroup(of: (Int, RecordPosition).self) { group in
            for (index, key) in keys.enumerated() {
                group.addTask { (index, try await producer.send(ProducerRecord(key: key, value: "v"))) }
            }
            return try await group.reduce(into: [Int: RecordPosition]()) { $0[$1.0] = $1.1 }
        }
        // Kafka's partitions for these keys (see PartitionerTests).
        #expect(keys.indices.map { positions[$0]!.partition } == [0, 6, 4, 4, 3, 11])
        // Unkeyed records: many sent, flushed, all acknowledged in order per partition.
        for index in 0..<500 { await producer.sendAsync(ProducerRecord(key: nil, value: "n\(index)")) }
        try await producer.flush()
        let total = try await client.describeTopic("t").partitions.reduce(Int64(0)) { $0 + $1.recordCount }
        #expect(total == 506)
        await client.close()
        await server.stop()
    }

    @Test func connectionsSpreadOverTheEventLoopGroup() async throws {
        let server = try await TestServer.start()
        // Two loops, as on a two-core machine: picking twice per connection lands every one of
        // them on the same loop.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        var connections: [BrookConnection] = []
        for _ in 0..<4 {
            connections.append(try await BrookConnection.connect(to: server.address, eventLoopGroup: group))
        }
        // Round robin: the connections alternate between the two loops.
        let loops = connections.map { ObjectIdentifier($0.eventLoop as AnyObject) }
        #expect(loops[0] != loops[1] && loops[0] == loops[2] && loops[1] == loops[3])
        for connection in connections {
            try Reply.check(try await connection.send(.ping(nil)))
            await connection.close()
        }
        try await group.shutdownGracefully()
        await server.stop()
    }

    @Test func partitionConsumerFollowsTheLog() async throws {
        let server = try await TestServer.start()
        let client = try await server.client()
        try await client.createTopic("t")
        try await client.produce(topic: "t", records: (0..<5).map { ProducerRecord(key: nil, value: "a\($0)") })
        var fromStart = try await PartitionConsumer(client: client, topic: "t", partition: 0, from: .earliest)
        var fromEnd = try await PartitionConsumer(client: client, topic: "t", partition: 0, from: .latest)
        #expect(try await fromStart.poll().map(\.offset) == [0, 1, 2, 3, 4])
        try await client.produce(topic: "t", records: [ProducerRecord(key: nil, value: "b")])
        #expect(try await fromEnd.poll(maxWait: .seconds(5)).map(\.value) == [bytes("b")])
        #expect(try await fromStart.poll().map(\.offset) == [5])
        fromStart.seek(to: 2)
        #expect(try await fromStart.poll().first?.offset == 2)
        await client.close()
        await server.stop()
    }

    @Test func metadataListOffsetsSQLAndBackupThroughTheServer() async throws {
        let server = try await TestServer.start()
        let client = try await server.client()
        try await client.createTopic("orders", partitions: 3)
        try await client.produce(topic: "orders", records: (0..<30).map { ProducerRecord(key: "u\($0 % 3)", value: "{\"n\":\($0)}", timestamp: Int64(1_000 + $0)) })
        #expect(try await client.partitionCounts() == ["orders": 3])
        let partition = Partitioner.partition(forKey: bytes("u1"), partitionCount: 3)
        #expect(try await client.listOffset(topic: "orders", partition: partition, .earliest)?.offset == 0)
        #expect(try await client.listOffset(topic: "orders", partition: partition, .latest)?.offset == 10)
        #expect(try await client.listOffset(topic: "orders", partition: partition, .timestamp(1_005)) == ListedOffset(offset: 2, timestamp: 1_007))
        #expect(try await client.listOffset(topic: "orders", partition: partition, .timestamp(5_000)) == nil)
        let rows = try await client.query("SELECT key, sum(json_extract(value, '$.n')) AS total FROM orders GROUP BY key ORDER BY key")
        #expect(rows.columns == ["key", "total"])
        #expect(rows.rows == [[.text("u0"), .integer(135)], [.text("u1"), .integer(145)], [.text("u2"), .integer(155)]])

        let copy = server.dir.file("copy.db")
        let (size, integrity) = try await client.backup(to: copy)
        #expect(integrity == "ok")
        #expect(size == (try FileManager.default.attributesOfItem(atPath: copy)[.size] as? Int))
        let restored = try Broker(path: copy)
        #expect(try restored.describeTopic("orders").partitions.map(\.state.recordCount).reduce(0, +) == 30)
        await restored.close()
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: server.dir.path).filter { $0.contains("brook-backup") }
        #expect(leftovers.isEmpty, "the server deletes its temporary copy")
        await client.close()
        await server.stop()
    }
}
