import ArgumentParser
import BrookCommandLine
import BrookStore

struct Restore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replace a stopped server's database file with a backup.",
        discussion: """
            Refused while a server holds the file. The backup must be a Brook database that passes \
            integrity_check; stale -wal and -shm files beside the database are removed. Consumers' \
            committed offsets and producers' idempotence state go back to the backup's; see \
            docs/guarantees.md.
            """)

    @Argument(help: "The backup file to restore from.") var source: String
    @Option(help: "The database file to replace.") var db = "brook.db"

    func run() async throws {
        try await reportingErrors {
            let report = try DatabaseRestore.restore(from: source, to: db)
            Output.line("restored \(source) to \(db): \(report.bytes) bytes, integrity \(report.integrity)")
        }
    }
}
