import BrookModel

/// One connection's SASL authentication, whatever carries its messages (Kafka's SaslAuthenticate,
/// the line protocol's AUTH): the mechanism chosen, and SCRAM's state between its two rounds.
public struct SaslSession: Sendable {
    /// The mechanisms a server offers: SCRAM always, PLAIN only where the password cannot be
    /// overheard (loopback or TLS).
    public static func mechanisms(plainAllowed: Bool) -> [String] {
        ScramMechanism.allCases.map(\.rawValue) + (plainAllowed ? ["PLAIN"] : [])
    }

    private enum Mechanism: Sendable {
        case plain
        case scram(ScramServerExchange)
    }

    private var mechanism: Mechanism
    private let secret: [UInt8]
    private let lookup: CredentialLookup

    /// Throws `UNSUPPORTED_SASL_MECHANISM` for a mechanism ``mechanisms(plainAllowed:)`` does not offer.
    public init(mechanism name: String, plainAllowed: Bool, secret: [UInt8], lookup: @escaping CredentialLookup) throws(BrookError) {
        let offered = Self.mechanisms(plainAllowed: plainAllowed)
        guard offered.contains(name) else {
            throw BrookError(
                .unsupportedSaslMechanism,
                name == "PLAIN"
                    ? "PLAIN sends the password itself and is taken only over TLS or loopback: use SCRAM-SHA-256 or SCRAM-SHA-512"
                    : "SASL mechanism '\(name.prefix(32))' is not offered: use one of \(offered.joined(separator: ", "))")
        }
        self.secret = secret
        self.lookup = lookup
        if let scram = ScramMechanism(rawValue: name) {
            mechanism = .scram(ScramServerExchange(mechanism: scram, secret: secret, lookup: lookup))
        } else {
            mechanism = .plain
        }
    }

    /// Takes the client's next message: a challenge to send back, or the authenticated user.
    /// Throws `SASL_AUTHENTICATION_FAILED` as ``ScramServerExchange`` and ``PlainAuthentication`` do.
    public mutating func receive(_ message: [UInt8]) throws(BrookError) -> ScramServerExchange.Step {
        switch mechanism {
        case .plain:
            return .authenticated(user: try PlainAuthentication.authenticate(message, secret: secret, lookup: lookup), serverFinal: [])
        case .scram(var exchange):
            let step = try exchange.receive(message)
            mechanism = .scram(exchange)
            return step
        }
    }
}
