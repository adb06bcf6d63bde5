import BrookBroker
import BrookModel
import Foundation
import Hummingbird
import Mustache

/// The web console: pages rendered on the server from ``ConsoleTemplates`` over the broker's own
/// calls, so it shows exactly what the other front-ends serve. Everything taken from the log
/// (names, keys, values, headers) reaches the page through Mustache's `{{…}}`, which escapes HTML.
struct ConsoleRoutes: Sendable {
    let broker: Broker
    let library: MustacheLibrary

    /// Messages per page of the topic's message browser.
    static let pageSize = 20
    /// The largest form a page posts (a produced record included).
    static let maxFormBytes = 2 * 1_048_576

    init(broker: Broker) {
        self.broker = broker
        library = ConsoleTemplates.library
    }

    func add(to router: Router<BasicRequestContext>) {
        router.get("/") { _, _ in try await render("overview", overview()) }
        router.get("/console.css") { _, _ in asset(ConsoleAssets.css, type: "text/css; charset=utf-8") }
        router.get("/console.js") { _, _ in asset(ConsoleAssets.javascript, type: "text/javascript; charset=utf-8") }
        router.post("/topics") { request, _ in
            let form = try await Self.form(request)
            let name = form["name"] ?? ""
            let partitions = Int(form["partitions"] ?? "1") ?? 0
            do {
                _ = try await broker.createTopic(name, partitions: partitions)
            } catch {
                return try await failure(error, back: "/")
            }
            return redirect("/topics/\(Self.pathComponent(name))")
        }
        router.get("/topics/:topic") { request, context in
            let name = try context.parameters.require("topic")
            // As a browser's GET form sends it: spaces as '+'.
            let query = HTTPFormText.decode(request.uri.query ?? "")
            let filter = query["where"] ?? ""
            let page = max(0, Int(query["page"] ?? "0") ?? 0)
            do {
                return try await render("topic", topicPage(name, filter: filter, page: page))
            } catch {
                return try await failure(error, back: "/")
            }
        }
        router.post("/topics/:topic/produce") { request, context in
            let name = try context.parameters.require("topic")
            let form = try await Self.form(request)
            do {
                let record = try Self.record(from: form)
                let position = try await broker.produce(topic: name, records: [record])[0]
                return redirect("/topics/\(Self.pathComponent(name))?produced=\(position.partition):\(position.offset)")
            } catch {
                return try await failure(error, back: "/topics/\(Self.pathComponent(name))")
            }
        }
        router.post("/topics/:topic/delete") { _, context in
            let name = try context.parameters.require("topic")
            do {
                try await broker.deleteTopic(name)
            } catch {
                return try await failure(error, back: "/topics/\(Self.pathComponent(name))")
            }
            return redirect("/")
        }
        router.get("/groups") { _, _ in try await render("groups", groupsPage()) }
        router.get("/groups/:group") { _, context in
            let group = try context.parameters.require("group")
            do {
                return try await render("group", groupPage(group))
            } catch {
                return try await failure(error, back: "/groups")
            }
        }
        router.post("/groups/:group/reset") { request, context in
            let group = try context.parameters.require("group")
            let form = try await Self.form(request)
            do {
                let target = try GroupResetTarget(form["target"] ?? "")
                _ = try await broker.groups.reset(group: group, topic: form["topic"] ?? "", to: target)
            } catch {
                return try await failure(error, back: "/groups/\(Self.pathComponent(group))")
            }
            return redirect("/groups/\(Self.pathComponent(group))")
        }
    }

    // MARK: Pages

    private func overview() async throws -> [String: Any] {
        let topics = try broker.listTopics().sorted { $0.name < $1.name }
        let rows: [[String: Any]] = topics.map { topic in
            [
                "name": topic.name, "link": Self.pathComponent(topic.name), "partitions": topic.partitions.count,
                "messages": topic.partitions.reduce(Int64(0)) { $0 + $1.state.recordCount },
                "bytes": Self.byteCount(topic.partitions.reduce(Int64(0)) { $0 + $1.state.bytes }),
            ]
        }
        return [
            "title": "Topics", "topics": rows, "hasTopics": !rows.isEmpty,
            "topicCount": rows.count,
            "messageCount": topics.reduce(Int64(0)) { total, topic in total + topic.partitions.reduce(Int64(0)) { $0 + $1.state.recordCount } },
            "byteCount": Self.byteCount(topics.reduce(Int64(0)) { total, topic in total + topic.partitions.reduce(Int64(0)) { $0 + $1.state.bytes } }),
        ]
    }

