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
        let session: SaslSession
        do {
            session = try authentication.withLock { state throws(BrookError) -> SaslSession in
                guard state.principal == nil, let session = state.session else {
                    throw BrookError(.illegalSaslState, "SaslAuthenticate needs a SaslHandshake first (or the connection is authenticated already)")
                }
                state.session = nil
                return session
            }
        } catch {
            return authenticationFailed(error, correlationID: correlationID, version: version, responder: responder)
        }
        // PLAIN derives the salted password (PBKDF2, thousands of rounds): off the event loop,
        // which other connections share. The connection's next request waits for the answer.
        Task { [self] in
            do throws(BrookError) {
                var session = session
                let step = try session.receive(token)
                switch step {
                case .challenge(let bytes):
                    authentication.withLock { $0.session = session }
                    responder.succeed(.buffer(KafkaResponse.saslAuthenticate(
                        correlationID: correlationID, version: version, errorCode: KafkaErrorCode.none, message: nil, bytes: bytes)))
                case .authenticated(let user, let serverFinal):
                    authentication.withLock { $0.principal = user }
                    listener.logger.info("authenticated", metadata: ["peer": "\(peer)", "user": "\(user)", "protocol": "kafka"])
                    responder.succeed(.buffer(KafkaResponse.saslAuthenticate(
                        correlationID: correlationID, version: version, errorCode: KafkaErrorCode.none, message: nil, bytes: serverFinal)))
                }
            } catch {
                authenticationFailed(error, correlationID: correlationID, version: version, responder: responder)
            }
        }
    }

    /// A failure is answered after a delay (Kafka's `connection.failed.authentication.delay.ms`),
    /// then the connection closes: one guess per connection, at most ten a second each. The log
    /// never holds the SASL message.
    private func authenticationFailed(_ error: BrookError, correlationID: Int32, version: Int16, responder: RequestResponder) {
        authentication.withLock { $0 = KafkaAuthenticationState() }
        listener.logger.notice("authentication failed", metadata: ["peer": "\(peer)", "error": "\(error)", "protocol": "kafka"])
        responder.eventLoop.scheduleTask(in: .milliseconds(100)) {
            if version < 0 { return responder.succeed(.none, thenClose: true) }
            responder.succeed(
                .buffer(KafkaResponse.saslAuthenticate(
                    correlationID: correlationID, version: version, errorCode: KafkaErrorCode.code(for: error.code), message: error.message, bytes: [])),
                thenClose: true)
        }
    }
}
