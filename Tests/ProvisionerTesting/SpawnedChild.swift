import Foundation
import Synchronization

/// A program started with posix_spawn and followed by its PID alone.
///
/// Not Foundation's `Process`: it learns that a child ended when the child
/// closes a socket it inherited, then reaps it with a blocking waitpid on its
/// one monitoring thread. OpenSSH's ssh and sshd close every inherited
/// descriptor at start, so that thread blocked on a live `ssh` (a console
/// held open by one test) and no other test's program was seen to end until
/// it did: a test waiting on one of those, while holding that console, hung
/// for good. Here each child is polled with waitpid(WNOHANG) by whoever asks.
public final class SpawnedChild: Sendable {
    public let pid: pid_t
    /// The wait status once reaped.
    private let status = Mutex<Int32?>(nil)

    /// Starts `path` with its stdin, stdout and stderr on these descriptors
    /// (every other descriptor closed), the signal mask empty and the usual
    /// signals at their defaults, in `workingDirectory`, with `environment`
    /// (nil: this process's).
    public init(_ path: String, _ arguments: [String], stdin: Int32, stdout: Int32, stderr: Int32,
         workingDirectory: String? = nil, environment: [String: String]? = nil) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdin, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr, 2)
        _ = Self.addClosefrom?(&actions, 3)
        if let workingDirectory {
            guard let addChdir = Self.addChdir else { throw TestSetupError("this C library cannot spawn in a folder") }
            _ = addChdir(&actions, workingDirectory)
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The test pool's threads block nearly every signal, and a child
        // inherits the mask: cleared, or SIGTERM would not end it.
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for number in [SIGPIPE, SIGCHLD, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH, SIGALRM, SIGUSR1, SIGUSR2] {
            sigaddset(&defaults, number)
        }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { for argument in argv { free(argument) } }
        let variables = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for variable in variables { free(variable) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, path, &actions, &attributes, argv, variables)
        guard result == 0 else { throw TestSetupError("cannot start \(path): \(String(cString: strerror(result)))") }
        self.pid = pid
    }

    // glibc's GNU extensions (2.29, 2.34), which Swift's Glibc module does not declare.
    private typealias AddClosefrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32
    private typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, UnsafePointer<CChar>?) -> Int32
    private static let addClosefrom: AddClosefrom? = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np")
        .map { unsafeBitCast($0, to: AddClosefrom.self) }
    private static let addChdir: AddChdir? = dlsym(nil, "posix_spawn_file_actions_addchdir_np")
        .map { unsafeBitCast($0, to: AddChdir.self) }

    /// True until the child has ended (and is reaped).
    public var isRunning: Bool {
        status.withLock { status in
            guard status == nil else { return false }
            var word: Int32 = 0
            if waitpid(pid, &word, WNOHANG) == pid { status = word }
            return status == nil
        }
    }

    /// The exit code, or 128 + the signal that ended it (as shells say);
    /// nil while it runs.
    public var exitCode: Int32? {
        guard !isRunning, let word = status.withLock({ $0 }) else { return nil }
        let signal = word & 0x7f
        return signal == 0 ? (word >> 8) & 0xff : 128 + signal
    }

    /// Sends `number` while the child runs (never to a reaped PID).
    public func signal(_ number: Int32) {
        status.withLock { status in
            if status == nil { _ = kill(pid, number) }
        }
    }

    /// Waits until the child ends (blocking this thread).
    public func waitUntilExit() {
        while isRunning { usleep(5_000) }
    }
}

/// Processes whose command line mentions `text` (QEMU names its QMP socket
/// and pty link, both in the test's folder).
public func processIDs(withArgument text: String) -> [Int32] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap(Int32.init).filter { pid in
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
        return String(decoding: data, as: UTF8.self).contains(text)
    }
}
