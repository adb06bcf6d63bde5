import BrookAuth
import BrookBroker
import BrookHTTP
import BrookModel
import BrookTestSupport
import Foundation
import Synchronization
import Testing

/// A clock a test moves by hand.
final class ManualInstant: Sendable {
    private let offset = Mutex<Duration>(.zero)
    private let start = ContinuousClock.now

    var now: ContinuousClock.Instant { start + offset.withLock { $0 } }

    func advance(_ duration: Duration) { offset.withLock { $0 += duration } }
}

@Suite struct ConsoleSessionTests {
    @Test func aSessionLastsWhileUsedAndEndsWhenIdle() {
        let clock = ManualInstant()
        let sessions = ConsoleSessions(idleTimeout: .seconds(60), now: { clock.now })
        let token = sessions.start(user: "dave")
        #expect(token.count == 64)
        #expect(token.allSatisfy { $0.isHexDigit })
        #expect(sessions.start(user: "dave") != token)
        clock.advance(.seconds(59))
        #expect(sessions.user(for: token) == "dave")
        // That use kept it alive for another minute.
        clock.advance(.seconds(59))
        #expect(sessions.user(for: token) == "dave")
        clock.advance(.seconds(60))
        #expect(sessions.user(for: token) == nil)
        #expect(sessions.user(for: "not-a-token") == nil)
    }

    @Test func logoutEndsOnlyThatSession() {
        let sessions = ConsoleSessions()
        let mine = sessions.start(user: "dave")
        let other = sessions.start(user: "alice")
        sessions.end(mine)
        #expect(sessions.user(for: mine) == nil)
        #expect(sessions.user(for: other) == "alice")
    }

    @Test func pastTheLimitTheLeastRecentlyUsedSessionEnds() {
        let clock = ManualInstant()
        let sessions = ConsoleSessions(maxSessions: 2, now: { clock.now })
        let first = sessions.start(user: "a")
        clock.advance(.seconds(1))
        let second = sessions.start(user: "b")
        clock.advance(.seconds(1))
        _ = sessions.user(for: first)
        clock.advance(.seconds(1))
        let third = sessions.start(user: "c")
        #expect(sessions.count == 2)
        #expect(sessions.user(for: second) == nil)
        #expect(sessions.user(for: first) == "a")
        #expect(sessions.user(for: third) == "c")
    }
}

/// A broker that enforces ACLs, with a super user `alice` and a user `dave` allowed READ and
/// WRITE on topic `a` only; topics `a` and `b` hold a record each.
private func brokerWithUsers(_ label: String) async throws -> TestBroker {
    let test = try TestBroker(label) { $0.enforceACLs = true }
    for (name, isSuper) in [("alice", true), ("dave", false)] {
        let credentials = try ScramCredential.makeAll(password: "\(name)-secret")
        try await test.broker.addUser(BrookUser(name: name, isSuper: isSuper, credentials: credentials, createdMs: 0, updatedMs: 0))
    }
    try await test.broker.createAcls([
        AclBinding(principal: "User:dave", resourceType: .topic, resourceName: "a", operation: .read),
        AclBinding(principal: "User:dave", resourceType: .topic, resourceName: "a", operation: .write),
    ])
    for topic in ["a", "b"] {
        _ = try await test.broker.createTopic(topic)
        try await test.broker.produce(topic: topic, records: [ProducerRecord(key: "k", value: "in-\(topic)")])
    }
    return test
}

/// Logs in through the form and returns the session cookie (`brook_session=…`).
private func logIn(_ user: String, password: String, port: Int) async throws -> String {
    let answer = try await HTTPExchange.send(
        "/login", method: "POST", port: port, form: [("user", user), ("password", password), ("next", "/")],
        headers: [("Origin", "http://127.0.0.1:\(port)")])
    #expect(answer.status == 303)
    let cookie = try #require(answer.headers["set-cookie"])
    return String(cookie.prefix { $0 != ";" })
}

