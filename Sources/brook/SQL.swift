import ArgumentParser
import BrookBroker
import BrookClient
import BrookCommandLine
import BrookModel
import BrookStore
import Foundation

struct SQL: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sql",
        abstract: "Run one read-only SQL statement (each topic is a view named after it).")

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case table, csv, json
    }

    @OptionGroup var server: ServerOptions
    @Argument(help: "One read-only SQL statement; each topic is a view of its name.") var statement: String
    @Option(help: "Query this database file directly instead of a server.") var db: String?
    @Option(help: "table, csv or json.") var format = Format.table

    func run() async throws {
        try await reportingErrors {
            let result: QueryResult
            if let db {
                guard FileManager.default.fileExists(atPath: db) else { throw BrookError(.invalidRequest, "database file '\(db)' does not exist") }
                result = try ReadOnlySQL(path: db).query(statement)
            } else {
                let client = try await server.connect()
                result = try await client.query(statement)
                await client.close()
            }
            Output.line(render(result))
            if result.truncated { Output.error("brook: only the first \(result.rows.count) rows are shown") }
        }
    }

    func render(_ result: QueryResult) -> String {
        switch format {
        case .table:
            return table(result.columns, result.rows.map { $0.map(text) }) + "\n(\(result.rows.count) row\(result.rows.count == 1 ? "" : "s"))"
        case .csv:
            return ([result.columns.map(csvField)] + result.rows.map { $0.map { csvField(text($0)) } })
                .map { $0.joined(separator: ",") }.joined(separator: "\n")
        case .json:
            let objects = result.rows.map { row in
                "{" + zip(result.columns, row).map { "\(jsonString($0)):\(json($1))" }.joined(separator: ",") + "}"
            }
            return "[" + objects.joined(separator: ",\n ") + "]"
        }
    }

    func text(_ value: SQLValue) -> String {
        switch value {
        case .null: return "NULL"
        case .integer(let number): return String(number)
        case .real(let number): return String(number)
        case .text(let text): return text
        case .blob(let bytes): return "x'" + bytes.map { String(format: "%02x", $0) }.joined() + "'"
        }
    }

    func json(_ value: SQLValue) -> String {
        switch value {
        case .null: return "null"
        case .integer(let number): return String(number)
        case .real(let number): return number.isFinite ? String(number) : "null"
        case .text(let text): return jsonString(text)
        case .blob(let bytes): return jsonString(Data(bytes).base64EncodedString())
        }
    }

    func csvField(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
