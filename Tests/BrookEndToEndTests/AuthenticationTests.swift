import BrookAuth
import BrookBroker
import BrookClient
import BrookLineServer
import BrookModel
import BrookStore
import BrookTestSupport
import BrookWire
import Foundation
import Logging
import Testing

/// A line server started with `requireAuthentication`, on a file holding users.
final class AuthenticatedServer: Sendable {
    let test: TestBroker
    let task: Task<Void, Error>
    let address: ServerAddress

    /// `superUsers` are marked so in the file; `enforceACLs` applies the file's rules.
    init(users: [(String, String)], superUsers: Set<String> = [], enforceACLs: Bool = false, configuredSuperUsers: Set<String> = []) async throws {
        test = try TestBroker("brook-auth", configure: { options in
            options.enforceACLs = enforceACLs
            options.superUsers = configuredSuperUsers
        }, prepare: { path in
            let writer = try LogWriter(path: path)
            for (name, password) in users {
                try writer.addUser(BrookUser(
                    name: name, isSuper: superUsers.contains(name), credentials: try ScramCredential.makeAll(password: password), createdMs: 1,
                    updatedMs: 1))
            }
            writer.close()
        })
        var configuration = LineServerConfiguration()
        configuration.port = 0
        configuration.requireAuthentication = true
        let server = LineServer(broker: test.broker, configuration: configuration, logger: Logger(label: "test.server", factory: { _ in SwiftLogNoOpLogHandler() }))
        task = Task { try await server.run() }
        address = ServerAddress(host: "127.0.0.1", port: try await server.localAddress().port!)
    }

    func stop() async {
        await test.stop(serving: task)
    }
}

@Suite("Authentication on the line protocol")
struct AuthenticationTests {
    @Test(arguments: ScramMechanism.allCases)
    func theRightPasswordGetsInAndEverythingWorks(_ mechanism: ScramMechanism) async throws {
        let server = try await AuthenticatedServer(users: [("alice", "wonder land")])
        let client = try await BrookClient.connect(to: server.address, credentials: Credentials(user: "alice", password: "wonder land", mechanism: mechanism))
        #expect(client.connection.greeting.option("auth") == "SCRAM-SHA-256,SCRAM-SHA-512,PLAIN")
        _ = try await client.createTopic("t", partitions: 1)
        #expect(try await client.listTopics().map(\.name) == ["t"])
        await client.close()
        await server.stop()
    }

    @Test func aWrongPasswordOrUnknownUserFailsAndClosesTheConnection() async throws {
        let server = try await AuthenticatedServer(users: [("alice", "right")])
        for credentials in [Credentials(user: "alice", password: "wrong"), Credentials(user: "nobody", password: "right")] {
            await expectBrookError(.saslAuthenticationFailed, containing: "unknown user or wrong password") {
                _ = try await BrookClient.connect(to: server.address, credentials: credentials)
            }
        }
        await expectBrookError(.saslAuthenticationFailed, containing: "requires authentication: give a user") {
            _ = try await BrookClient.connect(to: server.address)
        }

        // As nc sees it: nothing but PING, HELP, QUIT and AUTH before authenticating, and a
        // failed AUTH ends the connection.
        let raw = try await RawConnection(port: server.address.port)
        #expect(try await raw.line()?.hasSuffix(" auth=SCRAM-SHA-256,SCRAM-SHA-512,PLAIN") == true)
        try await raw.send("TOPIC LIST\r\n")
        #expect(try await raw.line()?.hasPrefix("ERR ILLEGAL_SASL_STATE authenticate first: AUTH SCRAM-SHA-256|SCRAM-SHA-512|PLAIN") == true)
        try await raw.send("PING\r\n")
        #expect(try await raw.line() == "OK PONG")
        try await raw.send("AUTH PLAIN \(Data("\0alice\0wrong".utf8).base64EncodedString())\r\n")
        #expect(try await raw.line() == "ERR SASL_AUTHENTICATION_FAILED authentication of user 'alice' with PLAIN failed: unknown user or wrong password")
        #expect(try await raw.isClosedByServer())
        await server.stop()
    }

    @Test func plainOnLoopbackAuthenticatesARawSession() async throws {
        let server = try await AuthenticatedServer(users: [("bob", "builder")])
        let raw = try await RawConnection(port: server.address.port)
        _ = try await raw.line()
        try await raw.send("AUTH PLAIN \(Data("\0bob\0builder".utf8).base64EncodedString())\r\n")
        #expect(try await raw.line() == "OK AUTH user=bob")
        try await raw.send("TOPIC DESCRIBE nope\r\n")
        #expect(try await raw.line() == "ERR UNKNOWN_TOPIC topic 'nope' does not exist")
        try await raw.send("AUTH PLAIN \(Data("\0bob\0builder".utf8).base64EncodedString())\r\n")
        #expect(try await raw.line()?.hasPrefix("ERR ILLEGAL_SASL_STATE this connection is authenticated already") == true)
        await server.stop()
    }
}
