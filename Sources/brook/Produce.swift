import ArgumentParser
import BrookClient
import BrookCommandLine
import BrookModel
import BrookWire
import Foundation
import NIOCore

struct Produce: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Produce one record per line of standard input.",
        discussion: "Lines are sent in batches, several batches in flight; order per partition is kept.")

    @OptionGroup var server: ServerOptions
    @Argument(help: "The topic to write to.") var topic: String
    @Option(help: "A key for every record.") var key: String?
    @Flag(help: "Split each line into key and value at the first --key-separator.") var parseKey = false
    @Option(help: "The key separator for --parse-key; \\t is a tab, \\n a newline, \\\\ a backslash.") var keySeparator = "\\t"
    @Option(name: .customLong("header"), help: "A header K=V for every record (repeatable).") var headers: [String] = []
    @Option(help: "An explicit partition for every record.") var partition: Int?
    @Option(help: "0, 1 or all.") var acks = "1"
    @Option(help: "Records per PRODUCE request.") var batchSize = 1_000
    @Flag(help: "Print PARTITION:OFFSET for each acknowledged record.") var printOffsets = false
    @Option(help: "true: an idempotent producer (the broker never writes a record twice); false: plain.") var idempotence = "true"

    func run() async throws {
        try await reportingErrors {
            guard let acks = Acks(rawValue: acks) else { throw BrookError(.invalidRequest, "--acks must be 0, 1 or all, not '\(acks)'") }
            guard batchSize >= 1 else { throw BrookError(.invalidRequest, "--batch-size must be at least 1") }
            if key != nil && parseKey { throw BrookError(.invalidRequest, "use --key or --parse-key, not both") }
            let separator = Array(Self.unescaped(keySeparator).utf8)
            if parseKey && separator.isEmpty { throw BrookError(.invalidRequest, "--key-separator must not be empty") }
            let fixedHeaders = try headers.map { text -> Header in
                guard let equals = text.firstIndex(of: "=") else { throw BrookError(.invalidRequest, "--header '\(text)' is not K=V") }
                return Header(String(text[..<equals]), String(text[text.index(after: equals)...]))
            }
            let fixedKey = key.map { Array($0.utf8) }
            guard idempotence == "true" || idempotence == "false" else {
                throw BrookError(.invalidRequest, "--idempotence must be true or false, not '\(idempotence)'")
            }
            let client = try await server.connect()
            let batchLimit = min(batchSize, client.limits.maxBatchRecords)
            // Idempotent: partition here, as the broker would, to number records per partition.
            var numbering: (identity: ProducerIdentity, partitions: Int, sticky: Int, next: [Int: Int32])?
            if idempotence == "true" && acks != .noAck {
                let line = try Reply.check(try await client.connection.send(.initProducer(key: nil)))
                let partitions = try await client.describeTopic(topic).partitionCount
                numbering = (
                    ProducerIdentity(id: try line.int("producer") ?? 0, epoch: Int32(try line.int("epoch") ?? 0)), partitions,
                    Int.random(in: 0..<partitions), [:])
            }
            var window: [PendingProduce] = []
            var batch: [ProducerRecord] = []
            batch.reserveCapacity(batchLimit)
            var sent = 0

            func settle(_ pending: PendingProduce) async throws {
                let positions = try await pending.positions()
                if printOffsets && acks != .noAck {
                    var out: [UInt8] = []
                    out.reserveCapacity(positions.count * 12)
                    for position in positions { out += Array("\(position.partition):\(position.offset)\n".utf8) }
                    Output.write(out)
                }
            }
            func send() async throws {
                guard !batch.isEmpty else { return }
                if var state = numbering {
                    for index in batch.indices {
                        let record = batch[index]
                        let partition = record.partition
                            ?? record.key.map { Partitioner.partition(forKey: $0, partitionCount: state.partitions) } ?? state.sticky
                        guard partition >= 0, partition < state.partitions else {
                            throw BrookError(.unknownPartition, "partition \(partition) of topic '\(topic)' does not exist: it has partitions 0 to \(state.partitions - 1)")
                        }
                        let sequence = state.next[partition, default: 0]
                        batch[index].partition = partition
                        batch[index].sequence = sequence
                        state.next[partition] = sequence &+ 1
                    }
                    state.sticky = (state.sticky + 1) % state.partitions
                    numbering = state
                }
                window.append(client.submitProduce(topic: topic, records: batch, acks: acks, producer: numbering?.identity))
                sent += batch.count
                batch.removeAll(keepingCapacity: true)
                if window.count >= 8 { try await settle(window.removeFirst()) }
            }

            var reader = LineReader(fd: 0)
            var lineNumber = 0
            while let line = reader.next() {
                lineNumber += 1
                var record = ProducerRecord(key: fixedKey, value: line, headers: fixedHeaders, partition: partition)
                if parseKey {
                    // A line without the separator made a keyless record without a word.
                    guard let split = line.firstRange(of: separator) else {
                        try await send()
                        for pending in window { try await settle(pending) }
                        throw BrookError(
                            .invalidRequest,
                            "line \(lineNumber) has no key separator '\(Self.escaped(Self.unescaped(keySeparator)))' for --parse-key; the \(sent) lines before it were produced")
                    }
                    record.key = Array(line[..<split.lowerBound])
                    record.value = Array(line[split.upperBound...])
                }
                batch.append(record)
                if batch.count >= batchLimit { try await send() }
            }
            try await send()
            for pending in window { try await settle(pending) }
            Output.error("produced \(sent) record\(sent == 1 ? "" : "s") to \(topic)")
            await client.close()
        }
    }
}

extension Produce {
    /// `\t`, `\n` and `\\` in a --key-separator as the characters they name, so its default
    /// prints visibly in --help.
    static func unescaped(_ text: String) -> String {
        text.replacingOccurrences(of: "\\\\", with: "\u{0}").replacingOccurrences(of: "\\t", with: "\t")
            .replacingOccurrences(of: "\\n", with: "\n").replacingOccurrences(of: "\u{0}", with: "\\")
    }

    /// A separator written back with its escapes, for messages.
    static func escaped(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\t", with: "\\t").replacingOccurrences(of: "\n", with: "\\n")
    }
}

/// Lines of a file descriptor, read in large chunks (a trailing CR is kept off; an empty last
/// line is not a record).
struct LineReader {
    let fd: Int32
    private var buffer: [UInt8] = []
    private var start = 0
    private var done = false

    init(fd: Int32) { self.fd = fd }

    mutating func next() -> [UInt8]? {
        while true {
            if let newline = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) {
                var end = newline
                if end > start && buffer[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                let line = Array(buffer[start..<end])
                start = newline + 1
                return line
            }
            if done {
                guard start < buffer.count else { return nil }
                let line = Array(buffer[start...])
                start = buffer.count
                return line
            }
            buffer.removeSubrange(0..<start)
            start = 0
            var chunk = [UInt8](repeating: 0, count: 1 << 20)
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count <= 0 {
                done = true
            } else {
                buffer.append(contentsOf: chunk[0..<count])
            }
        }
    }
}
