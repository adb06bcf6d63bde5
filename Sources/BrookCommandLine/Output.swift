import ArgumentParser
import BrookModel
import Foundation

/// Runs a command body, turning any failure into one line on stderr and a non-zero exit.
public func reportingErrors(_ body: () async throws -> Void) async throws {
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
public enum Output {
    public static func error(_ line: String, newline: Bool = true) {
        FileHandle.standardError.write(Data((newline ? line + "\n" : line).utf8))
    }

    public static func write(_ bytes: [UInt8]) {
        writeAll(1, bytes)
    }

    /// Writes all of `bytes` to a descriptor, however many calls it takes; false if one fails.
    @discardableResult
    public static func writeAll(_ descriptor: Int32, _ bytes: [UInt8]) -> Bool {
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

    public static func line(_ text: String) {
        write(Array((text + "\n").utf8))
    }
}

/// Left-aligned columns for people.
public func table(_ header: [String], _ rows: [[String]]) -> String {
    let all = [header] + rows
    let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
    return all.map { row in
        row.enumerated().map { index, cell in
            index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
        }.joined(separator: "  ")
    }.joined(separator: "\n")
}
