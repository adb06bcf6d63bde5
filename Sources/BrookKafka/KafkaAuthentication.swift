import BrookAuth
import BrookFrontEnd
import BrookModel
import NIOCore

/// Where one Kafka connection is in SASL: SaslHandshake picks a mechanism, SaslAuthenticate
/// (or, after a v0 handshake, bare tokens) carries its exchange.
struct KafkaAuthenticationState: Sendable {
    /// From a successful SaslHandshake until authentication ends.
    var session: SaslSession?
    var principal: String?
}

extension KafkaConnection {
    /// What is refused before authentication, or nil when `header` may run now: before a
    /// successful SaslAuthenticate only ApiVersions and the SASL requests may, as in Kafka.
    func refusalBeforeAuthentication(_ header: KafkaRequestHeader) -> String? {
        guard listener.configuration.requireAuthentication else { return nil }
        if authentication.withLock({ $0.principal != nil }) { return nil }
        switch KafkaAPI(rawValue: header.apiKey) {
        case .apiVersions, .saslHandshake, .saslAuthenticate: return nil
        case let api: return api.map { "\($0.name) v\(header.apiVersion)" } ?? "API key \(header.apiKey)"
        }
    }

    private var plainAllowed: Bool { isLoopback || listener.configuration.tls != nil }

    func handshake(_ mechanism: String, correlationID: Int32, responder: RequestResponder) {
        let requireAuthentication = listener.configuration.requireAuthentication
        let offered = requireAuthentication ? SaslSession.mechanisms(plainAllowed: plainAllowed) : []
        let users = listener.broker.users
        let code = authentication.withLock { state -> Int16 in
            guard requireAuthentication, state.principal == nil, state.session == nil else { return KafkaErrorCode.illegalSaslState }
            do {
                state.session = try SaslSession(
                    mechanism: mechanism, plainAllowed: plainAllowed, secret: listener.authSecret,
                    lookup: { user, mechanism in users.credential(user: user, mechanism: mechanism) })
                return KafkaErrorCode.none
            } catch {
                return KafkaErrorCode.code(for: error)
            }
        }
        if code != KafkaErrorCode.none {
            listener.logger.notice("refused a SASL handshake", metadata: [
                "peer": "\(peer)", "mechanism": "\(mechanism)", "offered": "\(offered.joined(separator: ","))",
            ])
        }
        // A refused handshake is answered, then the connection closes, as Kafka's does.
        responder.succeed(
            .buffer(KafkaResponse.saslHandshake(correlationID: correlationID, errorCode: code, mechanisms: offered)),
            thenClose: code != KafkaErrorCode.none)
    }

    /// One SASL token. A failure is answered with SASL_AUTHENTICATION_FAILED and its reason
    /// (unknown user and wrong password read the same), then the connection closes; after a v0
    /// handshake there is no field for the reason, so the connection just closes.
    func authenticate(_ token: [UInt8], correlationID: Int32, version: Int16, responder: RequestResponder) {
        do {
            let step = try authentication.withLock { state throws(BrookError) -> ScramServerExchange.Step in
                guard state.principal == nil, var session = state.session else {
                    throw BrookError(.illegalSaslState, "SaslAuthenticate needs a SaslHandshake first (or the connection is authenticated already)")
                }
                let step = try session.receive(token)
                state.session = session
                if case .authenticated(let user, _) = step {
                    state.principal = user
                    state.session = nil
                }
                return step
            }
            switch step {
            case .challenge(let bytes):
                responder.succeed(.buffer(KafkaResponse.saslAuthenticate(
                    correlationID: correlationID, version: version, errorCode: KafkaErrorCode.none, message: nil, bytes: bytes)))
            case .authenticated(let user, let serverFinal):
                listener.logger.info("authenticated", metadata: ["peer": "\(peer)", "user": "\(user)", "protocol": "kafka"])
                responder.succeed(.buffer(KafkaResponse.saslAuthenticate(
                    correlationID: correlationID, version: version, errorCode: KafkaErrorCode.none, message: nil, bytes: serverFinal)))
            }
        } catch {
            authentication.withLock { $0 = KafkaAuthenticationState() }
            listener.logger.notice("authentication failed", metadata: ["peer": "\(peer)", "error": "\(error)", "protocol": "kafka"])
            if version < 0 { return responder.succeed(.none, thenClose: true) }
            responder.succeed(
                .buffer(KafkaResponse.saslAuthenticate(
                    correlationID: correlationID, version: version, errorCode: KafkaErrorCode.code(for: error.code), message: error.message, bytes: [])),
                thenClose: true)
        }
    }
}
