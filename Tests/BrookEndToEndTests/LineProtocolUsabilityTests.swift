import BrookBroker
import BrookModel
import BrookTestSupport
import BrookWire
import Foundation
import Testing

/// What a person typing at `nc` trips on: verb case, no HELP, limits named wrong, a misspelled
/// topic in JOIN, and a PRODUCE without its value.
struct LineProtocolUsabilityTests {
    @Test func verbsAndSubcommandsAreAcceptedInAnyCase() async throws {
        let server = try await TestServer.start()
        let raw = try await RawConnection(port: server.address.port)
        _ = try await raw.line()
        try await raw.send("ping\r\n")
        #expect(try await raw.line() == "OK PONG")
        try await raw.send("topic create orders partitions=2\r\n")
        #expect(try await raw.reply()?.hasPrefix("OK topics=1") == true)
        try await raw.send("Produce orders partition=1 value=2\r\nhi\r\n")
        #expect(try await raw.line() == "OK 1 1:0")
        try await raw.send("group List\r\n")
        #expect(try await raw.reply()?.hasPrefix("OK groups=0") == true)
        await server.stop()
    }

    @Test func helpListsEveryVerbOneLineEach() async throws {
        let server = try await TestServer.start()
        let raw = try await RawConnection(port: server.address.port)
        _ = try await raw.line()
        try await raw.send("HELP\r\n")
        let head = try #require(try await raw.line())
        #expect(head.hasPrefix("OK help=\(Reply.helpLines.count) bytes="), "\(head)")
        let size = try #require(Int(head.split(separator: "=").last ?? ""))
        let lines = String(decoding: try #require(try await raw.bytes(size)), as: UTF8.self).split(separator: "\r\n").map(String.init)
        #expect(try await raw.line() == "")
        let verbs = ["PING", "TOPIC", "METADATA", "PRODUCE", "FETCH", "LISTOFFSETS", "SQL", "BACKUP", "INITPRODUCER", "JOIN", "SYNC",
                     "HEARTBEAT", "LEAVE", "COMMIT", "OFFSETS", "POLL", "SEEK", "PAUSE", "RESUME", "GROUP", "HELP", "QUIT"]
        for verb in verbs {
            #expect(lines.contains { $0.hasPrefix(verb + " ") || $0 == verb || $0.contains("; \(verb)") || $0.contains("|\(verb)") }, "HELP names \(verb)")
        }
        // Every verb HELP names is one the server knows (none is answered "unknown command").
        for line in lines {
            let verb = String(line.prefix { $0 != " " && $0 != "|" && $0 != ";" })
            try await raw.send("\(verb)\r\n")
            let reply = try #require(try await raw.reply())
            #expect(!reply.contains("unknown command"), "\(verb): \(reply)")
            if verb == "QUIT" { break }
        }
        await server.stop()
    }

    @Test func aNonNumericPartitionCountNamesTheRealLimit() async throws {
        let server = try await TestServer.start()
        let raw = try await RawConnection(port: server.address.port)
        _ = try await raw.line()
        try await raw.send("TOPIC CREATE t partitions=abc\r\n")
        #expect(try await raw.line() == "ERR INVALID_REQUEST partitions=abc is invalid: use a number from 1 to 10000")
        await server.stop()
    }

    @Test func joinOnATopicThatDoesNotExistIsUnknownTopic() async throws {
        let server = try await TestServer.start()
        let raw = try await RawConnection(port: server.address.port)
        _ = try await raw.line()
        try await raw.send("TOPIC CREATE orders\r\n")
        #expect(try await raw.reply()?.hasPrefix("OK") == true)
        try await raw.send("JOIN billing orders,ordres\r\n")
        #expect(try await raw.line() == "ERR UNKNOWN_TOPIC topic 'ordres' does not exist")
        let groups = try await server.broker.groups.listGroups()
        #expect(groups.isEmpty, "no member joined: \(groups)")
        await server.stop()
    }

    @Test func produceWithoutAValueIsRefusedAndValueNullIsExplicit() async throws {
        let server = try await TestServer.start()
        let raw = try await RawConnection(port: server.address.port)
        _ = try await raw.line()
        try await raw.send("TOPIC CREATE t\r\n")
        #expect(try await raw.reply()?.hasPrefix("OK") == true)
        try await raw.send("PRODUCE t\r\n")
        #expect(try await raw.line()?.hasPrefix("ERR INVALID_REQUEST PRODUCE needs a value: value=N followed by N bytes, or value=null for a null record") == true)
        try await raw.send("PRODUCE t key=1\r\nk\r\n")
        #expect(try await raw.line()?.hasPrefix("ERR INVALID_REQUEST PRODUCE needs a value") == true, "the key's data was read with its line")
        try await raw.send("PRODUCE t key=1 value=null\r\nk\r\n")
        #expect(try await raw.line() == "OK 1 0:0")
        try await raw.send("PRODUCE t value=0\r\n\r\n")
        #expect(try await raw.line() == "OK 1 0:1")
        let records = try await server.broker.fetch(topic: "t", partition: 0, offset: 0, maxRecords: 10, maxBytes: 1 << 20).records
        #expect(records.count == 2, "nothing was written by the refused requests")
        #expect(records.first?.key == Array("k".utf8) && records.first?.value == nil, "value=null is a null value")
        #expect(records.last?.value == [], "value=0 is an empty value")
        await server.stop()
    }
}

extension RawConnection {
    /// The next reply line, with the block its `bytes=N` counts (and the CRLF after it) read and
    /// dropped; nil once the server has closed the connection.
    func reply() async throws -> String? {
        guard let line = try await line() else { return nil }
        if line.hasPrefix("OK"), let token = line.split(separator: " ").last(where: { $0.hasPrefix("bytes=") }), let count = Int(token.dropFirst(6)) {
            _ = try await bytes(count + 2)
        }
        return line
    }
}
