import Foundation
import Synchronization

/// A program driven through its console, as a person at a serial terminal
/// would: QEMU with `-nographic` (its serial port on stdin/stdout), or
/// `ssh -tt … console BOARD` on a pseudo-terminal; waiting for patterns and
/// typing lines. Ended by its PID like `RunningProcess`.
///
/// Started with posix_spawn and followed by its PID (SpawnedChild says why).
public final class ConsoleProcess: Sendable {
    public var pid: Int32 { child.pid }
    private let child: SpawnedChild
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

    /// Starts `executable` with its stdin, stdout and stderr on pipes, or with
    /// `terminal` on the slave side of a new pseudo-terminal (the program sees
    /// a tty, as `ssh -tt` from a person's shell does, and sets it raw itself).
    public init(_ executable: String, _ arguments: [String], terminal: Bool = false) throws {
        let path = try Tools.resolve(executable)
        let reader: FileHandle
        if terminal {
            let (master, slave) = try Self.openPseudoTerminal()
            defer { try? slave.close() }  // the child's copies keep it open; EIO on the master once it ends
            child = try SpawnedChild(path, arguments, stdin: slave.fileDescriptor, stdout: slave.fileDescriptor,
                                     stderr: slave.fileDescriptor)
            input = master
            reader = master
        } else {
            let stdin = Pipe.closedOnExec()
            let stdout = Pipe.closedOnExec()
            defer {
                try? stdin.fileHandleForReading.close()
                try? stdout.fileHandleForWriting.close()
            }
            child = try SpawnedChild(path, arguments, stdin: stdin.fileHandleForReading.fileDescriptor,
                                     stdout: stdout.fileHandleForWriting.fileDescriptor,
                                     stderr: stdout.fileHandleForWriting.fileDescriptor)
            input = stdin.fileHandleForWriting
            reader = stdout.fileHandleForReading
        }
        let output = self.output
        Thread.detachNewThread {
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let count = read(reader.fileDescriptor, &buffer, buffer.count)
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { break }  // end of file, or EIO: the pty's slave side closed
                output.withLock { $0.text += String(decoding: buffer[..<count], as: UTF8.self) }
            }
            output.withLock { $0.ended = true }
        }
    }

    /// Starts `path` with stdin `stdin` and stdout and stderr `stdout`, every
    /// signal unblocked and the usual ones at their default action (the test
    /// pool's threads block nearly all: see `RunningProcess.withSignalsUnblocked`).
    /// A new pseudo-terminal: its master side (ours) and slave side (the program's), both close-on-exec.
    private static func openPseudoTerminal() throws -> (master: FileHandle, slave: FileHandle) {
        var master: Int32 = -1
        var slave: Int32 = -1
        guard openpty(&master, &slave, nil, nil, nil) == 0 else {
            throw TestSetupError("openpty: \(String(cString: strerror(errno)))")
        }
        for fd in [master, slave] { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return (FileHandle(fileDescriptor: master, closeOnDealloc: true),
                FileHandle(fileDescriptor: slave, closeOnDealloc: true))
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

    /// True until the program has ended (and is reaped).
    public var isRunning: Bool { child.isRunning }

    /// The exit code once the program has ended by itself (nil while it
    /// runs, or when a signal ended it).
    public var exitCode: Int32? {
        guard let code = child.exitCode, code < 128 else { return nil }
        return code
    }

    /// Ends the program: SIGTERM, then SIGKILL after 3 s.
    public func stop() {
        guard isRunning else { return }
        child.signal(SIGTERM)
        let deadline = ContinuousClock.now + .seconds(3)
        while isRunning && ContinuousClock.now < deadline { usleep(10_000) }
        guard isRunning else { return }
        child.signal(SIGKILL)
        child.waitUntilExit()
    }
}
