import ArgumentParser
import BrookBench
import BrookWire

@main
struct Brook: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "brook",
        abstract: "A Kafka-semantics message queue whose whole log is one SQLite file.",
        version: WireProtocol.serverVersion,
        subcommands: [Serve.self, Topics.self, Produce.self, Consume.self, Groups.self, Users.self, Acls.self, ExportPlan.self, SQL.self, Backup.self, Restore.self, Bench.self, Soak.self])
}
