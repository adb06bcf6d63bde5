import ArgumentParser
import BrookClient
import BrookCommandLine
import BrookModel
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Nanoseconds on the wall clock, comparable across the soak's processes on one machine.
func wallNanos() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

/// Lines appended to a file with plain `write(2)`: once written they survive a SIGKILL of the
/// writer, which is what the soak's ledger needs.
final class LedgerFile: Sendable {
    private let descriptor: Int32

    init(path: String) throws {
        descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw BrookError(.storageError, "cannot open '\(path)': \(String(cString: strerror(errno)))") }
    }

    deinit { close(descriptor) }

    func append(_ text: String) {
        Output.writeAll(descriptor, Array(text.utf8))
    }
}

/// `brook soak consumer`: one member of the soak's group, run as its own process so that the
/// soak can SIGKILL it. Every delivery is written to the ledger before it is committed, and every
/// acknowledged commit after: `D <ns> <partition> <offset> <value>` and `C <ns> <partition> <next>`.
struct SoakConsumer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consumer", abstract: "One consumer-group member of a soak (started by `brook soak run`).")

    @OptionGroup var server: ServerOptions
    @Option var group = "soak"
    @Option var topic = "soak"
    @Option(help: "The ledger file to append deliveries and commits to.")
    var ledger: String

    func run() async throws {
        let ledger = try LedgerFile(path: ledger)
        let stop = Atomic<Bool>(false)
        signal(SIGTERM, SIG_IGN)
        let terminate = DispatchSource.makeSignalSource(signal: SIGTERM)
        terminate.setEventHandler { stop.store(true, ordering: .relaxed) }
        terminate.resume()

        var client: BrookClient?
        while client == nil && !stop.load(ordering: .relaxed) {
            client = try? await server.connect()
            if client == nil { try await Task.sleep(for: .milliseconds(200)) }
        }
        guard let client else { return }
        var configuration = ConsumerConfiguration(group: group, topics: [topic])
        configuration.enableAutoCommit = false
        configuration.autoOffsetReset = .earliest
        configuration.sessionTimeoutMs = 10_000
        configuration.heartbeatIntervalMs = 1_000
        configuration.rebalanceTimeoutMs = 10_000
        configuration.pollWaitMs = 200
        let consumer = GroupConsumer(client: client, configuration: configuration)
        while !stop.load(ordering: .relaxed) {
            do {
                let batch = try await consumer.poll()
                guard !batch.isEmpty else { continue }
                var text = ""
                var next: [Int: Int64] = [:]
                for item in batch {
                    let value = String(decoding: item.record.value ?? [], as: UTF8.self)
                    text += "D \(wallNanos()) \(item.partition.partition) \(item.record.offset) \(value)\n"
                    next[item.partition.partition] = item.record.offset + 1
                }
                ledger.append(text)
                try await consumer.commitSync()
                let at = wallNanos()
                // A partition revoked meanwhile was not committed by this member: only the
                // partitions it still holds count as acknowledged commits.
                let held = Set(await consumer.assignment.map(\.partition))
                ledger.append(next.filter { held.contains($0.key) }.map { "C \(at) \($0.key) \($0.value)\n" }.joined())
            } catch {
                ledger.append("E \(wallNanos()) \(error)\n".replacingOccurrences(of: "\n", with: " ") + "\n")
                try? await Task.sleep(for: .milliseconds(200))
            }
        }
        await consumer.close()
        await client.close()
    }
}

/// A child process of the soak (the broker or a consumer), with its stderr in a log file.
final class SoakChild: @unchecked Sendable {
    let process = Process()
    let name: String
    let log: String
    private let exited = StopFlag()

    init(name: String, executable: String, arguments: [String], log: String) throws {
        self.name = name
        self.log = log
        // Appended to: a restarted server keeps the log of its earlier incarnations.
        if !FileManager.default.fileExists(atPath: log) { _ = FileManager.default.createFile(atPath: log, contents: nil) }
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        handle.seekToEndOfFile()
        process.standardError = handle
        process.standardOutput = FileHandle.nullDevice
        let exited = self.exited
        process.terminationHandler = { _ in exited.raise() }
        try process.run()
        try handle.close()
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { !exited.isRaised }

    /// Sends `signal` and waits (up to 30 s) for the process to exit; whether it did.
    @discardableResult
    func stop(_ signal: Int32) async -> Bool {
        guard isRunning else { return true }
        kill(pid, signal)
        for _ in 0..<3_000 where isRunning { try? await Task.sleep(for: .milliseconds(10)) }
        return !isRunning
    }

    /// Resident memory in bytes and open descriptors, from /proc.
    func usage() -> (rss: Int, fds: Int)? {
        guard isRunning, let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        let rssKB = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
            .flatMap { Int($0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") } ?? 0
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? 0
        return (rssKB * 1_024, fds)
    }
}

/// Blocking loopback sockets for the soak's misbehaving clients.
enum RawSocket {
    /// A connected loopback socket, or nil.
    static func connect(port: Int, receiveBuffer: Int32? = nil) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        if var size = receiveBuffer {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            return nil
        }
        return fd
    }

    /// Writes all of `bytes` unless the socket fails or would block; returns whether it did.
    @discardableResult
    static func send(_ fd: Int32, _ bytes: [UInt8], flags: Int32 = Int32(MSG_NOSIGNAL)) -> Bool {
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let sent = Glibc.send(fd, raw.baseAddress! + offset, raw.count - offset, flags)
                if sent <= 0 { return false }
                offset += sent
            }
            return true
        }
    }

    /// Closes with a reset instead of an orderly FIN.
    static func reset(_ fd: Int32) {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        close(fd)
    }

    /// A loopback port that was free a moment ago.
    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
