import ArgumentParser
import BrookClient
import BrookCommandLine
import BrookModel
import Foundation

struct Groups: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List, describe, reset and delete consumer groups.",
        subcommands: [List.self, Describe.self, Reset.self, Delete.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List groups.")
        @OptionGroup var server: ServerOptions

        func run() async throws {
            try await reportingErrors {
                let client = try await server.connect()
                let groups = try await client.listGroups()
                Output.line(table(["GROUP", "STATE", "MEMBERS"], groups.map { [$0.group, $0.state, "\($0.members)"] }))
                await client.close()
            }
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a group's members, committed offsets and lag.")
        @OptionGroup var server: ServerOptions
        @Argument(help: "The group.") var group: String

        func run() async throws {
            try await reportingErrors {
                let client = try await server.connect()
                let description = try await client.describeGroup(group)
                Output.line(
                    "group \(description.group): state \(description.state.rawValue), generation \(description.generation), "
                        + "strategy \(description.protocolName.isEmpty ? "-" : description.protocolName), \(description.members.count) member\(description.members.count == 1 ? "" : "s")")
                let hosts = Dictionary(description.members.map { ($0.memberID, ($0.clientID, $0.clientHost)) }, uniquingKeysWith: { a, _ in a })
                Output.line(table(
                    ["TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "MEMBER", "CLIENT", "HOST"],
                    description.offsets.map { offset in
                        let owner = offset.memberID.flatMap { hosts[$0] }
                        return [
                            offset.partition.topic, "\(offset.partition.partition)", offset.committed.map(String.init) ?? "-",
                            "\(offset.logEndOffset)", offset.lag.map(String.init) ?? "-", offset.memberID ?? "-", owner?.0 ?? "-", owner?.1 ?? "-",
                        ]
                    }))
                await client.close()
            }
        }
    }

    struct Reset: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Move a group's committed offsets on a topic (the group must have no live members).")
        @OptionGroup var server: ServerOptions
        @Argument(help: "The group.") var group: String
        @Option(help: "The topic whose offsets move.") var topic: String
        @Flag(help: "To each partition's first offset still held.") var toEarliest = false
        @Flag(help: "To each partition's end (skip everything so far).") var toLatest = false
        @Option(help: "To this offset on every partition.") var toOffset: Int64?
        @Option(help: "An ISO 8601 time, e.g. 2026-11-24T10:00:00Z: the first offset at or after it.") var toDatetime: String?

        func run() async throws {
            try await reportingErrors {
                let targets: [GroupResetTarget] = [
                    toEarliest ? .earliest : nil, toLatest ? .latest : nil, toOffset.map { .offset($0) }, try toDatetime.map(timestampTarget),
                ].compactMap { $0 }
                guard targets.count == 1 else {
                    throw BrookError(.invalidRequest, "name exactly one of --to-earliest, --to-latest, --to-offset or --to-datetime")
                }
                let client = try await server.connect()
                let offsets = try await client.resetGroup(group, topic: topic, to: targets[0])
                Output.line(table(["TOPIC", "PARTITION", "NEW-OFFSET"], offsets.map { [$0.0.topic, "\($0.0.partition)", "\($0.1)"] }))
                await client.close()
            }
        }

        func timestampTarget(_ text: String) throws -> GroupResetTarget {
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            guard let date = formatter.date(from: text) ?? ISO8601DateFormatter().date(from: text) else {
                throw BrookError(.invalidRequest, "--to-datetime '\(text)' is not an ISO 8601 time such as 2026-11-24T10:00:00Z")
            }
            return .timestamp(Int64(date.timeIntervalSince1970 * 1000))
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a group and its committed offsets (it must have no live members).")
        @OptionGroup var server: ServerOptions
        @Argument(help: "The group.") var group: String

        func run() async throws {
            try await reportingErrors {
                let client = try await server.connect()
                try await client.deleteGroup(group)
                Output.line("deleted group \(group)")
                await client.close()
            }
        }
    }
}
