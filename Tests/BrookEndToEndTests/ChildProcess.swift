import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A child process for the tests, started with `posix_spawn`. Foundation's `Process.run()` on
/// Linux now and then crashes the process that calls it: listing /proc/self/fd to close every
/// descriptor in the child, it copies each entry's whole 256-byte name and can read past glibc's
/// buffer into an unmapped page (swift-corelibs-foundation #5472, fixed after Swift 6.3.1).
/// This keeps the little of `Process`'s interface the tests use.
final class ChildProcess: @unchecked Sendable {
    enum TerminationReason { case exit, uncaughtSignal }

    var executableURL: URL?
    var arguments: [String] = []
    /// Files for the child's standard streams; nil is /dev/null. Output is appended.
    var standardInputPath: String?
    var standardOutputPath: String?
    var standardErrorPath: String?

    private let lock = NSLock()
    // Guarded by `lock`.
    private var pid: pid_t = 0
    private var status: Int32?
    private var exitHandlers: [@Sendable () -> Void] = []

    var processIdentifier: Int32 { lock.withLock { pid } }
    var isRunning: Bool { lock.withLock { pid != 0 && status == nil } }

    /// The exit status, or the signal that ended the child.
    var terminationStatus: Int32 {
        guard let status = lock.withLock({ self.status }) else { return 0 }
        return status & 0x7f == 0 ? (status >> 8) & 0xff : status & 0x7f
    }

    var terminationReason: TerminationReason {
        guard let status = lock.withLock({ self.status }) else { return .exit }
        return status & 0x7f == 0 ? .exit : .uncaughtSignal
    }

    /// Errors from `posix_spawn` and its file actions.
    struct SpawnError: Error, CustomStringConvertible {
        var call: String
        var code: Int32
        var description: String { "\(call) failed: \(String(cString: strerror(code)))" }
    }

    /// posix_spawn_file_actions_addclosefrom_np (glibc 2.34), which Swift's Glibc module does
    /// not declare: closes every descriptor from 3 up in the child, so it inherits none.
    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, CInt) -> CInt
    private static let addCloseFrom: AddCloseFrom? = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np")
        .map { unsafeBitCast($0, to: AddCloseFrom.self) }

    /// Starts the child; a thread waits for its exit.
    func run() throws {
        guard let executable = executableURL?.path else { throw SpawnError(call: "run (no executable)", code: EINVAL) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        func check(_ call: String, _ code: Int32) throws {
            if code != 0 { throw SpawnError(call: call, code: code) }
        }
        try check("addopen stdin", posix_spawn_file_actions_addopen(&actions, 0, standardInputPath ?? "/dev/null", O_RDONLY, 0))
        try check("addopen stdout", posix_spawn_file_actions_addopen(&actions, 1, standardOutputPath ?? "/dev/null", O_WRONLY | O_APPEND, 0))
        try check("addopen stderr", posix_spawn_file_actions_addopen(&actions, 2, standardErrorPath ?? "/dev/null", O_WRONLY | O_APPEND, 0))
        guard let addCloseFrom = Self.addCloseFrom else { throw SpawnError(call: "posix_spawn_file_actions_addclosefrom_np (glibc 2.34+)", code: ENOSYS) }
        try check("addclosefrom", addCloseFrom(&actions, 3))
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Its own process group, as Process does: a signal to the tests' group does not reach it.
        try check("setflags", posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP)))

        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var child: pid_t = 0
        lock.lock()
        defer { lock.unlock() }
        precondition(pid == 0, "a ChildProcess runs once")
        try check("posix_spawn \(executable)", posix_spawn(&child, executable, &actions, &attributes, argv, environ))
        pid = child
        let spawned = child
        let thread = Thread { [self] in self.reap(spawned) }
        thread.start()
    }

    private func reap(_ child: pid_t) {
        var status: Int32 = 0
        while waitpid(child, &status, 0) == -1 && errno == EINTR {}
        let handlers = lock.withLock {
            self.status = status
            defer { exitHandlers = [] }
            return exitHandlers
        }
        for handler in handlers { handler() }
    }

    /// Runs `body` once the child has exited (at once if it has).
    func whenExited(_ body: @escaping @Sendable () -> Void) {
        let exited = lock.withLock {
            if status != nil { return true }
            exitHandlers.append(body)
            return false
        }
        if exited { body() }
    }

    /// Sends SIGTERM.
    func terminate() {
        let child = processIdentifier
        if child != 0 { kill(child, SIGTERM) }
    }
}

#if canImport(Testing)
import BrookTestSupport
import Testing

struct ChildProcessTests {
    @Test func theChildInheritsOnlyItsStandardStreams() async throws {
        let dir = TemporaryDirectory("brook-child")
        let out = dir.file("fds")
        FileManager.default.createFile(atPath: out, contents: nil)
        // A descriptor of the tests' process without close-on-exec: the child must not get it.
        let held = open(dir.file("held"), O_CREAT | O_WRONLY, 0o600)
        defer { close(held) }
        #expect(held > 2)
        let child = ChildProcess()
        child.executableURL = URL(fileURLWithPath: "/bin/ls")
        child.arguments = ["/proc/self/fd"]
        child.standardOutputPath = out
        try await CLI.exit(of: child)
        #expect(child.terminationReason == .exit && child.terminationStatus == 0)
        // ls's own descriptor on the directory it lists is 3.
        #expect(try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n") == ["0", "1", "2", "3"])
    }

    @Test func anExitStatusAndASignalAreTold() async throws {
        let exits = ChildProcess()
        exits.executableURL = URL(fileURLWithPath: "/bin/sh")
        exits.arguments = ["-c", "exit 7"]
        try await CLI.exit(of: exits)
        #expect(exits.terminationReason == .exit && exits.terminationStatus == 7)
        let killed = ChildProcess()
        killed.executableURL = URL(fileURLWithPath: "/bin/sh")
        killed.arguments = ["-c", "kill -KILL $$"]
        try await CLI.exit(of: killed)
        #expect(killed.terminationReason == .uncaughtSignal && killed.terminationStatus == SIGKILL)
        #expect(!killed.isRunning)
    }
}
#endif