@Suite struct ConsoleLoginTests {
    @Test func aPageWithoutASessionSendsToTheLoginAndAWrongPasswordIsRefused() async throws {
        let test = try await brokerWithUsers("http-login")
        let http = try await startHTTP(test.broker) { $0.requireLogin = true }
        defer { Task { await test.stop(serving: http.task) } }
        let origin = ("Origin", "http://127.0.0.1:\(http.port)")

        let anonymous = try await HTTPExchange.send("/topics/a?where=1", port: http.port)
        #expect(anonymous.status == 303)
        #expect(anonymous.headers["location"] == "/login?next=%2Ftopics%2Fa%3Fwhere%3D1")
        let page = try await HTTPExchange.send("/login?next=%2Ftopics%2Fa", port: http.port)
        #expect(page.status == 200)
        #expect(page.body.contains(#"<input type="hidden" name="next" value="/topics/a">"#))

        let wrong = try await HTTPExchange.send(
            "/login", method: "POST", port: http.port, form: [("user", "dave"), ("password", "guess")], headers: [origin])
        #expect(wrong.status == 401)
        #expect(wrong.headers["set-cookie"] == nil)
        #expect(wrong.body.contains("Unknown user or wrong password"))
        let unknown = try await HTTPExchange.send(
            "/login", method: "POST", port: http.port, form: [("user", "mallory"), ("password", "guess")], headers: [origin])
        #expect(unknown.status == 401)
        #expect(unknown.body.contains("Unknown user or wrong password"))

        let right = try await HTTPExchange.send(
            "/login", method: "POST", port: http.port, form: [("user", "dave"), ("password", "dave-secret"), ("next", "/topics/a")],
            headers: [origin])
        #expect(right.status == 303)
        #expect(right.headers["location"] == "/topics/a")
        let cookie = try #require(right.headers["set-cookie"])
        #expect(cookie.hasPrefix("brook_session="))
        #expect(cookie.contains("HttpOnly"))
        #expect(cookie.contains("SameSite=Strict"))
        #expect(!cookie.contains("Secure"))
        let session = String(cookie.prefix { $0 != ";" })

        let overview = try await HTTPExchange.send("/", port: http.port, headers: [("Cookie", session)])
        #expect(overview.status == 200)
        #expect(overview.body.contains(#"<span id="user">dave</span>"#))

        let logout = try await HTTPExchange.send("/logout", method: "POST", port: http.port, headers: [("Cookie", session), origin])
        #expect(logout.status == 303)
        #expect(try await HTTPExchange.send("/", port: http.port, headers: [("Cookie", session)]).status == 303)
    }

    @Test func aLoginGoesOnlyToAPathOfThisServer() async throws {
        let test = try await brokerWithUsers("http-login-next")
        let http = try await startHTTP(test.broker) { $0.requireLogin = true }
        defer { Task { await test.stop(serving: http.task) } }
        for next in ["https://elsewhere.example/", "//elsewhere.example/x", "/\\elsewhere.example"] {
            let answer = try await HTTPExchange.send(
                "/login", method: "POST", port: http.port, form: [("user", "dave"), ("password", "dave-secret"), ("next", next)],
                headers: [("Origin", "http://127.0.0.1:\(http.port)")])
            #expect(answer.headers["location"] == "/", "\(next)")
        }
    }

