import ArgumentParser
import BrookClient
import BrookModel
import BrookWire
import Foundation
import Synchronization

/// `--server HOST:PORT`, defaulting to $BROOK_SERVER, else 127.0.0.1:7665.
public struct ServerOptions: ParsableArguments, Sendable {
    @Option(name: .long, help: "The server, HOST:PORT or unix:PATH (default: $BROOK_SERVER, else 127.0.0.1:7665).")
    public var server: String?

    @Option(name: .long, help: "Authenticate as this user (SCRAM-SHA-256) to a server run with --auth; the password comes from $BROOK_PASSWORD, else a prompt, else the first line of standard input.")
    public var user: String?

    @Option(name: .long, help: "Connect with TLS, trusting this CA's PEM certificate (for a server run with --tls-cert).")
    public var tlsCA: String?

    @Option(name: .long, help: "With --tls-ca: this client certificate (PEM), for a server run with --tls-client-ca.")
    public var tlsCert: String?

    @Option(name: .long, help: "With --tls-cert: the client certificate's key (PEM).")
    public var tlsKey: String?

    public init() {}

    /// The TLS for `--tls-ca`, if given.
    public func tls() throws -> ClientTLS? {
        guard let tlsCA else { return nil }
        return try ClientTLS(caFile: tlsCA, certificateFile: tlsCert, keyFile: tlsKey)
    }

    /// The credentials for `--user`, reading the password once.
    public func credentials() throws -> Credentials? {
        guard let user else { return nil }
        if let password = ProcessInfo.processInfo.environment["BROOK_PASSWORD"], !password.isEmpty {
            return Credentials(user: user, password: password)
        }
        if let password = Self.passwords.withLock({ $0[user] }) { return Credentials(user: user, password: password) }
        let password = try PasswordInput.read(for: user, confirm: false)
        Self.passwords.withLock { $0[user] = password }
        return Credentials(user: user, password: password)
    }

    /// A command that connects twice asks for the password once.
    private static let passwords = Mutex<[String: String]>([:])

    public func address() throws -> ServerAddress {
        let text = server ?? ProcessInfo.processInfo.environment["BROOK_SERVER"] ?? "127.0.0.1:\(WireProtocol.defaultPort)"
        guard let address = ServerAddress(text) else {
            throw BrookError(.invalidRequest, "server '\(text)' is not HOST:PORT or unix:PATH")
        }
        return address
    }

    public func connect() async throws -> BrookClient {
        try await BrookClient.connect(to: try address(), credentials: try credentials(), tls: try tls())
    }
}