    private func topicPage(_ name: String, filter: String, page: Int) async throws -> [String: Any] {
        let topic = try broker.describeTopic(name)
        let partitions: [[String: Any]] = topic.partitions.map { partition in
            [
                "index": partition.index, "logStart": partition.state.logStartOffset, "highWatermark": partition.state.nextOffset,
                "messages": partition.state.recordCount, "bytes": Self.byteCount(partition.state.bytes),
            ]
        }
        let config = topic.config
        let configs: [[String: Any]] = [
            ["name": "retention.ms", "value": config.retentionMs],
            ["name": "retention.bytes", "value": config.retentionBytes],
            ["name": "max.message.bytes", "value": config.maxMessageBytes],
            ["name": "message.timestamp.type", "value": config.messageTimestampType.rawValue],
            ["name": "compression.type", "value": config.compressionType.rawValue],
        ]
        var values: [String: Any] = [
            "title": name, "name": name, "link": Self.pathComponent(name), "partitions": partitions, "configs": configs,
            "filter": filter, "page": page + 1,
        ]
        let size = Self.pageSize
        var sql = "SELECT partition, offset, timestamp, key, headers, value FROM \(Self.quotedIdentifier(name))"
        if !filter.trimmingCharacters(in: .whitespaces).isEmpty { sql += " WHERE (\(filter))" }
        sql += " ORDER BY partition, offset LIMIT \(size + 1) OFFSET \(page * size)"
        do {
            let result = try await broker.query(sql, maxRows: size + 1)
            let messages = result.rows.prefix(size).map(Self.message)
            values["messages"] = messages
            values["hasMessages"] = !messages.isEmpty
            values["shown"] = messages.count
            let link = filter.isEmpty ? "" : "where=\(HTTPFormText.encoded(filter))&"
            if page > 0 { values["previous"] = "/topics/\(Self.pathComponent(name))?\(link)page=\(page - 1)" }
            if result.rows.count > size { values["next"] = "/topics/\(Self.pathComponent(name))?\(link)page=\(page + 1)" }
        } catch {
            values["queryError"] = Self.describe(error)
        }
        return values
    }

    private func groupsPage() async throws -> [String: Any] {
        let listings = try await broker.groups.listings().sorted { $0.group < $1.group }
        let rows: [[String: Any]] = listings.map { listing in
            ["name": listing.group, "link": Self.pathComponent(listing.group), "state": "\(listing.state.rawValue)", "members": listing.members]
        }
        return ["title": "Consumer groups", "groups": rows, "hasGroups": !rows.isEmpty]
    }

    private func groupPage(_ group: String) async throws -> [String: Any] {
        let description = try await broker.groups.describe(group: group)
        let members: [[String: Any]] = description.members.map { member in
            [
                "memberID": member.memberID, "clientID": member.clientID, "clientHost": member.clientHost,
                "assignment": member.assignment.map { "\($0.topic)-\($0.partition)" }.joined(separator: ", "),
            ]
        }
        let offsets: [[String: Any]] = description.offsets.map { offset in
            [
                "topic": offset.partition.topic, "partition": offset.partition.partition,
                "committed": offset.committed.map { "\($0)" } ?? "none", "logEnd": offset.logEndOffset,
                "lag": offset.lag.map { "\($0)" } ?? "", "member": offset.memberID ?? "",
            ]
        }
        let topics = Array(Set(description.offsets.map(\.partition.topic))).sorted()
        return [
            "title": "Group \(group)", "name": group, "link": Self.pathComponent(group), "state": "\(description.state.rawValue)",
            "generation": description.generation, "members": members, "hasMembers": !members.isEmpty, "offsets": offsets,
            "totalLag": description.offsets.reduce(Int64(0)) { $0 + ($1.lag ?? 0) },
            "resettable": description.members.isEmpty && !topics.isEmpty, "topics": topics.map { ["name": $0] },
        ]
    }

    // MARK: Rendering

