import BrookModel
import BrookTestSupport
import Foundation
import Testing

/// `brook serve`'s HTTP listener: its port in the log, the probes, and what --auth leaves open.
@Suite("brook serve --http-port")
struct HTTPServeTests {
    /// The HTTP port the server logged (`http=127.0.0.1:PORT`), once it has.
    static func httpPort(of server: CLI.Server) async throws -> Int {
        for _ in 0..<300 {
            let log = (try? String(contentsOfFile: server.log, encoding: .utf8)) ?? ""
            if let range = log.range(of: "http=127.0.0.1:"), let port = Int(log[range.upperBound...].prefix { $0.isNumber }) { return port }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw BrookError(.brokerNotAvailable, "brook serve logged no HTTP port")
    }

    /// The status line and body of a GET.
    static func get(_ path: String, port: Int) async throws -> (status: Int, body: String) {
        let connection = try await RawConnection(port: port)
        try await connection.send("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        let raw = String(decoding: try await connection.remainder(), as: UTF8.self)
        let status = Int(raw.split(separator: " ").dropFirst().first ?? "") ?? 0
        let body = raw.range(of: "\r\n\r\n").map { String(raw[$0.upperBound...]) } ?? ""
        return (status, body)
    }

    @Test func probesAndMetricsAnswerOnTheLoggedPort() async throws {
        let dir = TemporaryDirectory("brook-http-serve")
        let server = try await CLI.Server(db: dir.file("brook.db"), in: dir, extra: ["--http-port", "0"])
        let port = try await Self.httpPort(of: server)
        #expect(try await Self.get("/livez", port: port).status == 200)
        #expect(try await Self.get("/readyz", port: port) == (200, "ready\n"))
        let metrics = try await Self.get("/metrics", port: port)
        #expect(metrics.status == 200)
        #expect(metrics.body.contains(#"brook_connections{protocol="line"} 0"#), "\(metrics.body)")
        #expect(try await Self.get("/", port: port).status == 200)
        #expect(try await server.stop() == 0)
    }

    @Test func underAuthTheConsoleAsksForALoginAndMetricsForCredentials() async throws {
        let dir = TemporaryDirectory("brook-http-auth")
        let db = dir.file("brook.db")
        let password = dir.file("pw")
        try "correct horse\n".write(toFile: password, atomically: true, encoding: .utf8)
        #expect(try await CLI.run(["users", "add", "alice", "--super", "--db", db], stdinFile: password, in: dir).status == 0)
        let server = try await CLI.Server(db: db, in: dir, extra: ["--auth", "--http-port", "0"])
        let port = try await Self.httpPort(of: server)
        #expect(try await Self.get("/readyz", port: port).status == 200)
        #expect(try await Self.get("/livez", port: port).status == 200)
        #expect(try await Self.get("/metrics", port: port).status == 401)
        #expect(try await Self.get("/", port: port).status == 303)
        let login = try await Self.get("/login", port: port)
        #expect(login.status == 200)
        #expect(login.body.contains(#"id="login-password""#))
        #expect(try await server.stop() == 0)
    }

    @Test func aLoginInClearBeyondLoopbackIsRefusedAtStart() async throws {
        let dir = TemporaryDirectory("brook-http-auth-open")
        let db = dir.file("brook.db")
        let password = dir.file("pw")
        try "correct horse\n".write(toFile: password, atomically: true, encoding: .utf8)
        #expect(try await CLI.run(["users", "add", "alice", "--super", "--db", db], stdinFile: password, in: dir).status == 0)
        let outcome = try await CLI.run(
            ["serve", "--db", db, "--auth", "--port", "0", "--no-kafka", "--http-port", "0", "--http-host", "0.0.0.0"], in: dir)
        #expect(outcome.status != 0)
        #expect(outcome.stderr.contains("INVALID_CONFIG"), "\(outcome.stderr)")
        #expect(outcome.stderr.contains("0.0.0.0"))
        #expect(outcome.stderr.contains("--tls-cert"))
    }
}
