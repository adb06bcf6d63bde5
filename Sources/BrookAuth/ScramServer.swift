#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import BrookModel

/// Finds a user's verifier for a mechanism; nil when the user does not exist or has none.
public typealias CredentialLookup = @Sendable (_ user: String, _ mechanism: ScramMechanism) -> ScramCredential?

/// The server's side of one SCRAM exchange (RFC 5802, without channel binding), as Kafka's
/// SaslAuthenticate and the line protocol's AUTH carry it: client-first → server-first,
/// client-final → server-final.
///
/// An unknown user gets a salt and keys derived from a per-server secret, so the exchange looks
/// and costs the same as a known user's until the proof fails; the failure never says which.
public struct ScramServerExchange: Sendable {
    public enum Step: Sendable, Equatable {
        /// Send this server-first message and wait for the client-final one.
        case challenge([UInt8])
        /// Authenticated: send this server-final message; `user` is the principal's name.
        case authenticated(user: String, serverFinal: [UInt8])
    }

    private enum State: Sendable {
        case awaitingClientFirst
        case awaitingClientFinal(user: String, known: Bool, credential: ScramCredential, clientFirstBare: String, serverFirst: String, nonce: String, gs2Header: String)
        case done
    }

    public let mechanism: ScramMechanism
    private let lookup: CredentialLookup
    private let secret: [UInt8]
    private var state = State.awaitingClientFirst
    /// The server's part of the nonce; random unless a test fixes it to replay a published exchange.
    var serverNonce: String? = nil

    /// - Parameter secret: random bytes kept for the server's lifetime, from which unknown users'
    ///   stand-in salts and keys are derived (the same name gets the same salt each time).
    public init(mechanism: ScramMechanism, secret: [UInt8], lookup: @escaping CredentialLookup) {
        self.mechanism = mechanism
        self.secret = secret
        self.lookup = lookup
    }

    /// A fresh per-server secret for ``init(mechanism:secret:lookup:)``.
    public static func makeSecret() -> [UInt8] { ScramKeys.randomBytes(32) }

    /// Takes the client's next message. Throws `SASL_AUTHENTICATION_FAILED` for a malformed
    /// message, an unknown user or a wrong password, without saying which of the last two.
    public mutating func receive(_ message: [UInt8]) throws(BrookError) -> Step {
        switch state {
        case .awaitingClientFirst:
            return try clientFirst(message)
        case let .awaitingClientFinal(user, known, credential, clientFirstBare, serverFirst, nonce, gs2Header):
            state = .done
            return try clientFinal(message, user: user, known: known, credential: credential, clientFirstBare: clientFirstBare, serverFirst: serverFirst, nonce: nonce, gs2Header: gs2Header)
        case .done:
            throw Self.failure("the SCRAM exchange is already over: start a new authentication")
        }
    }

