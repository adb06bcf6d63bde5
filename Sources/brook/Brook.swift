import ArgumentParser
import BrookClient
import BrookModel
import BrookWire
import Foundation

@main
struct Brook: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "brook",
        abstract: "A Kafka-semantics message queue whose whole log is one SQLite file.",
        version: WireProtocol.serverVersion,
        subcommands: [Serve.self, Topics.self, Produce.self, Consume.self, Groups.self, SQL.self, Backup.self, Bench.self, Soak.self])
}

/// `--server HOST:PORT`, defaulting to $BROOK_SERVER, else 127.0.0.1:7665.
struct ServerOptions: ParsableArguments {
    @Option(name: .long, help: "The server, HOST:PORT or unix:PATH (default: $BROOK_SERVER, else 127.0.0.1:7665).")
    var server: String?

    func address() throws -> ServerAddress {
        let text = server ?? ProcessInfo.processInfo.environment["BROOK_SERVER"] ?? "127.0.0.1:\(WireProtocol.defaultPort)"
        guard let address = ServerAddress(text) else {
            throw BrookError(.invalidRequest, "server '\(text)' is not HOST:PORT or unix:PATH")
        }
        return address
    }

    func connect() async throws -> BrookClient {
        try await BrookClient.connect(to: try address())
    }
}

/// Runs a command body, turning any failure into one line on stderr and a non-zero exit.
func reportingErrors(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as BrookError {
        Output.error("brook: \(error.code.rawValue) \(error.message)")
        throw ExitCode.failure
    } catch let error as ExitCode {
        throw error
    } catch {
        Output.error("brook: \(error)")
        throw ExitCode.failure
    }
}

/// Buffered writes to stdout and unbuffered lines to stderr.
enum Output {
    static func error(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    static func write(_ bytes: [UInt8]) {
        writeAll(1, bytes)
    }

    /// Writes all of `bytes` to a descriptor, however many calls it takes; false if one fails.
    @discardableResult
    static func writeAll(_ descriptor: Int32, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = Foundation.write(descriptor, raw.baseAddress! + offset, raw.count - offset)
                if written <= 0 { return false }
                offset += written
            }
            return true
        }
    }

    static func line(_ text: String) {
        write(Array((text + "\n").utf8))
    }
}

/// Left-aligned columns for people.
func table(_ header: [String], _ rows: [[String]]) -> String {
    let all = [header] + rows
    let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
    return all.map { row in
        row.enumerated().map { index, cell in
            index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
        }.joined(separator: "  ")
    }.joined(separator: "\n")
}
