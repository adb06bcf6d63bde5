import BrookBroker
import BrookClient
import BrookTestSupport
import Foundation
import Testing

/// What outside processes, links and hand edits on the live database file cannot do to
/// acknowledged records (docs/storage.md, docs/guarantees.md). Real `brook serve` processes, real
/// links and the real `sqlite3` shell.
struct StorageHardeningTests {
    /// A second `brook serve` through a hard link or a symbolic link to the file of a running one
    /// is refused: the lock is on the file (its inode), not on the path.
    @Test func aSecondServerThroughAHardOrSymbolicLinkIsRefused() async throws {
        let dir = TemporaryDirectory("brook-links")
        let server = try await CLI.Server(db: dir.file("brook.db"), in: dir)
        try FileManager.default.createDirectory(atPath: dir.file("elsewhere"), withIntermediateDirectories: false)
        let hard = dir.file("elsewhere/hard.db")
        let symbolic = dir.file("elsewhere/symbolic.db")
        try FileManager.default.linkItem(atPath: dir.file("brook.db"), toPath: hard)
        try FileManager.default.createSymbolicLink(atPath: symbolic, withDestinationPath: dir.file("brook.db"))
        for link in [hard, symbolic] {
            let second = try await CLI.run(["serve", "--db", link, "--port", "0"], in: dir)
            #expect(second.status != 0)
            #expect(
                second.stderr.contains("brook: STORAGE_ERROR '\(link)' is in use by another Brook process (pid \(server.process.processIdentifier))"),
                "\(second.stderr)")
        }
        #expect(try await server.stop() == 0)
        // Once the first has stopped, the file opens through either link.
        let again = try await CLI.Server(db: hard, in: dir)
        #expect(try await again.stop() == 0)
    }
}
