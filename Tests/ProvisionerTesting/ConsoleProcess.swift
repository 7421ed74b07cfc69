import Foundation
import Synchronization

/// A program driven through its console, as a person at a serial terminal
/// would: QEMU with `-nographic` (its serial port on stdin/stdout), or
/// `ssh -tt … console BOARD` on a pseudo-terminal; waiting for patterns and
/// typing lines. Ended by its PID like `RunningProcess`.
///
/// Started with posix_spawn, not Foundation's Process: Process learns that a
/// child ended when a socket the child inherits closes, and then waits for it
/// in a blocking waitpid on the thread that watches every Process. OpenSSH
/// closes all inherited descriptors at start, so a long-running `ssh` would
/// hold that thread, and no other Process of the test run would be seen to end.
public final class ConsoleProcess: Sendable {
    public let pid: Int32
    /// The exit status once reaped (waitpid's status word).
    private let exitStatus = Mutex<Int32?>(nil)
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
            pid = try Self.spawn(path, arguments, stdin: slave.fileDescriptor, stdout: slave.fileDescriptor)
            input = master
            reader = master
        } else {
            let stdin = Pipe.closedOnExec()
            let stdout = Pipe.closedOnExec()
            defer {
                try? stdin.fileHandleForReading.close()
                try? stdout.fileHandleForWriting.close()
            }
            pid = try Self.spawn(path, arguments, stdin: stdin.fileHandleForReading.fileDescriptor,
                                 stdout: stdout.fileHandleForWriting.fileDescriptor)
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
    private static func spawn(_ path: String, _ arguments: [String], stdin: Int32, stdout: Int32) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdin, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_adddup2(&actions, stdout, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for number in [SIGPIPE, SIGCHLD, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH] { sigaddset(&defaults, number) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { for argument in argv { free(argument) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, path, &actions, &attributes, argv, environ)
        guard result == 0 else { throw TestSetupError("cannot start \(path): \(String(cString: strerror(result)))") }
        return pid
    }

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
    public var isRunning: Bool {
        exitStatus.withLock { status in
            guard status == nil else { return false }
            var word: Int32 = 0
            if waitpid(pid, &word, WNOHANG) == pid { status = word }
            return status == nil
        }
    }

    /// The exit code once the program has ended by itself (nil while it
    /// runs, or when a signal ended it).
    public var exitCode: Int32? {
        guard !isRunning else { return nil }
        return exitStatus.withLock { status in
            guard let status, status & 0x7f == 0 else { return nil }
            return (status >> 8) & 0xff
        }
    }

    /// Ends the program: SIGTERM, then SIGKILL after 3 s.
    public func stop() {
        guard isRunning else { return }
        kill(pid, SIGTERM)
        let deadline = ContinuousClock.now + .seconds(3)
        while isRunning && ContinuousClock.now < deadline { usleep(10_000) }
        guard isRunning else { return }
        kill(pid, SIGKILL)
        exitStatus.withLock { status in
            var word: Int32 = 0
            while waitpid(pid, &word, 0) == -1 && errno == EINTR {}
            status = word
        }
    }
}