    @Test func pagesShowAndDoOnlyWhatTheUsersACLsAllow() async throws {
        let test = try await brokerWithUsers("http-login-acls")
        let http = try await startHTTP(test.broker) { $0.requireLogin = true }
        defer { Task { await test.stop(serving: http.task) } }
        let origin = ("Origin", "http://127.0.0.1:\(http.port)")
        let dave = ("Cookie", try await logIn("dave", password: "dave-secret", port: http.port))

        let overview = try await HTTPExchange.send("/", port: http.port, headers: [dave])
        #expect(overview.body.contains(#"<a href="/topics/a">a</a>"#))
        #expect(!overview.body.contains(#"<a href="/topics/b">b</a>"#))
        #expect(!overview.body.contains("create-topic"))

        let a = try await HTTPExchange.send("/topics/a", port: http.port, headers: [dave])
        #expect(a.status == 200)
        #expect(a.body.contains("in-a"))
        #expect(a.body.contains(#"id="produce""#))
        #expect(!a.body.contains(#"id="delete-topic""#))
        #expect(a.body.contains("may not DESCRIBE_CONFIGS topic &#39;a&#39;"))

        let b = try await HTTPExchange.send("/topics/b", port: http.port, headers: [dave])
        #expect(b.status == 403)
        #expect(!b.body.contains("in-b"))
        #expect(b.body.contains("may not DESCRIBE topic"))
        #expect(b.body.contains("brook acls add --allow User:dave --operation describe --topic b"))

        let produced = try await HTTPExchange.send(
            "/topics/a/produce", method: "POST", port: http.port, form: [("value", "from-dave")], headers: [dave, origin])
        #expect(produced.status == 303)
        let refused = try await HTTPExchange.send(
            "/topics/b/produce", method: "POST", port: http.port, form: [("value", "from-dave")], headers: [dave, origin])
        #expect(refused.status == 403)
        #expect(refused.body.contains("--operation write --topic b"))
        #expect(try await test.broker.fetch(topic: "b", partition: 0, offset: 0).records.count == 1)
        #expect(try await HTTPExchange.send("/topics/a/delete", method: "POST", port: http.port, headers: [dave, origin]).status == 403)
        #expect(try await HTTPExchange.send(
            "/topics", method: "POST", port: http.port, form: [("name", "c")], headers: [dave, origin]).status == 403)
        #expect(try test.broker.listTopics().map(\.name).sorted() == ["a", "b"])

        // dave's SQL filter reads topic a, and only a.
        let filtered = try await HTTPExchange.send("/topics/a?where=key+%3D+%27k%27", port: http.port, headers: [dave])
        #expect(filtered.body.contains("in-a"))
        let prying = try await HTTPExchange.send(
            "/topics/a?where=" + HTTPExchange.formEncoded(#"key IN (SELECT key FROM "b")"#), port: http.port, headers: [dave])
        #expect(!prying.body.contains("in-a"))
        #expect(!prying.body.contains("in-b"))
        #expect(prying.body.contains("may read only topic &#39;a&#39;, and it reads &#39;b&#39;"))
        #expect(prying.body.contains("brook acls add --allow User:dave --operation cluster-action --cluster"))

        let alice = ("Cookie", try await logIn("alice", password: "alice-secret", port: http.port))
        let all = try await HTTPExchange.send("/", port: http.port, headers: [alice])
        #expect(all.body.contains(#"<a href="/topics/a">a</a>"#))
        #expect(all.body.contains(#"<a href="/topics/b">b</a>"#))
        let aliceFilter = try await HTTPExchange.send(
            "/topics/b?where=" + HTTPExchange.formEncoded(#"key IN (SELECT key FROM "a")"#), port: http.port, headers: [alice])
        #expect(aliceFilter.body.contains("in-b"))
        #expect(try await HTTPExchange.send("/topics/b/delete", method: "POST", port: http.port, headers: [alice, origin]).status == 303)
    }

    @Test func groupPagesNeedDescribeOnTheGroupAndResetsNeedRead() async throws {
        let test = try await brokerWithUsers("http-login-groups")
        try await test.broker.commitOffsets(group: "readers", [OffsetCommit(topic: "a", partition: 0, offset: 0)])
        try await test.broker.commitOffsets(group: "others", [OffsetCommit(topic: "a", partition: 0, offset: 0)])
        try await test.broker.createAcls([
            AclBinding(principal: "User:dave", resourceType: .group, resourceName: "readers", operation: .describe),
        ])
        let http = try await startHTTP(test.broker) { $0.requireLogin = true }
        defer { Task { await test.stop(serving: http.task) } }
        let origin = ("Origin", "http://127.0.0.1:\(http.port)")
        let dave = ("Cookie", try await logIn("dave", password: "dave-secret", port: http.port))

        let groups = try await HTTPExchange.send("/groups", port: http.port, headers: [dave])
        #expect(groups.body.contains(#"href="/groups/readers""#))
        #expect(!groups.body.contains(#"href="/groups/others""#))
        #expect(try await HTTPExchange.send("/groups/others", port: http.port, headers: [dave]).status == 403)
        let readers = try await HTTPExchange.send("/groups/readers", port: http.port, headers: [dave])
        #expect(readers.status == 200)
        #expect(!readers.body.contains(#"id="reset""#))
        let reset = try await HTTPExchange.send(
            "/groups/readers/reset", method: "POST", port: http.port, form: [("topic", "a"), ("target", "latest")], headers: [dave, origin])
        #expect(reset.status == 403)
        #expect(reset.body.contains("--operation read --group readers"))

        try await test.broker.createAcls([AclBinding(principal: "User:dave", resourceType: .group, resourceName: "readers", operation: .read)])
        #expect(try await HTTPExchange.send("/groups/readers", port: http.port, headers: [dave]).body.contains(#"id="reset""#))
        let allowed = try await HTTPExchange.send(
            "/groups/readers/reset", method: "POST", port: http.port, form: [("topic", "a"), ("target", "latest")], headers: [dave, origin])
        #expect(allowed.status == 303)
    }

    @Test func aFormPostedFromAnotherSiteIsRefused() async throws {
        let test = try await brokerWithUsers("http-login-csrf")
        let http = try await startHTTP(test.broker) { $0.requireLogin = true }
        defer { Task { await test.stop(serving: http.task) } }
        let alice = ("Cookie", try await logIn("alice", password: "alice-secret", port: http.port))
        let elsewhere = try await HTTPExchange.send(
            "/topics/a/delete", method: "POST", port: http.port, headers: [alice, ("Origin", "http://elsewhere.example")])
        #expect(elsewhere.status == 403)
        #expect(elsewhere.body.contains("another site"))
        let byReferer = try await HTTPExchange.send(
            "/topics/a/delete", method: "POST", port: http.port, headers: [alice, ("Referer", "http://elsewhere.example/page")])
        #expect(byReferer.status == 403)
        let unnamed = try await HTTPExchange.send("/topics/a/delete", method: "POST", port: http.port, headers: [alice])
        #expect(unnamed.status == 403)
        #expect(try test.broker.listTopics().map(\.name).contains("a"))
        let fromHere = try await HTTPExchange.send(
            "/topics/a/delete", method: "POST", port: http.port, headers: [alice, ("Referer", "http://127.0.0.1:\(http.port)/topics/a")])
        #expect(fromHere.status == 303)
        #expect(!(try test.broker.listTopics().map(\.name).contains("a")))
    }

    @Test func withoutALoginAFormFromAnotherSiteIsStillRefused() async throws {
        let test = try TestBroker("http-csrf-open")
        let http = try await startHTTP(test.broker)
        defer { Task { await test.stop(serving: http.task) } }
        _ = try await test.broker.createTopic("a")
        let elsewhere = try await HTTPExchange.send("/topics/a/delete", method: "POST", port: http.port, headers: [("Origin", "http://elsewhere.example")])
        #expect(elsewhere.status == 403)
        #expect(try await HTTPExchange.send("/topics/a/delete", method: "POST", port: http.port).status == 303)
    }

    @Test func metricsTakeBasicCredentialsOfAUserAllowedToDescribeTheCluster() async throws {
        let metrics = BrookMetrics()
        let test = try await brokerWithUsers("http-login-metrics")
        let http = try await startHTTP(test.broker, metrics: metrics) { $0.requireLogin = true }
        defer { Task { await test.stop(serving: http.task) } }
        func basic(_ user: String, _ password: String) -> (String, String) {
            ("Authorization", "Basic " + Data("\(user):\(password)".utf8).base64EncodedString())
        }
        let anonymous = try await HTTPExchange.send("/metrics", port: http.port)
        #expect(anonymous.status == 401)
        #expect(anonymous.headers["www-authenticate"] == #"Basic realm="brook", charset="UTF-8""#)
        let wrong = try await HTTPExchange.send("/metrics", port: http.port, headers: [basic("alice", "nope")])
        #expect(wrong.status == 401)
        let dave = try await HTTPExchange.send("/metrics", port: http.port, headers: [basic("dave", "dave-secret")])
        #expect(dave.status == 403)
        #expect(dave.body.contains("may not DESCRIBE the cluster"))
        let alice = try await HTTPExchange.send("/metrics", port: http.port, headers: [basic("alice", "alice-secret")])
        #expect(alice.status == 200)
        #expect(samples(alice.body)[#"brook_partition_high_watermark{topic="a",partition="0"}"#] == 1)
        // The console's own script reads /metrics with the session.
        let session = ("Cookie", try await logIn("alice", password: "alice-secret", port: http.port))
        #expect(try await HTTPExchange.send("/metrics", port: http.port, headers: [session]).status == 200)
        // The probes stay open.
        #expect(try await HTTPExchange.send("/readyz", port: http.port).status == 200)
        #expect(try await HTTPExchange.send("/livez", port: http.port).status == 200)
    }

    @Test func aLoginBeyondLoopbackNeedsTLS() throws {
        var configuration = HTTPListenerConfiguration()
        configuration.requireLogin = true
        configuration.host = "0.0.0.0"
        configuration.port = 0
        #expect {
            try HTTPListener.checkCanListen(configuration)
        } throws: { error in
            let error = error as? BrookError
            return error?.code == .invalidConfig && error?.message.contains("0.0.0.0") == true && error?.message.contains("--tls-cert") == true
        }
        configuration.host = "127.0.0.1"
        try HTTPListener.checkCanListen(configuration)
        configuration.host = "0.0.0.0"
        configuration.requireLogin = false
        try HTTPListener.checkCanListen(configuration)
    }
}
