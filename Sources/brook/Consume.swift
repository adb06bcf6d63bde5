import ArgumentParser
import BrookClient
import BrookCommandLine
import BrookModel
import BrookWire
import Foundation

struct Consume: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print records of a topic, one per line.",
        discussion: """
            --format placeholders: %k key, %v value, %p partition, %o offset, %t timestamp (ms), \
            %h headers (k=v,…), %% a percent sign; \\n, \\t and \\\\ are escapes. The default is '%v\\n'. \
            A null key or value prints as nothing, like an empty one; with --print-null it prints as NULL \
            (as kcat's -Z does), so the two can be told apart.
            """)

    @OptionGroup var server: ServerOptions
    @Argument(help: "The topic to read.") var topic: String
    @Flag(help: "Start at the earliest offset (default: the end).") var fromBeginning = false
    @Option(help: "Consume only this partition.") var partition: Int?
    @Option(help: "With --partition: start at this offset.") var offset: Int64?
    @Option(help: "Stop after this many records.") var maxMessages: Int?
    @Option(help: "Stop after this many ms with no new record.") var timeoutMs: Int?
    @Option(help: "Output format (see below).") var format = "%v\\n"
    @Flag(help: "Print a null key or value as NULL, not as nothing.") var printNull = false
    @Option(help: "Consume as a member of this consumer group, committing as it goes.") var group: String?
    @Option(help: "With --group: auto (every 5 s, and on exit, Ctrl-C and SIGTERM included), sync (after each batch) or none.") var commit = "auto"
    @Option(help: "With --group: when this consumer starts the group (new or empty), wait this many ms for other members before the first assignment instead of the server's group.initial.rebalance.delay.ms (3 s by default; only lower takes effect). 0 starts at once.")
    var initialRebalanceDelayMs: Int64?

    func run() async throws {
        try await reportingErrors {
            if let maxMessages, maxMessages < 1 { throw BrookError(.invalidRequest, "--max-messages must be at least 1") }
            let formatter = try RecordFormat(format, null: printNull ? Array("NULL".utf8) : [])
            if let group {
                try await consumeAsMember(of: group, formatter)
                return
            }
            if initialRebalanceDelayMs != nil {
                throw BrookError(.invalidRequest, "--initial-rebalance-delay-ms goes with --group: it is the wait of a group's first assignment")
            }
            if offset != nil && partition == nil {
                // Applied to every partition, one offset fitted at most one of them.
                throw BrookError(.invalidRequest, "--offset needs --partition: an offset belongs to one partition")
            }
            let admin = try await server.connect()
            let description = try await admin.describeTopic(topic)
            let partitions: [Int]
            if let partition {
                guard partition >= 0, partition < description.partitionCount else {
                    throw BrookError(.unknownPartition, "partition \(partition) of topic '\(topic)' does not exist: it has partitions 0 to \(description.partitionCount - 1)")
                }
                partitions = [partition]
            } else {
                partitions = Array(0..<description.partitionCount)
            }
            try await consumePartitions(partitions, of: description, over: admin, formatter)
            await admin.close()
        }
    }
}

extension Consume {
    /// Partitions per FETCH: each is named in the request line (`p:offset,`, up to 26 bytes),
    /// which must fit in the server's 64 KiB `max_line`.
    static let partitionsPerFetch = 1_000

    /// Reads `partitions` over the one connection `client`, many partitions per FETCH, until
    /// `--max-messages` or `--timeout-ms` of quiet.
    func consumePartitions(_ partitions: [Int], of topic: TopicDescription, over client: BrookClient, _ formatter: RecordFormat) async throws {
        let bounds = Dictionary(uniqueKeysWithValues: topic.partitions.map { ($0.index, $0) })
        var chunks: [[PartitionOffset]] = stride(from: 0, to: partitions.count, by: Self.partitionsPerFetch).map { start in
            partitions[start..<min(start + Self.partitionsPerFetch, partitions.count)].map { index in
                let position = offset ?? (fromBeginning ? bounds[index]?.logStartOffset : bounds[index]?.nextOffset) ?? 0
                return PartitionOffset(partition: index, offset: position)
            }
        }
        let idle = timeoutMs.map { Duration.milliseconds($0) }
        let longest = min(500, timeoutMs ?? 500)
        var printed = 0
        var lastRecord = ContinuousClock.now
        var quietRound = false
        consuming: while true {
            var quiet = true
            for (index, chunk) in chunks.enumerated() {
                // After a round with nothing new, each request waits for data; the waits add up
                // to about half a second over the round.
                let wait = quietRound ? max(10, longest / chunks.count) : 0
                let fetched = try await client.fetch(topic: topic.name, offsets: chunk, maxWait: .milliseconds(wait))
                var out: [UInt8] = []
                var next: [Int: Int64] = [:]
                for part in fetched {
                    if let error = part.error { throw error }
                    guard let last = part.result.records.last else { continue }
                    next[part.partition] = last.offset + 1
                    for record in part.result.records {
                        formatter.append(record, partition: part.partition, to: &out)
                        printed += 1
                        if let maxMessages, printed >= maxMessages { break }
                    }
                    if let maxMessages, printed >= maxMessages { break }
                }
                if !next.isEmpty {
                    quiet = false
                    lastRecord = .now
                    Output.write(out)
                    if let maxMessages, printed >= maxMessages { break consuming }
                    // Partitions that gave records go to the back, so that a busy one does not
                    // keep the others' records out of the reply's limits.
                    let moved = chunk.map { PartitionOffset(partition: $0.partition, offset: next[$0.partition] ?? $0.offset) }
                    chunks[index] = moved.filter { next[$0.partition] == nil } + moved.filter { next[$0.partition] != nil }
                }
            }
            quietRound = quiet
            if quiet, let idle, ContinuousClock.now - lastRecord >= idle { break }
        }
    }

