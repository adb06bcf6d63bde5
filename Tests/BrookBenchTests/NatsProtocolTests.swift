@testable import BrookBench
import BrookModel
import NIOCore
import NIOTestUtils
import Testing

private func buffer(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

private func message(_ subject: String, sid: Int, replyTo: String? = nil, headers: String? = nil, payload: String) -> NatsFrame {
    .message(NatsMessage(subject: buffer(subject), sid: sid, replyTo: replyTo.map(buffer), headers: headers.map(buffer), payload: buffer(payload)))
}

/// The NATS protocol as `brook bench nats` reads and writes it: if it misread the server, the
/// JetStream figures in bench/compare.sh would measure nothing.
struct NatsProtocolTests {
    /// Every case is fed whole, byte by byte, and split at every position by the verifier.
    @Test func decodesEveryServerFrameHoweverTheBytesArrive() throws {
        try ByteToMessageDecoderVerifier.verifyDecoder(
            inputOutputPairs: [
                (buffer("INFO {\"server_id\":\"x\",\"jetstream\":true} \r\n"), [.info("{\"server_id\":\"x\",\"jetstream\":true}")]),
                (buffer("PING\r\nPONG\r\n+OK\r\n"), [.ping, .pong, .ok]),
                (buffer("MSG bench.0 7 5\r\nhello\r\n"), [message("bench.0", sid: 7, payload: "hello")]),
                (buffer("MSG _INBOX.ab.p.42 3 _INBOX.r.9 4\r\na\r\nb\r\n"), [message("_INBOX.ab.p.42", sid: 3, replyTo: "_INBOX.r.9", payload: "a\r\nb")]),
                (buffer("msg\tx 1  0\r\n\r\nPONG\r\n"), [message("x", sid: 1, payload: ""), .pong]),
                (buffer("HMSG _INBOX.p 2 32 32\r\nNATS/1.0 408 Request Timeout\r\n\r\n\r\n"),
                 [message("_INBOX.p", sid: 2, headers: "NATS/1.0 408 Request Timeout\r\n\r\n", payload: "")]),
                (buffer("HMSG s 2 r 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"), [message("s", sid: 2, replyTo: "r", headers: "NATS/1.0\r\n\r\n", payload: "hi")]),
                (buffer("-ERR 'Authorization Violation'\r\n"), [.error("Authorization Violation")]),
            ],
            decoderFactory: { NatsFrameDecoder() })
    }

    @Test func refusesWhatIsNotTheNatsProtocol() {
        for input in [
            "HELLO brook 0.1.0\r\n",  // a Brook server's greeting
            "MSG subject 1\r\n",  // no size
            "MSG subject one 2\r\nab\r\n",  // a sid that is not a number
            "MSG s 1 2\r\nabc\r\n",  // a payload longer than its count
            "HMSG s 1 9 4\r\nabcd\r\n",  // headers longer than the whole
        ] {
            var decoder = NatsFrameDecoder()
            var bytes = buffer(input)
            #expect(throws: BrookError.self, "\(input)") {
                while try decoder.decode(buffer: &bytes) != nil {}
            }
        }
        var decoder = NatsFrameDecoder(maximumLineLength: 16)
        var endless = buffer(String(repeating: "x", count: 17))
        #expect(throws: BrookError.self) { _ = try decoder.decode(buffer: &endless) }
    }

    @Test func readsJetStreamStatusesAndReplyNumbers() {
        let status = NatsMessage(subject: buffer("_INBOX.a.pull"), sid: 1, headers: buffer("NATS/1.0 404 No Messages\r\n\r\n"), payload: buffer(""))
        #expect(status.status == 404)
        let plain = NatsMessage(subject: buffer("_INBOX.a.p.1234567"), sid: 1, headers: buffer("NATS/1.0\r\nNats-Msg-Id: 1\r\n\r\n"), payload: buffer("{}"))
        #expect(plain.status == nil)
        #expect(plain.lastSubjectNumber == 1_234_567)
        #expect(NatsMessage(subject: buffer("_INBOX.a.p."), sid: 1, payload: buffer("")).lastSubjectNumber == nil)
        #expect(NatsMessage(subject: buffer("_INBOX.a.p.x1"), sid: 1, payload: buffer("")).lastSubjectNumber == nil)
        #expect(NatsMessage(subject: buffer("7"), sid: 1, payload: buffer("")).lastSubjectNumber == 7)
    }

    @Test func writesCommandsAsTheProtocolSpellsThem() {
        var out = ByteBuffer()
        NatsCommand.publish("bench.0", replyTo: "_INBOX.a.p.", token: 12, payload: buffer("xyz"), into: &out)
        NatsCommand.publish("e2e", replyTo: nil, payload: buffer(""), into: &out)
        NatsCommand.subscribe("_INBOX.a.p.*", sid: 3, into: &out)
        NatsCommand.ping(into: &out)
        NatsCommand.pong(into: &out)
        #expect(String(buffer: out) == "PUB bench.0 _INBOX.a.p.12 3\r\nxyz\r\nPUB e2e 0\r\n\r\nSUB _INBOX.a.p.* 3\r\nPING\r\nPONG\r\n")
        var connect = ByteBuffer()
        NatsCommand.connect(name: "b", into: &connect)
        let line = String(buffer: connect)
        #expect(line.hasPrefix("CONNECT {") && line.hasSuffix("}\r\n") && line.contains("\"verbose\":false") && line.contains("\"headers\":true"))
    }
}

extension NatsProtocolTests {
    @Test func tellsJetStreamRefusalsFromAcknowledgements() {
        func reply(_ json: String) -> NatsMessage { NatsMessage(subject: buffer("_INBOX.a.p.1"), sid: 1, payload: buffer(json)) }
        #expect(!reply(#"{"stream":"bench-0","seq":42}"#).isJetStreamError)
        #expect(!reply("").isJetStreamError)
        #expect(reply(#"{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"}}"#).isJetStreamError)
        #expect(reply(#"{"stream":"s","error":{"code":400}}"#).isJetStreamError)
    }
}
