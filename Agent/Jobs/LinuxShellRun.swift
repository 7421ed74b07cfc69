#if canImport(Glibc)
import Glibc
#endif
import AgentCore
import Foundation
import SystemSupport

/// `run`: one command in a booted board's Linux shell, over its console,
/// the way a person at the serial terminal would type it. Ctrl-C first (a
/// shell that is busy comes back to its prompt), Enter, then either a
/// `login:` prompt (the profile's `linux.login` and password) or the shell
/// prompt; then the command, framed by two markers that only the shell's
/// output can contain (the typed line says `PVB TOKEN`, the output
/// `PVB_TOKEN`), in a subshell, so `exit 7` ends it with 7 and not the
/// shell. What comes between the markers is the output: echo and prompts
/// stay out, and so do whole kernel lines (`[   12.345678] …`).
public struct LinuxShellRun {
    public enum Outcome: Sendable, Equatable {
        /// The command ended with this status (0–255).
        case exited(Int32)
        /// The time ran out (Ctrl-C was sent); the output so far was passed on.
        case timedOut
    }

    /// Runs `commandLine` and passes its output on as it comes (`output`,
    /// "\n" line ends). Throws when no shell could be reached, or when cancelled.
    public static func run(_ commandLine: String, console: any ConsoleHub, linux: UBootProfile.Linux, timeout: Double,
                           isCancelled: @escaping @Sendable () -> Bool,
                           output: (String) -> Void) throws(ExpectFailure) -> Outcome {
        let expect = ConsoleExpect(console: console, isCancelled: isCancelled)
        defer { expect.detach() }
        // Busybox's line editor asks the terminal where its cursor is (ESC [6n)
        // right after the prompt: escape sequences may follow it.
        let prompt = try pattern(linux.prompt.map { $0 } ?? #"[#$] (?:\x1B\[[0-9;?]{0,8}[A-Za-z]){0,3}\z"#, literal: linux.prompt != nil)
        let login = try pattern(#"login: ?\z"#, literal: false)

        try expect.send("\u{03}")
        usleep(50_000)
        expect.discardOutput()
        try expect.sendLine("")
        let first = try expect.expect([prompt, login], timeout: 10)
        if first.index == 1 {
            try expect.sendLine(linux.login)
            if let file = linux.passwordFile {
                _ = try expect.expect([try pattern(#"assword: ?\z"#, literal: false)], timeout: 10)
                let password: String
                do {
                    password = try readPassword(file)
                } catch {
                    throw ExpectFailure(reason: "cannot read the password file \(file): \(error)", recentLines: [])
                }
                try expect.send(password + "\r")
            }
            _ = try expect.expect([prompt], fail: [.literal("Login incorrect")], timeout: 20)
        }

        let token = randomBytes(6).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        // (Literal and without line ends: Swift's String holds CR LF as one Character.)
        let begin = ExpectPattern.literal("PVB_\(token)")
        let end = try pattern("PVE_\(token):([0-9]{1,3})", literal: false)
        expect.discardOutput()
        try expect.sendLine(" printf '%s_%s\\n' PVB \(token); ( \(commandLine) ); printf '\\n%s_%s:%d\\n' PVE \(token) $?")
        _ = try expect.expect([begin], timeout: 10)

        var filter = RunOutputFilter()
        let deadline = monotonicSeconds() + timeout
        while true {
            let left = deadline - monotonicSeconds()
            guard left > 0 else {
                output(filter.feed(expect.takeOutput(keepingLast: 0)) + filter.finish(atEndMarker: false))
                try? expect.send("\u{03}")
                return .timedOut
            }
            do {
                let match = try expect.expect([end], timeout: min(0.2, left))
                output(filter.feed(Array(match.before.utf8)) + filter.finish(atEndMarker: true))
                let digits = match.matched.split(separator: ":").last.map(String.init) ?? ""
                return .exited(Int32(digits).map { min(max($0, 0), 255) } ?? 255)
            } catch where error.timedOut {
                output(filter.feed(expect.takeOutput(keepingLast: 64)))
            }
        }
    }

    static func pattern(_ text: String, literal: Bool) throws(ExpectFailure) -> ExpectPattern {
        if literal { return .literal(text) }
        do { return try .regex(text) } catch { throw ExpectFailure(reason: "\(error)", recentLines: []) }
    }

    /// The file's first line.
    static func readPassword(_ path: String) throws -> String {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return String(text.prefix { $0 != "\n" && $0 != "\r" })
    }
}

/// The output between the markers, line by line: the rest of the begin
/// marker's line is skipped, CR LF becomes LF, whole kernel lines are
/// dropped, and the last line end is held back: the one before the end
/// marker is its `printf '\n…'`'s, not the command's.
struct RunOutputFilter {
    private var partial: [UInt8] = []
    private var skippingMarkerLine = true
    private var heldNewline = false

    /// The complete lines so far, filtered, but the last line end.
    mutating func feed(_ bytes: [UInt8]) -> String {
        partial += bytes
        var text = ""
        while let newline = partial.firstIndex(of: 0x0A) {
            var line = partial[..<newline]
            if line.last == 0x0D { line = line.dropLast() }
            let string = String(decoding: line, as: UTF8.self)
            partial.removeFirst(newline + 1)
            if skippingMarkerLine {
                skippingMarkerLine = false
                continue
            }
            if Self.isKernelMessage(string) { continue }
            if heldNewline { text += "\n" }
            text += string
            heldNewline = true
        }
        return text
    }

    /// What is left: at the end marker, without its line end; cut short
    /// (a timeout), all of it.
    mutating func finish(atEndMarker: Bool) -> String {
        defer {
            partial.removeAll()
            heldNewline = false
        }
        let rest = String(decoding: partial.last == 0x0D ? partial.dropLast() : partial[...], as: UTF8.self)
        if rest.isEmpty { return heldNewline && !atEndMarker ? "\n" : "" }
        return (heldNewline ? "\n" : "") + rest
    }

    /// `[   12.345678] …`: printk's time stamp opens the line.
    static func isKernelMessage(_ line: String) -> Bool {
        line.wholeMatch(of: /\[ *[0-9]+\.[0-9]+\] .*/) != nil
    }
}
