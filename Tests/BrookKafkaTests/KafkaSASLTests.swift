import BrookAuth
import BrookBroker
import BrookModel
import BrookStore
import NIOCore
import Testing

@testable import BrookKafka

/// SASL on the Kafka listener, framed as clients frame it: SaslHandshake v1 then SaslAuthenticate,
/// and v0 then bare tokens (Kafka's legacy framing), with the refusals around them.
struct KafkaSASLTests {
    static func start() async throws -> KafkaTestServer {
        try await KafkaTestServer.start(listener: { $0.requireAuthentication = true }, prepare: { path in
            let writer = try LogWriter(path: path)
            try writer.addUser(BrookUser(name: "alice", isSuper: false, credentials: try ScramCredential.makeAll(password: "pw"), createdMs: 1, updatedMs: 1))
            writer.close()
        })
    }

    static func handshake(_ connection: KafkaRawConnection, version: Int16, _ mechanism: String) async throws -> (error: Int16, mechanisms: [String]) {
        var body = try #require(try await connection.roundTrip(api: 17, version: version) { $0.writeKafkaString(mechanism) })
        let error = body.readInteger(as: Int16.self)!
        let count = body.readInteger(as: Int32.self)!
        let mechanisms = (0..<count).map { _ in body.readString(length: Int(body.readInteger(as: Int16.self)!))! }
        return (error, mechanisms)
    }

    /// SaslAuthenticate v1: error, message and the server's bytes.
    static func authenticate(_ connection: KafkaRawConnection, _ token: [UInt8]) async throws -> (error: Int16, message: String?, bytes: [UInt8]) {
        var body = try #require(try await connection.roundTrip(api: 36, version: 1) { body in
            body.writeInteger(Int32(token.count))
            body.writeBytes(token)
        })
        let error = body.readInteger(as: Int16.self)!
        let length = body.readInteger(as: Int16.self)!
        let message = length < 0 ? nil : body.readString(length: Int(length))
        let bytes = body.readBytes(length: Int(body.readInteger(as: Int32.self)!))!
        #expect(body.readInteger(as: Int64.self) == 0, "session_lifetime_ms")
        return (error, message, bytes)
    }

    /// Metadata v1 for no topics: answered only on an authenticated connection.
    static func metadataAnswered(_ connection: KafkaRawConnection) async throws -> Bool {
        try await connection.roundTrip(api: 3, version: 1) { $0.writeInteger(Int32(0)) } != nil
    }

    @Test(arguments: ScramMechanism.allCases)
    func scramOverSaslAuthenticateLetsTheClientIn(_ mechanism: ScramMechanism) async throws {
        let server = try await Self.start()
        let connection = try await server.connect()
        let offered = try await Self.handshake(connection, version: 1, mechanism.rawValue)
        #expect(offered.error == 0)
        #expect(offered.mechanisms == ["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"])
        var client = ScramClientExchange(mechanism: mechanism, user: "alice", password: "pw")
        let first = try await Self.authenticate(connection, client.clientFirst)
        #expect(first.error == 0 && first.message == nil)
        let final = try await Self.authenticate(connection, try client.clientFinal(answering: first.bytes))
        #expect(final.error == 0)
        try client.verify(serverFinal: final.bytes)
        #expect(try await Self.metadataAnswered(connection))
        await server.stop()
    }

    @Test func plainWithBareTokensAfterAVersionZeroHandshake() async throws {
        let server = try await Self.start()
        let connection = try await server.connect()
        #expect(try await Self.handshake(connection, version: 0, "PLAIN").error == 0)
        // The legacy framing: a size and the token, no header; the answer is a bare empty token.
        let token = Array("\0alice\0pw".utf8)
        try await connection.send(Array([0, 0, 0, UInt8(token.count)]) + token)
        #expect(try await connection.response() == ByteBuffer())
        #expect(try await Self.metadataAnswered(connection))
        await server.stop()
    }

    @Test func aWrongPasswordIsAnsweredWithItsReasonThenClosed() async throws {
        let server = try await Self.start()
        let connection = try await server.connect()
        #expect(try await Self.handshake(connection, version: 1, "PLAIN").error == 0)
        let refused = try await Self.authenticate(connection, Array("\0alice\0wrong".utf8))
        #expect(refused.error == KafkaErrorCode.saslAuthenticationFailed)
        #expect(refused.message == "authentication of user 'alice' with PLAIN failed: unknown user or wrong password")
        #expect(try await connection.closesWithoutReply())
        await server.stop()
    }

    @Test func nothingButApiVersionsAndSaslBeforeAuthenticating() async throws {
        let server = try await Self.start()
        let early = try await server.connect()
        #expect(try await early.roundTrip(api: 18, version: 0) { _ in } != nil, "ApiVersions is answered")
        _ = try await early.send(api: 3, version: 1) { $0.writeInteger(Int32(0)) }
        #expect(try await early.closesWithoutReply())
        #expect(server.log.all.contains { $0.contains("closing a Kafka connection: a request before authentication") })

        let unknown = try await server.connect()
        let offered = try await Self.handshake(unknown, version: 1, "GSSAPI")
        #expect(offered.error == KafkaErrorCode.unsupportedSaslMechanism && offered.mechanisms.contains("SCRAM-SHA-512"))
        #expect(try await unknown.closesWithoutReply())
        await server.stop()
    }
}
