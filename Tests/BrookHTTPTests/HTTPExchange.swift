import BrookTestSupport
import Foundation

/// One HTTP/1.1 request over a raw connection, as curl would send it, and its parsed response.
struct HTTPExchange {
    var status: Int
    var headers: [String: String]
    var body: String

    /// Sends `method path` (with a form body and extra headers, if any) to 127.0.0.1:`port` and
    /// reads until the server closes.
    static func send(
        _ path: String, method: String = "GET", port: Int, form: [(String, String)]? = nil, headers: [(String, String)] = []
    ) async throws -> HTTPExchange {
        let connection = try await RawConnection(port: port)
        var request = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        if let form {
            let body = form.map { "\(formEncoded($0.0))=\(formEncoded($0.1))" }.joined(separator: "&")
            request += "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        } else {
            request += "\r\n"
        }
        try await connection.send(request)
        let raw = String(decoding: try await connection.remainder(), as: UTF8.self)
        return try parse(raw)
    }

    static func formEncoded(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed)!
    }

    struct Malformed: Error { var raw: String }

    static func parse(_ raw: String) throws -> HTTPExchange {
        guard let split = raw.range(of: "\r\n\r\n") else { throw Malformed(raw: raw) }
        let lines = raw[..<split.lowerBound].components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { throw Malformed(raw: raw) }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body = String(raw[split.upperBound...])
        if headers["transfer-encoding"] == "chunked" { body = dechunked(body) }
        return HTTPExchange(status: status, headers: headers, body: body)
    }

    private static func dechunked(_ text: String) -> String {
        var bytes = Substring(text).utf8[...]
        var out: [UInt8] = []
        while let end = bytes.firstRange(of: "\r\n".utf8) {
            let size = Int(String(decoding: bytes[..<end.lowerBound], as: UTF8.self), radix: 16) ?? 0
            if size == 0 { break }
            let start = end.upperBound
            let stop = bytes.index(start, offsetBy: size)
            out += bytes[start..<stop]
            bytes = bytes[bytes.index(stop, offsetBy: 2)...]
        }
        return String(decoding: out, as: UTF8.self)
    }
}
