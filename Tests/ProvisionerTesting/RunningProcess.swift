import Foundation
import Synchronization

/// A program under test (started with posix_spawn, see SpawnedChild), its
/// stdout and stderr captured to files (no pipe can fill up and stall it).
///
/// It is always ended by its PID: `terminate()` sends SIGTERM, then SIGKILL
/// after a grace period; `deinit` does the same for a process still running,
/// so a test that throws half-way leaves no stray server behind.
public final class RunningProcess: Sendable {
    public let executable: String
    public let arguments: [String]
    /// The process ID, for logs and for `kill`.
    public let pid: Int32
    public let stdoutPath: String
    public let stderrPath: String

    private let child: SpawnedChild
    private let outputFolder: TemporaryDirectory

    /// Starts `executable` (a path, or a name looked up in PATH) with
    /// `arguments`; stdin is the file at `stdinPath`, or /dev/null.
    public init(_ executable: String, _ arguments: [String], workingDirectory: String? = nil,
                environment: [String: String]? = nil, stdinPath: String? = nil) throws {
        let path = try Tools.resolve(executable)
        self.executable = path
        self.arguments = arguments
        outputFolder = try TemporaryDirectory(prefix: "process-output")
        stdoutPath = outputFolder.path("stdout")
        stderrPath = outputFolder.path("stderr")
        let input = open(stdinPath ?? "/dev/null", O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw TestSetupError("cannot read \(stdinPath ?? "/dev/null")") }
        defer { close(input) }
        let out = open(stdoutPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        defer { if out >= 0 { close(out) } }
        let err = open(stderrPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        defer { if err >= 0 { close(err) } }
        guard out >= 0, err >= 0 else { throw TestSetupError("cannot open the output files in \(outputFolder.path)") }
        child = try SpawnedChild(path, arguments, stdin: input, stdout: out, stderr: err,
                                 workingDirectory: workingDirectory, environment: environment)
        pid = child.pid
    }

    deinit {
        if isRunning {
            signal(SIGTERM)
            let deadline = Date().addingTimeInterval(2)
            while isRunning && Date() < deadline { usleep(10_000) }
            if isRunning { signal(SIGKILL) }
        }
        child.waitUntilExit()
    }

    /// The command line, for messages.
    public var commandLine: String { ([executable] + arguments).joined(separator: " ") }

    public var isRunning: Bool { child.isRunning }

    /// Everything the process printed on stdout so far.
    public var stdout: String { Self.read(stdoutPath) }
    /// Everything the process printed on stderr so far.
    public var stderr: String { Self.read(stderrPath) }

    /// The exit status once the process has ended: its exit code, or
    /// 128 + the signal number when a signal ended it (as shells report it).
    public var exitCode: Int32? { child.exitCode }

    /// Sends `signal` to the process, by its PID, while it runs.
    public func signal(_ number: Int32) { child.signal(number) }

    /// Waits for the process to end on its own; nil when `timeout` passed first.
    public func waitForExit(timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while isRunning {
            if ContinuousClock.now >= deadline { return nil }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return exitCode
    }

    /// Ends the process: SIGTERM, then SIGKILL after `grace`. Returns its exit status.
    @discardableResult
    public func terminate(grace: Duration = .seconds(2)) async -> Int32 {
        signal(SIGTERM)
        if let code = await waitForExit(timeout: grace) { return code }
        signal(SIGKILL)
        while isRunning { try? await Task.sleep(for: .milliseconds(5)) }
        return exitCode ?? -1
    }

    /// Which of the captured streams to watch.
    public enum Stream: Sendable { case stdout, stderr }

    /// Waits until a line of `stream` contains `text` and returns that line.
    /// Throws with everything the process printed when `timeout` passes or
    /// the process ends first.
    @discardableResult
    public func waitForLine(containing text: String, in stream: Stream = .stderr,
                            timeout: Duration = .seconds(10)) async throws -> String {
        try await waitForLine(in: stream, timeout: timeout, describedAs: "'\(text)'") { $0.contains(text) }
    }

    /// Waits until a line of `stream` satisfies `matches` and returns it.
    @discardableResult
    public func waitForLine(in stream: Stream = .stderr, timeout: Duration = .seconds(10), describedAs description: String,
                            where matches: (Substring) -> Bool) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while true {
            let running = isRunning  // read before the output, so no last line is missed
            let output = stream == .stdout ? stdout : stderr
            if let line = output.split(separator: "\n").first(where: matches) { return String(line) }
            if !running {
                throw ProcessFailure("\(commandLine) ended (status \(exitCode ?? -1)) before printing a line with \(description)",
                                     stdout: stdout, stderr: stderr)
            }
            if ContinuousClock.now >= deadline {
                throw ProcessFailure("\(commandLine) printed no line with \(description) within \(timeout)",
                                     stdout: stdout, stderr: stderr)
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Runs a program to its end (killed after `timeout`) and returns its
    /// exit status and output.
    public static func run(_ executable: String, _ arguments: [String], timeout: Duration = .seconds(60),
                           workingDirectory: String? = nil, environment: [String: String]? = nil,
                           stdinPath: String? = nil) async throws -> ProcessResult {
        let process = try RunningProcess(executable, arguments, workingDirectory: workingDirectory, environment: environment,
                                         stdinPath: stdinPath)
        var timedOut = false
        var code = await process.waitForExit(timeout: timeout)
        if code == nil {
            timedOut = true
            code = await process.terminate()
        }
        return ProcessResult(commandLine: process.commandLine, exitCode: code ?? -1, stdout: process.stdout,
                             stderr: process.stderr, timedOut: timedOut)
    }

    /// The child inherits the signal mask of the thread that spawns it, and
    /// the test pool's threads (libdispatch workers) block nearly every
    /// signal: a program started from there would ignore SIGTERM and only
    /// SIGKILL would end it (Foundation's Process does not reset the mask).
    /// So the mask is cleared around the spawn.
    public static func withSignalsUnblocked<T>(_ body: () throws -> T) rethrows -> T {
        var none = sigset_t()
        var saved = sigset_t()
        sigemptyset(&none)
        pthread_sigmask(SIG_SETMASK, &none, &saved)
        defer { pthread_sigmask(SIG_SETMASK, &saved, nil) }
        return try body()
    }

    private static func read(_ path: String) -> String {
        guard let data = FileManager.default.contents(atPath: path) else { return "" }
        return String(decoding: data, as: UTF8.self)
    }
}

/// How a program that ran to its end ended.
public struct ProcessResult: Sendable, CustomStringConvertible {
    public let commandLine: String
    /// The exit code, or 128 + the signal number.
    public let exitCode: Int32
    public let stdout: String
    public let stderr: String
    /// It did not end within its time and was killed.
    public let timedOut: Bool

    /// stdout then stderr, for clients that report errors on either.
    public var output: String { stdout + stderr }

    /// The non-empty lines of stderr.
    public var stderrLines: [String] {
        stderr.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
    }

    public var description: String {
        var text = "\(commandLine)\n  exit status \(exitCode)\(timedOut ? " (killed: timed out)" : "")"
        if !stdout.isEmpty { text += "\n  stdout: \(stdout.trimmingCharacters(in: .whitespacesAndNewlines))" }
        if !stderr.isEmpty { text += "\n  stderr: \(stderr.trimmingCharacters(in: .whitespacesAndNewlines))" }
        return text
    }
}

/// A process did not do what a test waited for; carries what it printed.
public struct ProcessFailure: Error, CustomStringConvertible {
    public let description: String

    public init(_ what: String, stdout: String, stderr: String) {
        var text = what
        if !stdout.isEmpty { text += "\n--- stdout:\n\(stdout)" }
        if !stderr.isEmpty { text += "\n--- stderr:\n\(stderr)" }
        description = text
    }
}

extension Pipe {
    /// A pipe whose ends are not inherited by programs other tests start at
    /// the same moment (Foundation's pipes are not close-on-exec): a stray
    /// copy of a write end would keep a reader waiting for EOF forever.
    /// Process still hands them to its own child (dup2 clears the flag).
    public static func closedOnExec() -> Pipe {
        let pipe = Pipe()
        for handle in [pipe.fileHandleForReading, pipe.fileHandleForWriting] {
            _ = fcntl(handle.fileDescriptor, F_SETFD, FD_CLOEXEC)
        }
        return pipe
    }
}
