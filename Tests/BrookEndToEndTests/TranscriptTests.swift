import BrookBroker
import BrookModel
import BrookTestSupport
import Foundation
import Testing

/// The nc sessions of docs/protocol.md, replayed request by request against a fresh server:
/// every line the server sent must come back the same, so the documented transcripts stay true.
/// Member ids are random, so ids the doc shows in `member=` and `leader=` are learned from the
/// replies and replaced in the lines that follow.
@Test(arguments: ["## A session with nc", "## A group session with nc"])
func protocolTranscriptReplaysExactly(_ heading: String) async throws {
    let doc = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("docs/protocol.md")
    let text = try String(contentsOf: doc, encoding: .utf8)
    let section = try #require(text.range(of: heading + "\n"))
    let afterHeading = text[section.upperBound...]
    let open = try #require(afterHeading.range(of: "```\n"))
    let close = try #require(afterHeading[open.upperBound...].range(of: "\n```"))
    let lines = afterHeading[open.upperBound..<close.lowerBound].split(separator: "\n", omittingEmptySubsequences: false).map(String.init)

    // Steps: the lines a person typed, then the lines the server sent back.
    var steps: [(sent: [String], expected: [String])] = []
    for line in lines {
        let isReply = line.hasPrefix("<")
        if steps.isEmpty || (!isReply && !steps[steps.count - 1].expected.isEmpty) { steps.append(([], [])) }
        if isReply {
            steps[steps.count - 1].expected.append(line == "<" ? "" : String(line.dropFirst(2)))
        } else {
            steps[steps.count - 1].sent.append(line)
        }
    }
    #expect(steps.count > 5)

    let server = try await TestServer.start(broker: { $0.groups.initialRebalanceDelayMs = 0 })
    let raw = try await RawConnection(port: server.address.port)
    var ids: [String: String] = [:]
    func substitute(_ line: String) -> String {
        ids.reduce(line) { $0.replacingOccurrences(of: $1.key, with: $1.value) }
    }
    for step in steps {
        if !step.sent.isEmpty { try await raw.send(step.sent.map { substitute($0) + "\r\n" }.joined()) }
        for expected in step.expected {
            let received = try #require(try await raw.line(), "the server closed early; expected: \(expected)")
            for (documented, actual) in zip(expected.split(separator: " "), received.split(separator: " "))
            where documented != actual && (documented.hasPrefix("member=") || documented.hasPrefix("leader=")) {
                ids[String(documented.drop { $0 != "=" }.dropFirst())] = String(actual.drop { $0 != "=" }.dropFirst())
            }
            #expect(received == substitute(expected))
        }
    }
    #expect(try await raw.isClosedByServer(), "QUIT closes the connection")
    await server.stop()
}
