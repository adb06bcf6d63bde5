import BrookBroker
import Foundation
import Testing

/// docs/protocol.md's nc session, replayed against a fresh server: every line the server sent
/// must come back byte for byte, so the documented transcript stays true.
@Test func protocolTranscriptReplaysExactly() async throws {
    let doc = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("docs/protocol.md")
    let text = try String(contentsOf: doc, encoding: .utf8)
    let section = try #require(text.range(of: "## A session with nc"))
    let afterHeading = text[section.upperBound...]
    let open = try #require(afterHeading.range(of: "```\n"))
    let close = try #require(afterHeading[open.upperBound...].range(of: "\n```"))
    let lines = afterHeading[open.upperBound..<close.lowerBound].split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    let sent = lines.filter { !$0.hasPrefix("<") }
    let expected = lines.filter { $0.hasPrefix("<") }.map { $0 == "<" ? "" : String($0.dropFirst(2)) }
    #expect(sent.count > 10 && expected.count > 10)

    let server = try await TestServer.start()
    let raw = try await RawConnection(port: server.address.port)
    try await raw.send(sent.map { $0 + "\r\n" }.joined())
    var received: [String] = []
    while let line = try await raw.line() { received.append(line) }
    #expect(received == expected)
    await server.stop()
}
