#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import BrookModel

/// The client's side of a SCRAM exchange (RFC 5802, no channel binding): what Brook's own
/// client and CLI send to a server that requires authentication.
public struct ScramClientExchange: Sendable {
    public let mechanism: ScramMechanism
    private let user: String
    private let password: String
    private let nonce: String
    private var expectedServerSignature: [UInt8]?

    public init(mechanism: ScramMechanism, user: String, password: String, nonce: String? = nil) {
        self.mechanism = mechanism
        self.user = user
        self.password = password
        self.nonce = nonce ?? Data(ScramKeys.randomBytes(18)).base64EncodedString()
    }

    private var clientFirstBare: String {
        let escaped = user.replacingOccurrences(of: "=", with: "=3D").replacingOccurrences(of: ",", with: "=2C")
        return "n=\(escaped),r=\(nonce)"
    }

    /// The client-first message.
    public var clientFirst: [UInt8] { Array("n,,\(clientFirstBare)".utf8) }

    /// The client-final message answering the server-first one.
    public mutating func clientFinal(answering serverFirst: [UInt8]) throws(BrookError) -> [UInt8] {
        let text = String(decoding: serverFirst, as: UTF8.self)
        var fields: [String: String] = [:]
        for part in text.split(separator: ",") {
            guard let equals = part.firstIndex(of: "=") else { continue }
            fields[String(part[..<equals])] = String(part[part.index(after: equals)...])
        }
        guard let serverNonce = fields["r"], serverNonce.hasPrefix(nonce), serverNonce.count > nonce.count,
            let salt = fields["s"].flatMap({ Data(base64Encoded: $0) }).map(Array.init),
            let iterations = fields["i"].flatMap(Int.init),
            (ScramCredential.minIterations...ScramCredential.maxIterations).contains(iterations)
        else {
            throw BrookError(.saslAuthenticationFailed, "the server's SCRAM challenge is malformed or does not extend the client's nonce")
        }
        let salted = ScramKeys.saltedPassword(Array(password.utf8), salt: salt, iterations: iterations, mechanism)
        let clientKey = ScramKeys.hmac(salted, Array("Client Key".utf8), mechanism)
        let withoutProof = "c=biws,r=\(serverNonce)"
        let authMessage = Array("\(clientFirstBare),\(text),\(withoutProof)".utf8)
        let proof = ScramKeys.xor(clientKey, ScramKeys.hmac(ScramKeys.hash(clientKey, mechanism), authMessage, mechanism))
        expectedServerSignature = ScramKeys.hmac(ScramKeys.hmac(salted, Array("Server Key".utf8), mechanism), authMessage, mechanism)
        return Array("\(withoutProof),p=\(Data(proof).base64EncodedString())".utf8)
    }

    /// Checks the server-final message: the server proves it holds the user's verifier too.
    public func verify(serverFinal: [UInt8]) throws(BrookError) {
        let text = String(decoding: serverFinal, as: UTF8.self)
        guard text.hasPrefix("v="), let signature = Data(base64Encoded: String(text.dropFirst(2))).map(Array.init),
            let expected = expectedServerSignature, ScramKeys.constantTimeEqual(signature, expected)
        else {
            throw BrookError(.saslAuthenticationFailed, "the server's SCRAM signature is wrong: it does not hold this user's verifier")
        }
    }
}
