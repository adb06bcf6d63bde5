import Foundation
import NIOCore
import NIOSSL

/// TLS for a listener, shared by every front-end: the server's certificate chain and key, and
/// optionally the CA that client certificates must chain to (mTLS).
public struct ServerTLS: Sendable {
    /// Why TLS could not be set up, naming the file and what to do.
    public struct SetupError: Error, CustomStringConvertible {
        public let description: String
    }

    private let context: NIOSSLContext
    /// The settings `context` was made from, for a listener that builds its own context (the
    /// HTTP listener's Hummingbird server).
    public let tlsConfiguration: TLSConfiguration
    /// Every client must present a certificate that chains to the client CA.
    public let requiresClientCertificate: Bool

    /// - Parameters:
    ///   - certificateFile: PEM, the server's certificate first, then any intermediates.
    ///   - keyFile: PEM, the certificate's private key.
    ///   - clientCAFile: PEM; when given, a client without a certificate signed by it is refused.
    public init(certificateFile: String, keyFile: String, clientCAFile: String? = nil) throws(SetupError) {
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificateFile)
        } catch {
            throw SetupError(description: "cannot read the TLS certificate '\(certificateFile)': \(Self.reason(error, certificateFile)); give a PEM file with the server's certificate first")
        }
        guard !chain.isEmpty else {
            throw SetupError(description: "the TLS certificate file '\(certificateFile)' holds no PEM certificate")
        }
        do {
            key = try NIOSSLPrivateKey(file: keyFile, format: .pem)
        } catch {
            throw SetupError(description: "cannot read the TLS key '\(keyFile)': \(Self.reason(error, keyFile)); give the certificate's private key as an unencrypted PEM file")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        if let clientCAFile {
            do {
                let roots = try NIOSSLCertificate.fromPEMFile(clientCAFile)
                guard !roots.isEmpty else { throw SetupError(description: "no certificate") }
                configuration.trustRoots = .certificates(roots)
            } catch {
                throw SetupError(description: "cannot read the client CA '\(clientCAFile)': \(Self.reason(error, clientCAFile)); give the PEM certificate of the CA that signs client certificates")
            }
            configuration.certificateVerification = .noHostnameVerification
        }
        requiresClientCertificate = clientCAFile != nil
        tlsConfiguration = configuration
        do {
            context = try NIOSSLContext(configuration: configuration)
        } catch {
            throw SetupError(description: "the TLS certificate '\(certificateFile)' and key '\(keyFile)' cannot be used together (\(error)): check that the key belongs to the certificate")
        }
    }

    /// The handler that goes first in an accepted connection's pipeline.
    public func makeHandler() -> NIOSSLServerHandler {
        NIOSSLServerHandler(context: context)
    }

    /// The subject CN of the client's verified certificate on `channel`, once the handshake is
    /// done: the principal of an mTLS connection.
    public static func clientCommonName(_ pipeline: ChannelPipeline.SynchronousOperations) -> String? {
        guard let handler = try? pipeline.handler(type: NIOSSLServerHandler.self),
            let certificate = handler.peerCertificate
        else { return nil }
        return certificate.subjectName.last { $0.type == .commonName }?.value
    }

    private static func reason(_ error: any Error, _ path: String) -> String {
        if !FileManager.default.fileExists(atPath: path) { return "no such file" }
        if !FileManager.default.isReadableFile(atPath: path) { return "permission denied" }
        return "\(error)"
    }
}