    private mutating func clientFirst(_ message: [UInt8]) throws(BrookError) -> Step {
        guard let text = String(validating: message, as: UTF8.self) else {
            throw Self.failure("the SCRAM client-first message is not UTF-8")
        }
        // gs2-header: "n," (no channel binding) or "y," (client could but server does not), then
        // an optional "a=authzid", then ",".
        let parts = text.split(separator: ",", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "n" || parts[0] == "y" else {
            throw Self.failure(parts.first?.hasPrefix("p=") == true
                ? "SCRAM channel binding (\(parts[0])) is not supported: use SCRAM without -PLUS"
                : "the SCRAM client-first message does not start with a GS2 header such as 'n,,'")
        }
        let gs2Header = "\(parts[0]),\(parts[1]),"
        let clientFirstBare = String(parts[2])
        let attributes = Self.attributes(clientFirstBare)
        guard let escapedUser = attributes.first(where: { $0.key == "n" })?.value,
            let clientNonce = attributes.first(where: { $0.key == "r" })?.value, !clientNonce.isEmpty,
            let user = Self.unescape(escapedUser), !user.isEmpty
        else {
            throw Self.failure("the SCRAM client-first message lacks n=user or r=nonce")
        }
        if parts[1].hasPrefix("a="), let authzid = Self.unescape(String(parts[1].dropFirst(2))), authzid != user {
            throw Self.failure("SCRAM authorization identity '\(authzid)' differs from the user '\(user)': Brook authenticates as the user only")
        }
        if attributes.contains(where: { $0.key == "tokenauth" && $0.value == "true" }) {
            throw Self.failure("delegation tokens (tokenauth=true) are not supported: authenticate as a user")
        }
        let found = lookup(user, mechanism)
        let credential = found ?? standIn(for: user)
        let nonce = clientNonce + (serverNonce ?? Data(ScramKeys.randomBytes(18)).base64EncodedString())
        let serverFirst = "r=\(nonce),s=\(Data(credential.salt).base64EncodedString()),i=\(credential.iterations)"
        state = .awaitingClientFinal(user: user, known: found != nil, credential: credential, clientFirstBare: clientFirstBare, serverFirst: serverFirst, nonce: nonce, gs2Header: gs2Header)
        return .challenge(Array(serverFirst.utf8))
    }

    private func clientFinal(
        _ message: [UInt8], user: String, known: Bool, credential: ScramCredential,
        clientFirstBare: String, serverFirst: String, nonce: String, gs2Header: String
    ) throws(BrookError) -> Step {
        guard let text = String(validating: message, as: UTF8.self), let proofStart = text.range(of: ",p=") else {
            throw Self.failure("the SCRAM client-final message lacks p=proof")
        }
        let withoutProof = String(text[..<proofStart.lowerBound])
        let attributes = Self.attributes(withoutProof)
        guard attributes.first(where: { $0.key == "c" })?.value == Data(gs2Header.utf8).base64EncodedString() else {
            throw Self.failure("the SCRAM client-final message's channel binding (c=) does not match its client-first header")
        }
        // Kafka's broker checks that the nonce ends with the one it sent, since librdkafka (2.0)
        // puts its own nonce in front of the server's combined one; Brook takes the same.
        guard let finalNonce = attributes.first(where: { $0.key == "r" })?.value, finalNonce.hasSuffix(nonce) else {
            throw Self.failure("the SCRAM client-final message's nonce is not the one the server sent")
        }
        guard let proof = Data(base64Encoded: String(text[proofStart.upperBound...])).map(Array.init),
            proof.count == mechanism.keyByteCount
        else {
            throw Self.failure("the SCRAM proof is not \(mechanism.keyByteCount) bytes of base64")
        }
        let authMessage = Array("\(clientFirstBare),\(serverFirst),\(withoutProof)".utf8)
        let clientSignature = ScramKeys.hmac(credential.storedKey, authMessage, mechanism)
        let clientKey = ScramKeys.xor(proof, clientSignature)
        let proofHolds = ScramKeys.constantTimeEqual(ScramKeys.hash(clientKey, mechanism), credential.storedKey)
        guard proofHolds, known else {
            throw Self.failure("authentication of user '\(user)' with \(mechanism.rawValue) failed: unknown user or wrong password")
        }
        let serverSignature = ScramKeys.hmac(credential.serverKey, authMessage, mechanism)
        return .authenticated(user: user, serverFinal: Array("v=\(Data(serverSignature).base64EncodedString())".utf8))
    }

    /// A credential for a user who does not exist: stable per name, so that probing cannot tell
    /// known names from unknown ones by their salt, and costing the same to check.
    private func standIn(for user: String) -> ScramCredential {
        let seed = ScramKeys.hmac(secret, Array("stand-in \(mechanism.rawValue) \(user)".utf8), .sha512)
        return ScramCredential(
            mechanism: mechanism, salt: Array(seed[0..<24]), iterations: ScramCredential.minIterations,
            storedKey: ScramKeys.hash(Array(seed[24..<48]), mechanism),
            serverKey: ScramKeys.hmac(Array(seed[48..<64]), Array("Server Key".utf8), mechanism))
    }

    /// "k=v,k=v" into pairs, in order; a value may itself hold '='.
    private static func attributes(_ text: String) -> [(key: String, value: String)] {
        text.split(separator: ",", omittingEmptySubsequences: true).compactMap { (part: Substring) -> (key: String, value: String)? in
            guard let equals = part.firstIndex(of: "=") else { return nil }
            return (key: String(part[..<equals]), value: String(part[part.index(after: equals)...]))
        }
    }

    /// RFC 5802's saslname: "=2C" is ',' and "=3D" is '='; any other '=' is malformed.
    static func unescape(_ name: String) -> String? {
        guard name.contains("=") else { return name }
        var result = ""
        var rest = Substring(name)
        while let equals = rest.firstIndex(of: "=") {
            result += rest[..<equals]
            let code = rest[rest.index(after: equals)...].prefix(2)
            switch code {
            case "2C": result += ","
            case "3D": result += "="
            default: return nil
            }
            rest = rest[rest.index(equals, offsetBy: 3)...]
        }
        return result + rest
    }

    static func failure(_ message: String) -> BrookError {
        BrookError(.saslAuthenticationFailed, message)
    }
}

/// SASL PLAIN (RFC 4616): "authzid NUL user NUL password", checked against the user's SCRAM
/// verifier by the same derivation a SCRAM client makes.
public enum PlainAuthentication {
    /// The authenticated user's name. Throws `SASL_AUTHENTICATION_FAILED` for a malformed message,
    /// an unknown user or a wrong password, without saying which of the last two; an unknown user
    /// costs the same derivation as a known one.
    public static func authenticate(_ message: [UInt8], secret: [UInt8], lookup: CredentialLookup) throws(BrookError) -> String {
        let fields = message.split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false)
        guard fields.count == 3, let authzid = String(validating: fields[0], as: UTF8.self),
            let user = String(validating: fields[1], as: UTF8.self), !user.isEmpty,
            let password = String(validating: fields[2], as: UTF8.self)
        else {
            throw ScramServerExchange.failure("the PLAIN message is not 'authzid NUL user NUL password' in UTF-8")
        }
        if !authzid.isEmpty && authzid != user {
            throw ScramServerExchange.failure("PLAIN authorization identity '\(authzid)' differs from the user '\(user)': Brook authenticates as the user only")
        }
        let found = lookup(user, .sha256) ?? lookup(user, .sha512)
        let credential = found ?? ScramCredential(
            mechanism: .sha256,
            salt: Array(ScramKeys.hmac(secret, Array("stand-in plain \(user)".utf8), .sha256)[0..<24]),
            iterations: ScramCredential.minIterations, storedKey: [UInt8](repeating: 0, count: 32), serverKey: [])
        guard credential.matches(password: password), found != nil else {
            throw ScramServerExchange.failure("authentication of user '\(user)' with PLAIN failed: unknown user or wrong password")
        }
        return user
    }
}