    /// `--group`: join, print what the group assigns, commit per `--commit`, leave on exit.
    func consumeAsMember(of group: String, _ formatter: RecordFormat) async throws {
        guard ["auto", "sync", "none"].contains(commit) else {
            throw BrookError(.invalidRequest, "--commit must be auto, sync or none, not '\(commit)'")
        }
        if partition != nil || offset != nil {
            throw BrookError(.invalidRequest, "--partition and --offset do not go with --group: the group assigns partitions and keeps offsets")
        }
        if let initialRebalanceDelayMs, initialRebalanceDelayMs < 0 {
            throw BrookError(.invalidRequest, "--initial-rebalance-delay-ms must be 0 or more, not \(initialRebalanceDelayMs)")
        }
        let client = try await server.connect()
        var configuration = ConsumerConfiguration(group: group, topics: [topic])
        configuration.enableAutoCommit = commit == "auto"
        configuration.autoOffsetReset = fromBeginning ? .earliest : .latest
        configuration.initialRebalanceDelayMs = initialRebalanceDelayMs
        configuration.pollWaitMs = Int64(min(500, timeoutMs ?? 500))
        let consumer = GroupConsumer(client: client, configuration: configuration)
        var printed = 0
        var lastRecord = ContinuousClock.now
        let idle = timeoutMs.map { Duration.milliseconds($0) }
        // Ctrl-C or SIGTERM ends the loop after the batch in hand is printed, so the close below
        // commits what was printed and leaves the group.
        let stop = StopSignals()
        while !stop.requested {
            var batch = try await consumer.poll()
            if let maxMessages, printed + batch.count > maxMessages {
                // Records past the limit are not printed, so they must not count as consumed.
                let unprinted = batch[(maxMessages - printed)...]
                var firsts: [TopicPartition: Int64] = [:]
                for item in unprinted where firsts[item.partition] == nil { firsts[item.partition] = item.record.offset }
                for (partition, offset) in firsts { try await consumer.seek(partition, to: offset) }
                batch = Array(batch.prefix(maxMessages - printed))
            }
            if !batch.isEmpty {
                lastRecord = .now
                var out: [UInt8] = []
                for item in batch { formatter.append(item.record, partition: item.partition.partition, to: &out) }
                Output.write(out)
                printed += batch.count
                if commit == "sync" { try await consumer.commitSync() }
            }
            if let maxMessages, printed >= maxMessages { break }
            if let idle, ContinuousClock.now - lastRecord >= idle { break }
        }
        await consumer.close()
        await client.close()
    }
}

/// A compiled `--format`.
struct RecordFormat {
    enum Piece {
        case literal([UInt8])
        case key, value, partition, offset, timestamp, headers
    }

    let pieces: [Piece]
    /// What a null key or value prints as.
    let null: [UInt8]

    init(_ format: String, null: [UInt8] = []) throws {
        self.null = null
        var pieces: [Piece] = []
        var literal: [UInt8] = []
        var iterator = Array(format.utf8).makeIterator()
        func flush() {
            if !literal.isEmpty { pieces.append(.literal(literal)) }
            literal = []
        }
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "%"):
                guard let next = iterator.next() else { throw BrookError(.invalidRequest, "--format ends with a lone %") }
                let piece: Piece
                switch next {
                case UInt8(ascii: "k"): piece = .key
                case UInt8(ascii: "v"): piece = .value
                case UInt8(ascii: "p"): piece = .partition
                case UInt8(ascii: "o"): piece = .offset
                case UInt8(ascii: "t"): piece = .timestamp
                case UInt8(ascii: "h"): piece = .headers
                case UInt8(ascii: "%"):
                    literal.append(next)
                    continue
                default: throw BrookError(.invalidRequest, "--format has an unknown placeholder %\(UnicodeScalar(next))")
                }
                flush()
                pieces.append(piece)
            case UInt8(ascii: "\\"):
                switch iterator.next() {
                case UInt8(ascii: "n"): literal.append(10)
                case UInt8(ascii: "t"): literal.append(9)
                case UInt8(ascii: "r"): literal.append(13)
                case UInt8(ascii: "\\"): literal.append(UInt8(ascii: "\\"))
                case let other?: literal += [UInt8(ascii: "\\"), other]
                case nil: literal.append(UInt8(ascii: "\\"))
                }
            default:
                literal.append(byte)
            }
        }
        flush()
        self.pieces = pieces
    }

    func append(_ record: Record, partition: Int, to out: inout [UInt8]) {
        for piece in pieces {
            switch piece {
            case .literal(let bytes): out += bytes
            case .key: out += record.key ?? null
            case .value: out += record.value ?? null
            case .partition: out += Array(String(partition).utf8)
            case .offset: out += Array(String(record.offset).utf8)
            case .timestamp: out += Array(String(record.timestamp).utf8)
            case .headers:
                for (index, header) in record.headers.enumerated() {
                    if index > 0 { out.append(UInt8(ascii: ",")) }
                    out += Array(header.key.utf8)
                    out.append(UInt8(ascii: "="))
                    out += header.value
                }
            }
        }
    }
}
