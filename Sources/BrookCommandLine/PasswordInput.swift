import BrookModel
#if canImport(Glibc)
import Glibc
#endif

/// Reads a password without it ever being an argument: a line of standard input when that is
/// not a terminal (scripts, `printf %s "$PW" | brook users add NAME`), else a prompt on the
/// terminal with echo off.
public enum PasswordInput {
    public static func read(for user: String, confirm: Bool) throws(BrookError) -> String {
        if isatty(STDIN_FILENO) == 0 {
            guard let line = readLine(strippingNewline: true), !line.isEmpty else {
                throw BrookError(.invalidRequest, "no password for user '\(user)' on standard input: pipe one line, e.g. printf '%s\\n' \"$PASSWORD\" | brook users add \(user)")
            }
            return line.hasSuffix("\r") ? String(line.dropLast()) : line
        }
        let first = prompt("password for \(user): ")
        guard !first.isEmpty else {
            throw BrookError(.invalidRequest, "the password for user '\(user)' is empty: type at least one character")
        }
        if confirm, prompt("again: ") != first {
            throw BrookError(.invalidRequest, "the two passwords typed for user '\(user)' differ: nothing was changed, try again")
        }
        return first
    }

    private static func prompt(_ text: String) -> String {
        Output.error(text, newline: false)
        var saved = termios()
        tcgetattr(STDIN_FILENO, &saved)
        var quiet = saved
        quiet.c_lflag &= ~tcflag_t(ECHO)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet)
        defer {
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved)
            Output.error("")
        }
        return readLine(strippingNewline: true) ?? ""
    }
}
