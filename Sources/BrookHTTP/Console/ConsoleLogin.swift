import BrookAuth
import BrookBroker
import BrookModel
import Foundation
import Hummingbird
import Logging
import NIOCore

/// What every HTTP request carries through the router: the peer's address (an ACL rule may name
/// a host) and, once the login gate has seen the session cookie, the user.
struct HTTPRequestContext: RequestContext, RemoteAddressRequestContext {
    var coreContext: CoreRequestContextStorage
    let remoteAddress: SocketAddress?
    /// The logged-in user; nil on a server without login, or before the gate ran.
    var user: String?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}

/// Checks a user's password against the SCRAM verifiers SASL uses, as SASL PLAIN does: the same
/// key derivation for an unknown user as for a known one, off the caller's thread (PBKDF2 takes
/// thousands of rounds), and a failure answered only after ``failureDelay``.
struct PasswordCheck: Sendable {
    let users: UserDirectory
    /// Seeds the stand-in salt of unknown users, as the other listeners' secrets do.
    let secret = ScramServerExchange.makeSecret()

    /// Kafka's `connection.failed.authentication.delay.ms`, as the other listeners wait.
    static let failureDelay = Duration.milliseconds(100)

    /// The user whose password this is, or nil after ``failureDelay``.
    func user(_ name: String, password: String) async -> String? {
        let message = [0] + Array(name.utf8) + [0] + Array(password.utf8)
        let users = self.users
        let secret = self.secret
        let user = name.utf8.contains(0) ? nil : await Task.detached {
            try? PlainAuthentication.authenticate(message, secret: secret) { user, mechanism in
                users.credential(user: user, mechanism: mechanism)
            }
        }.value
        if user == nil { try? await Task.sleep(for: Self.failureDelay) }
        return user
    }
}

/// The console's door under `--auth`: a request without a live session is sent to `/login`,
/// and a POST from another origin is refused (cross-site request forgery).
///
/// The session cookie is `SameSite=Strict`, so a browser does not send it with a request another
/// site starts; a POST must also name this server in `Origin` (or, lacking it, `Referer`). Without
/// a login, a POST naming another origin is still refused, and one naming none is let through
/// (curl, scripts).
struct LoginGate: RouterMiddleware {
    typealias Context = HTTPRequestContext

    /// nil: the server has no login, and every request passes.
    let sessions: ConsoleSessions?
    let users: UserDirectory

    static let cookieName = "brook_session"
    /// Paths served to anyone: probes, the login page, the stylesheet and script. `/metrics`
    /// checks its own credentials (HTTP Basic, as scrapers send them).
    static let openPaths: Set<String> = ["/livez", "/readyz", "/login", "/console.css", "/console.js", "/metrics"]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if request.method == .post, let refusal = Self.crossOriginRefusal(request, originRequired: sessions != nil) {
            return HealthRoutes.answer(.forbidden, refusal)
        }
        guard let sessions, !Self.openPaths.contains(request.uri.path) else {
            return try await next(request, context)
        }
        guard let user = Self.user(request, sessions: sessions, users: users) else {
            let next = request.method == .get ? request.uri.path + (request.uri.query.map { "?" + $0 } ?? "") : "/"
            return Response(status: .seeOther, headers: [.location: "/login?next=" + HTTPFormText.encoded(next)])
        }
        var context = context
        context.user = user
        return try await next(request, context)
    }

    /// The session's user, if the request carries a live session of a user who still exists.
    static func user(_ request: Request, sessions: ConsoleSessions, users: UserDirectory) -> String? {
        guard let token = request.cookies[cookieName]?.value, let user = sessions.user(for: token) else { return nil }
        guard ScramMechanism.allCases.contains(where: { users.credential(user: user, mechanism: $0) != nil }) else {
            // Deleted since the login: the session ends with the user.
            sessions.end(token)
            return nil
        }
        return user
    }

    /// Why a POST is refused as cross-site, or nil to let it through.
    static func crossOriginRefusal(_ request: Request, originRequired: Bool) -> String? {
        guard let host = request.head.authority else {
            return "the request has no Host header; the console needs it to check where a form was posted from"
        }
        let sender = request.headers[.origin] ?? request.headers[.referer].flatMap(Self.origin(ofReferer:))
        guard let sender else {
            return originRequired
                ? "a form was posted without Origin or Referer, so the console cannot tell that it came from its own pages; post from the console in a browser"
                : nil
        }
        guard let url = URL(string: sender), let senderHost = url.host else {
            return "a form was posted from '\(sender.prefix(100))', which is not an origin; post from the console's own pages"
        }
        let senderAuthority = senderHost.contains(":") ? "[\(senderHost)]" : senderHost
        let expected = url.port.map { "\(senderAuthority):\($0)" } ?? senderAuthority
        guard expected.lowercased() == host.lowercased() else {
            return "a form was posted from \(sender.prefix(100)), another site than this console (\(host)); cross-site forms are refused"
        }
        return nil
    }

    /// `scheme://host[:port]` of a Referer URL.
    private static func origin(ofReferer referer: String) -> String? {
        guard let url = URL(string: referer), let scheme = url.scheme, let host = url.host else { return nil }
        let authority = host.contains(":") ? "[\(host)]" : host
        return "\(scheme)://\(authority)" + (url.port.map { ":\($0)" } ?? "")
    }
}

