import ArgumentParser
import BrookClient
import BrookModel
import BrookWire
import Foundation

/// `--server HOST:PORT`, defaulting to $BROOK_SERVER, else 127.0.0.1:7665.
public struct ServerOptions: ParsableArguments, Sendable {
    @Option(name: .long, help: "The server, HOST:PORT or unix:PATH (default: $BROOK_SERVER, else 127.0.0.1:7665).")
    public var server: String?

    public init() {}

    public func address() throws -> ServerAddress {
        let text = server ?? ProcessInfo.processInfo.environment["BROOK_SERVER"] ?? "127.0.0.1:\(WireProtocol.defaultPort)"
        guard let address = ServerAddress(text) else {
            throw BrookError(.invalidRequest, "server '\(text)' is not HOST:PORT or unix:PATH")
        }
        return address
    }

    public func connect() async throws -> BrookClient {
        try await BrookClient.connect(to: try address())
    }
}
