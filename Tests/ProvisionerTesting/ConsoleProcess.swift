import Foundation
import Synchronization

/// A program driven through its console, as a person at a serial terminal
/// would: QEMU with `-nographic` (its serial port on stdin/stdout), waiting
/// for patterns and typing lines. Ended by its PID like `RunningProcess`.
public final class ConsoleProcess: Sendable {
    public let pid: Int32
    private let process: Mutex<Process>
    private let input: FileHandle
    private let output = Output()

    /// Shared with the thread that reads the console.
    private final class Output: Sendable {
        let state = Mutex(State())
        func withLock<R>(_ body: (inout State) -> R) -> R { state.withLock { body(&$0) } }
    }

    private struct State {
        var text = ""
        /// Where the next `expect` starts looking, in UTF-16 units (the text
        /// grows, and "\r" + "\n" merge into one Character, so no String.Index).
        var cursor = 0
        var ended = false
    }

    public init(_ executable: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Tools.resolve(executable))
        process.arguments = arguments
        let stdin = Pipe.closedOnExec()
        let stdout = Pipe.closedOnExec()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stdout
        try RunningProcess.withSignalsUnblocked { try process.run() }
        pid = process.processIdentifier
        self.process = Mutex(process)
        input = stdin.fileHandleForWriting
        let reader = stdout.fileHandleForReading
        let output = self.output
        Thread.detachNewThread {
            while true {
                let chunk = reader.availableData
                if chunk.isEmpty { break }
                output.withLock { $0.text += String(decoding: chunk, as: UTF8.self) }
            }
            output.withLock { $0.ended = true }
        }
    }

    deinit { stop() }

    /// Everything the console printed so far.
    public var transcript: String { output.withLock { $0.text } }

    /// Types `text` as is (no newline added).
    public func send(_ text: String) {
        try? input.write(contentsOf: Data(text.utf8))
    }

    /// Types a line, ended with a carriage return as a terminal sends it.
    public func sendLine(_ line: String) { send(line + "\r") }

    /// Waits until `pattern` (a regular expression) appears after the last
    /// match, and returns its capture groups (group 0 first).
    @discardableResult
    public func expect(_ pattern: String, timeout: Duration = .seconds(30)) async throws -> [String] {
        let regex = try NSRegularExpression(pattern: pattern)
        let deadline = ContinuousClock.now + timeout
        while true {
            let found: [String]? = output.withLock { state in
                let text = state.text as NSString
                let range = NSRange(location: state.cursor, length: text.length - state.cursor)
                guard let match = regex.firstMatch(in: state.text, range: range) else { return nil }
                state.cursor = match.range.location + match.range.length
                return (0..<match.numberOfRanges).map { index in
                    let group = match.range(at: index)
                    return group.location == NSNotFound ? "" : text.substring(with: group)
                }
            }
            if let found { return found }
            let ended = output.withLock { $0.ended }
            if ended || ContinuousClock.now >= deadline {
                let tail = String(transcript.suffix(1500))
                throw TestSetupError("console: '\(pattern)' did not appear\(ended ? " (the program ended)" : " within \(timeout)"); last output:\n\(tail)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Ends the program: SIGTERM, then SIGKILL.
    public func stop() {
        let running = process.withLock { $0.isRunning }
        guard running else { return }
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(3)
        while process.withLock({ $0.isRunning }) && Date() < deadline { usleep(10_000) }
        if process.withLock({ $0.isRunning }) { kill(pid, SIGKILL) }
        process.withLock { $0.waitUntilExit() }
    }
}
