#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSystemSupport
import SystemSupport

/// Starting programs with posix_spawn: each in a process group of its own
/// (so a timeout can end a shell and everything it started), default signal
/// handling (the agent ignores SIGPIPE; a child must not inherit that), and
/// no descriptors of the agent but the ones given.
enum Subprocess {
    /// What a command run to its end printed, and how it ended.
    struct Result: Sendable {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Starts `arguments` (argv[0] a path) with stdin from /dev/null and
    /// stdout/stderr on the given descriptors. Returns the PID, which is also
    /// its process group ID.
    static func spawn(_ arguments: [String], stdout: Int32, stderr: Int32) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr, 2)
        // Nothing else of the agent: its listening sockets, serial ports and
        // logs would outlive it in the child (a QEMU left running held the
        // SSH port, and the next agent could not listen).
        let closing = CSystemSupport_spawn_close_from(&actions, 3)
        guard closing == 0 else { throw SystemError("cannot start \(arguments[0])", code: closing) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD] { sigaddset(&defaults, signal) }
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &mask)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let argv = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, arguments[0], &actions, &attributes, argv, environ)
        guard result == 0 else { throw SystemError("cannot start \(arguments[0])", code: result) }
        return pid
    }

    /// Runs `/bin/sh -c command` to its end; past `timeout` seconds its whole
    /// process group is killed and `BoardError` says so.
    static func runShell(_ command: String, timeout: Double) throws -> Result {
        let out = try makePipe()
        let err = try makePipe()
        let pid: pid_t
        do {
            pid = try spawn(["/bin/sh", "-c", command], stdout: out.write, stderr: err.write)
        } catch {
            for fd in [out.read, out.write, err.read, err.write] { close(fd) }
            throw error
        }
        close(out.write)
        close(err.write)
        defer {
            close(out.read)
            close(err.read)
        }
        var collected: [[UInt8]] = [[], []]
        var open = [true, true]
        let deadline = monotonicSeconds() + timeout
        var status: Int32 = 0
        var exited = false
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            if !exited && waitpid(pid, &status, WNOHANG) == pid { exited = true }
            // Read what is there; once the shell is gone, only what is left.
            var fds = [pollfd(fd: out.read, events: open[0] ? Int16(POLLIN) : 0, revents: 0),
                       pollfd(fd: err.read, events: open[1] ? Int16(POLLIN) : 0, revents: 0)]
            _ = poll(&fds, 2, exited ? 0 : 20)
            for index in 0..<2 where open[index] && fds[index].revents != 0 {
                let count = read(fds[index].fd, &chunk, chunk.count)
                if count > 0 {
                    if collected[index].count < 64 << 10 { collected[index] += chunk[..<count] }
                } else if count == 0 || errno != EINTR {
                    open[index] = false
                }
            }
            let pending = fds.indices.contains { open[$0] && fds[$0].revents != 0 }
            if exited && !pending { break }
            if !open[0] && !open[1] && !exited {
                // Both pipes closed: just wait for the shell.
                if waitpid(pid, &status, WNOHANG) == pid { exited = true; break }
                usleep(5_000)
            }
            if !exited && monotonicSeconds() >= deadline {
                kill(-pid, SIGKILL)
                while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
                throw BoardError("'\(command)' did not finish within \(formatSeconds(timeout)) and was killed")
            }
        }
        let code: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Result(status: code,
                      stdout: String(decoding: collected[0], as: UTF8.self),
                      stderr: String(decoding: collected[1], as: UTF8.self))
    }

    static func makePipe() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        try systemCall("pipe") { pipe(&fds) }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return (fds[0], fds[1])
    }
}

/// `1.5s`, `10s`.
func formatSeconds(_ seconds: Double) -> String {
    seconds == seconds.rounded() ? "\(Int(seconds))s" : "\(seconds)s"
}