/// `/login` and `/logout`: a session for a user of the file, with the password checked as SASL
/// PLAIN checks it.
struct LoginRoutes: Sendable {
    let sessions: ConsoleSessions?
    let passwords: PasswordCheck
    /// Served over TLS: the cookie is `Secure`.
    let secure: Bool
    let logger: Logger

    func add(to router: Router<HTTPRequestContext>, pages: ConsoleRoutes) {
        router.get("/login") { request, _ in
            guard sessions != nil else { return Self.redirect("/") }
            let next = Self.safeNext(HTTPFormText.decode(request.uri.query ?? "")["next"])
            return try pages.render("login", ["title": "Log in", "next": next], user: nil)
        }
        router.post("/login") { request, context in
            guard let sessions else { return Self.redirect("/") }
            let form = try await ConsoleRoutes.form(request)
            let name = form["user"] ?? ""
            let next = Self.safeNext(form["next"])
            let peer = context.remoteAddress.map { "\($0)" } ?? "?"
            guard let user = await passwords.user(name, password: form["password"] ?? "") else {
                logger.notice("console login failed", metadata: ["peer": "\(peer)", "user": "\(name.prefix(255))"])
                return try pages.render(
                    "login", ["title": "Log in", "next": next, "name": name, "failed": true], user: nil, status: .unauthorized)
            }
            logger.info("console login", metadata: ["user": "\(user)", "peer": "\(peer)"])
            var response = Self.redirect(next)
            response.setCookie(Cookie(
                name: LoginGate.cookieName, value: sessions.start(user: user), path: "/", secure: secure, httpOnly: true,
                sameSite: .strict))
            return response
        }
        router.post("/logout") { request, _ in
            if let token = request.cookies[LoginGate.cookieName]?.value { sessions?.end(token) }
            var response = Self.redirect(sessions == nil ? "/" : "/login")
            response.setCookie(Cookie(
                name: LoginGate.cookieName, value: "", maxAge: 0, path: "/", secure: secure, httpOnly: true, sameSite: .strict))
            return response
        }
    }

    /// Where to go after the login: a path on this server only, never another site.
    static func safeNext(_ next: String?) -> String {
        guard let next, next.hasPrefix("/"), !next.hasPrefix("//"), !next.hasPrefix("/\\"), !next.contains(where: \.isNewline) else {
            return "/"
        }
        return next
    }

    static func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location])
    }
}

/// `/metrics` under a login: HTTP Basic credentials (what Prometheus sends with `basic_auth`), or
/// the console's session, of a user allowed DESCRIBE on the cluster, since the series name every
/// topic and group.
struct MetricsGate: Sendable {
    let sessions: ConsoleSessions
    let passwords: PasswordCheck
    let access: AccessControl

    /// nil to serve the metrics, or the answer that refuses them.
    func refusal(_ request: Request, context: HTTPRequestContext) async -> Response? {
        let user: String
        if let authorization = request.headers[.authorization] {
            guard let (name, password) = Self.basicCredentials(authorization),
                let known = await passwords.user(name, password: password)
            else {
                return Self.unauthorized("the credentials are not a known user and password: send a user allowed DESCRIBE on the cluster")
            }
            user = known
        } else if let known = LoginGate.user(request, sessions: sessions, users: passwords.users) {
            user = known
        } else {
            return Self.unauthorized("/metrics needs credentials under --auth: HTTP Basic with a user allowed DESCRIBE on the cluster (Prometheus: basic_auth)")
        }
        let who = Access(control: access, user: user, host: context.remoteAddress?.ipAddress ?? "")
        guard who.allows(.describe, .cluster) else {
            return HealthRoutes.answer(.forbidden, who.refusal(.describe, .cluster).message)
        }
        return nil
    }

    /// `Basic base64(user:password)`; the password may hold ':'.
    static func basicCredentials(_ header: String) -> (String, String)? {
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "basic",
            let decoded = Data(base64Encoded: String(parts[1]).trimmingCharacters(in: .whitespaces)),
            let text = String(data: decoded, encoding: .utf8), let colon = text.firstIndex(of: ":")
        else { return nil }
        return (String(text[..<colon]), String(text[text.index(after: colon)...]))
    }

    static func unauthorized(_ text: String) -> Response {
        var response = HealthRoutes.answer(.unauthorized, text)
        response.headers[.wwwAuthenticate] = #"Basic realm="brook", charset="UTF-8""#
        return response
    }
}
