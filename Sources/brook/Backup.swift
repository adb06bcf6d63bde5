import ArgumentParser
import BrookBroker
import BrookClient
import BrookCommandLine
import BrookModel
import BrookStore
import Foundation

struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a consistent, checked copy of the whole database to a new file.")

    @OptionGroup var server: ServerOptions
    @Argument(help: "The new file to write.") var destination: String
    @Option(help: "Copy this database file directly instead of asking a server.") var db: String?

    func run() async throws {
        try await reportingErrors {
            try BackupDestination.check(destination)
            if let db {
                guard FileManager.default.fileExists(atPath: db) else { throw BrookError(.invalidRequest, "database file '\(db)' does not exist") }
                let report = try LogReader(path: db).backup(to: destination)
                Output.line("backed up \(db) to \(destination): \(report.bytes) bytes, integrity \(report.integrity)")
            } else {
                let client = try await server.connect()
                do {
                    let (bytes, integrity) = try await client.backup(to: destination)
                    Output.line("backed up \(client.connection.address) to \(destination): \(bytes) bytes, integrity \(integrity)")
                } catch {
                    try? FileManager.default.removeItem(atPath: destination)
                    throw error
                }
                await client.close()
            }
        }
    }
}
