import BrookBroker
import BrookModel
import Foundation
import Hummingbird
import Mustache

/// The web console: pages rendered on the server from ``ConsoleTemplates`` over the broker's own
/// calls, so it shows exactly what the other front-ends serve. Everything taken from the log
/// (names, keys, values, headers) reaches the page through Mustache's `{{…}}`, which escapes HTML.
///
/// Each page asks the broker's ``AccessControl`` what the logged-in user may do, with the checks
/// the line protocol and Kafka make for the same operations (docs/security.md): lists show only
/// what the user may describe, and a refused operation answers 403 with the refusal's text.
/// Without a login (no `--auth`) the rules are not enforced and every check passes.
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

    /// The request's user and address, for the ACL checks.
    func access(_ context: HTTPRequestContext) -> Access {
        Access(control: broker.access, user: context.user, host: context.remoteAddress?.ipAddress ?? "")
    }

    func add(to router: Router<HTTPRequestContext>) {
        router.get("/") { _, context in try render("overview", overview(access(context)), user: context.user) }
        router.get("/console.css") { _, _ in asset(ConsoleAssets.css, type: "text/css; charset=utf-8") }
        router.get("/console.js") { _, _ in asset(ConsoleAssets.javascript, type: "text/javascript; charset=utf-8") }
        router.post("/topics") { request, context in
            let form = try await Self.form(request)
            let name = form["name"] ?? ""
            let partitions = Int(form["partitions"] ?? "1") ?? 0
            do {
                let access = access(context)
                if !access.allows(.create, .cluster) { try access.check(.create, .topic(name)) }
                _ = try await broker.createTopic(name, partitions: partitions)
            } catch {
                return try failure(error, back: "/", user: context.user)
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
                return try render("topic", try await topicPage(name, filter: filter, page: page, access: access(context)), user: context.user)
            } catch {
                return try failure(error, back: "/", user: context.user)
            }
        }
        router.post("/topics/:topic/produce") { request, context in
            let name = try context.parameters.require("topic")
            let form = try await Self.form(request)
            do {
                try access(context).check(.write, .topic(name))
                let record = try Self.record(from: form)
                let position = try await broker.produce(topic: name, records: [record])[0]
                return redirect("/topics/\(Self.pathComponent(name))?produced=\(position.partition):\(position.offset)")
            } catch {
                return try failure(error, back: "/topics/\(Self.pathComponent(name))", user: context.user)
            }
        }
        router.post("/topics/:topic/delete") { _, context in
            let name = try context.parameters.require("topic")
            do {
                try access(context).check(.delete, .topic(name))
                try await broker.deleteTopic(name)
            } catch {
                return try failure(error, back: "/topics/\(Self.pathComponent(name))", user: context.user)
            }
            return redirect("/")
        }
        router.get("/groups") { _, context in try render("groups", try await groupsPage(access(context)), user: context.user) }
        router.get("/groups/:group") { _, context in
            let group = try context.parameters.require("group")
            do {
                return try render("group", try await groupPage(group, access: access(context)), user: context.user)
            } catch {
                return try failure(error, back: "/groups", user: context.user)
            }
        }
        router.post("/groups/:group/reset") { request, context in
            let group = try context.parameters.require("group")
            let form = try await Self.form(request)
            do {
                let topic = form["topic"] ?? ""
                let access = access(context)
                try access.check(.read, .group(group))
                try access.check(.read, .topic(topic))
                let target = try GroupResetTarget(form["target"] ?? "")
                _ = try await broker.groups.reset(group: group, topic: topic, to: target)
            } catch {
                return try failure(error, back: "/groups/\(Self.pathComponent(group))", user: context.user)
            }
            return redirect("/groups/\(Self.pathComponent(group))")
        }
    }

    // MARK: Pages

    private func overview(_ access: Access) throws -> [String: Any] {
        let topics = try broker.listTopics().filter { access.allows(.describe, .topic($0.name)) }.sorted { $0.name < $1.name }
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
            // CREATE on the cluster, or on some topic (the name is not known until the form is sent).
            "canCreate": access.allows(.create, .cluster) || access.control.allowsSome(access.user, host: access.host, .create, on: .topic),
        ]
    }

    private func topicPage(_ name: String, filter: String, page: Int, access: Access) async throws -> [String: Any] {
        // Checked before the topic is looked up, so a user who may not see it cannot learn whether it exists.
        try access.check(.describe, .topic(name))
        let topic = try broker.describeTopic(name)
        let partitions: [[String: Any]] = topic.partitions.map { partition in
            [
                "index": partition.index, "logStart": partition.state.logStartOffset, "highWatermark": partition.state.nextOffset,
                "messages": partition.state.recordCount, "bytes": Self.byteCount(partition.state.bytes),
            ]
        }
        var values: [String: Any] = [
            "title": name, "name": name, "link": Self.pathComponent(name), "partitions": partitions,
            "filter": filter, "page": page + 1,
            "canProduce": access.allows(.write, .topic(name)), "canDelete": access.allows(.delete, .topic(name)),
        ]
        if access.allows(.describeConfigs, .topic(name)) {
            let config = topic.config
            values["configs"] = [
                ["name": "retention.ms", "value": config.retentionMs],
                ["name": "retention.bytes", "value": config.retentionBytes],
                ["name": "max.message.bytes", "value": config.maxMessageBytes],
                ["name": "message.timestamp.type", "value": config.messageTimestampType.rawValue],
                ["name": "compression.type", "value": config.compressionType.rawValue],
            ] as [[String: Any]]
        } else {
            values["configsRefused"] = access.refusal(.describeConfigs, .topic(name)).message
        }
        guard access.allows(.read, .topic(name)) else {
            values["browseRefused"] = access.refusal(.read, .topic(name)).message
            return values
        }
        values["canBrowse"] = true
        let size = Self.pageSize
        var sql = "SELECT partition, offset, timestamp, key, headers, value FROM \(Self.quotedIdentifier(name))"
        if !filter.trimmingCharacters(in: .whitespaces).isEmpty { sql += " WHERE (\(filter))" }
        sql += " ORDER BY partition, offset LIMIT \(size + 1) OFFSET \(page * size)"
        // A filter is SQL, whose subqueries could read any topic, every group's offsets and the
        // ACLs: a user who may not run `brook sql` (CLUSTER_ACTION) gets SQLite's authorizer
        // confining the statement to this topic (docs/security.md).
        let confined = !access.allows(.clusterAction, .cluster)
        do {
            let result = confined
                ? try await broker.query(sql, maxRows: size + 1, readingOnly: name) : try await broker.query(sql, maxRows: size + 1)
            let messages = result.rows.prefix(size).map(Self.message)
            values["messages"] = messages
            values["hasMessages"] = !messages.isEmpty
            values["shown"] = messages.count
            let link = filter.isEmpty ? "" : "where=\(HTTPFormText.encoded(filter))&"
            if page > 0 { values["previous"] = "/topics/\(Self.pathComponent(name))?\(link)page=\(page - 1)" }
            if result.rows.count > size { values["next"] = "/topics/\(Self.pathComponent(name))?\(link)page=\(page + 1)" }
        } catch let error as BrookError where confined && error.code == .notAuthorized {
            let who = access.user ?? "ANONYMOUS"
            values["queryError"] = Self.describe(error)
                + " (a filter reads this topic only; reading more takes CLUSTER_ACTION on the cluster, as brook sql does: brook acls add --allow User:\(who) --operation cluster-action --cluster)"
        } catch {
            values["queryError"] = Self.describe(error)
        }
        return values
    }

    private func groupsPage(_ access: Access) async throws -> [String: Any] {
        let all = access.allows(.describe, .cluster)
        let listings = try await broker.groups.listings()
            .filter { all || access.allows(.describe, .group($0.group)) }
            .sorted { $0.group < $1.group }
        let rows: [[String: Any]] = listings.map { listing in
            ["name": listing.group, "link": Self.pathComponent(listing.group), "state": "\(listing.state.rawValue)", "members": listing.members]
        }
        return ["title": "Consumer groups", "groups": rows, "hasGroups": !rows.isEmpty]
    }

    private func groupPage(_ group: String, access: Access) async throws -> [String: Any] {
        try access.check(.describe, .group(group))
        let description = try await broker.groups.describe(group: group)
        let members: [[String: Any]] = description.members.map { member in
            [
                "memberID": member.memberID, "clientID": member.clientID, "clientHost": member.clientHost,
                "assignment": member.assignment.map { "\($0.topic)-\($0.partition)" }.joined(separator: ", "),
            ]
        }
        // As OFFSETS and OffsetFetch: offsets only of the topics the user may describe.
        let shown = description.offsets.filter { access.allows(.describe, .topic($0.partition.topic)) }
        let offsets: [[String: Any]] = shown.map { offset in
            [
                "topic": offset.partition.topic, "partition": offset.partition.partition,
                "committed": offset.committed.map { "\($0)" } ?? "none", "logEnd": offset.logEndOffset,
                "lag": offset.lag.map { "\($0)" } ?? "", "member": offset.memberID ?? "",
            ]
        }
        // Resetting needs READ on the group and on the topic, as COMMIT does.
        let topics = access.allows(.read, .group(group))
            ? Array(Set(shown.map(\.partition.topic))).filter { access.allows(.read, .topic($0)) }.sorted() : []
        return [
            "title": "Group \(group)", "name": group, "link": Self.pathComponent(group), "state": "\(description.state.rawValue)",
            "generation": description.generation, "members": members, "hasMembers": !members.isEmpty, "offsets": offsets,
            "totalLag": shown.reduce(Int64(0)) { $0 + ($1.lag ?? 0) },
            "resettable": description.members.isEmpty && !topics.isEmpty, "topics": topics.map { ["name": $0] },
        ]
    }

    // MARK: Rendering

    func render(_ template: String, _ values: [String: Any], user: String?, status: HTTPResponse.Status = .ok) throws -> Response {
        var values = values
        if let user { values["user"] = user }
        guard let html = library.render(values, withTemplate: template) else {
            throw HTTPError(.internalServerError, message: "the console has no template '\(template)'")
        }
        return Response(status: status, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    /// The error page: 403 for a refusal (its text names what is missing and how to grant it),
    /// 400 for anything else.
    private func failure(_ error: any Error, back: String, user: String?) throws -> Response {
        let status: HTTPResponse.Status = (error as? BrookError)?.code == .notAuthorized ? .forbidden : .badRequest
        let refused = status == .forbidden
        return try render(
            "error", ["title": refused ? "Not allowed" : "Error", "refused": refused, "message": Self.describe(error), "back": back],
            user: user, status: status)
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