    private func render(_ template: String, _ values: [String: Any]) async throws -> Response {
        guard let html = library.render(values, withTemplate: template) else {
            throw HTTPError(.internalServerError, message: "the console has no template '\(template)'")
        }
        return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    private func failure(_ error: any Error, back: String) async throws -> Response {
        let html = library.render(["title": "Error", "message": Self.describe(error), "back": back], withTemplate: "error") ?? Self.describe(error)
        return Response(status: .badRequest, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    private func asset(_ text: String, type: String) -> Response {
        Response(status: .ok, headers: [.contentType: type, .cacheControl: "max-age=300"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    private func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location])
    }

    // MARK: Values

    static func describe(_ error: any Error) -> String {
        if let error = error as? BrookError { return "\(error.code.rawValue): \(error.message)" }
        return "\(error)"
    }

    /// One browsed message for the template: text shown as it is, JSON indented, other bytes in hex.
    static func message(_ row: [SQLValue]) -> [String: Any] {
        func integer(_ value: SQLValue) -> Int64 {
            if case .integer(let number) = value { return number }
            return 0
        }
        let timestamp = integer(row[2])
        let date = Date(timeIntervalSince1970: Double(timestamp) / 1_000)
        return [
            "partition": integer(row[0]), "offset": integer(row[1]),
            "timestamp": ISO8601DateFormatter().string(from: date),
            "key": shown(row[3]), "headers": headers(row[4]), "value": shown(row[5], indentingJSON: true),
        ]
    }

    static func shown(_ value: SQLValue, indentingJSON: Bool = false) -> String {
        switch value {
        case .null: return "null"
        case .integer(let number): return "\(number)"
        case .real(let number): return "\(number)"
        case .text(let text): return indentingJSON ? JSONIndenter.indented(text) ?? text : text
        case .blob(let bytes):
            let hex = bytes.prefix(256).map { String(format: "%02x", $0) }.joined()
            return "0x" + hex + (bytes.count > 256 ? "… (\(bytes.count) bytes)" : "")
        }
    }

    /// Stored headers (`[["name","value"],…]`) as `name: value` lines.
    static func headers(_ value: SQLValue) -> [[String: String]] {
        guard case .text(let text) = value,
              let pairs = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[Any]]
        else { return [] }
        return pairs.compactMap { pair in
            guard pair.count == 2 else { return nil }
            return ["name": "\(pair[0])", "value": "\(pair[1])"]
        }
    }

    /// A record from the produce form: empty key means none, headers are `name: value` lines.
    static func record(from form: [String: String]) throws(BrookError) -> ProducerRecord {
        var headers: [Header] = []
        for line in (form["headers"] ?? "").split(whereSeparator: \.isNewline) where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            guard let colon = line.firstIndex(of: ":") else {
                throw BrookError(.invalidRequest, "header line '\(line)' has no ':'; write one header per line as name: value")
            }
            headers.append(Header(
                line[..<colon].trimmingCharacters(in: .whitespaces),
                Array(line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces).utf8)))
        }
        var partition: Int?
        if let text = form["partition"]?.trimmingCharacters(in: .whitespaces), !text.isEmpty {
            guard let number = Int(text) else { throw BrookError(.invalidRequest, "partition '\(text)' is not a number; leave it empty to let the partitioner choose") }
            partition = number
        }
        let key = form["key"].flatMap { $0.isEmpty ? nil : Array($0.utf8) }
        return ProducerRecord(key: key, value: Array((form["value"] ?? "").utf8), headers: headers, partition: partition)
    }

    static func form(_ request: Request) async throws -> [String: String] {
        var request = request
        let body = try await request.collectBody(upTo: maxFormBytes)
        return HTTPFormText.decode(String(buffer: body))
    }

    static func quotedIdentifier(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    static func pathComponent(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    static func byteCount(_ bytes: Int64) -> String {
        ByteCountFormatter.string(fromByteCount: bytes, countStyle: .binary)
    }
}

/// `application/x-www-form-urlencoded`, as browsers post forms.
enum HTTPFormText {
    static func decode(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = decoded(parts[0])
            fields[name] = parts.count > 1 ? decoded(parts[1]) : ""
        }
        return fields
    }

    static func decoded(_ text: Substring) -> String {
        let spaced = text.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding ?? spaced
    }

    static func encoded(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}

/// Re-indents JSON text without reordering its keys (a parse and re-serialisation would sort or
/// shuffle them): two spaces per level, one member per line.
enum JSONIndenter {
    /// The indented text, or nil when `text` does not look like a JSON object or array.
    static func indented(_ text: String) -> String? {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let first = trimmed.first, first == "{" || first == "[",
              (try? JSONSerialization.jsonObject(with: Data(trimmed.utf8))) != nil
        else { return nil }
        var out = ""
        var depth = 0
        var inString = false
        var escaped = false
        func newline() { out += "\n" + String(repeating: "  ", count: depth) }
        for character in trimmed {
            if inString {
                out.append(character)
                if escaped { escaped = false } else if character == "\\" { escaped = true } else if character == "\"" { inString = false }
                continue
            }
            switch character {
            case "\"": inString = true; out.append(character)
            case "{", "[": depth += 1; out.append(character); newline()
            case "}", "]": depth -= 1; newline(); out.append(character)
            case ",": out.append(character); newline()
            case ":": out += ": "
            case " ", "\n", "\r", "\t": continue
            default: out.append(character)
            }
        }
        // Empty containers print as {} and [].
        return out.replacingOccurrences(of: #"\{\s*\}"#, with: "{}", options: .regularExpression)
            .replacingOccurrences(of: #"\[\s*\]"#, with: "[]", options: .regularExpression)
    }
}
