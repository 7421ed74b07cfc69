#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization

/// Starts helper programs (busybox `ip`, `udhcpc`, `sh`) and, as PID 1,
/// reaps orphans. Waiting for one child and reaping others share a lock, so
/// the reaper never takes the exit status a `run` is waiting for.
public final class ChildProcesses: Sendable {
    private let lock = Mutex<Void>(())

    public init() {}

    /// Runs `arguments[0]` (a path) with the rest as arguments; returns its
    /// exit status (128 + signal if killed), or nil if it could not start.
    @discardableResult
    public func run(_ arguments: [String], environment: [String] = ["PATH=/bin:/sbin:/usr/bin:/usr/sbin"]) -> Int32? {
        lock.withLock { _ in
            guard let pid = spawn(arguments, environment: environment) else { return nil }
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 {
                guard errno == EINTR else { return nil }
            }
            if status & 0x7f == 0 { return (status >> 8) & 0xff }
            return 128 + (status & 0x7f)
        }
    }

    /// Reaps every child that has ended, unless a `run` is waiting.
    public func reapOrphans() {
        _ = lock.withLockIfAvailable { _ in
            var status: Int32 = 0
            while waitpid(-1, &status, WNOHANG) > 0 {}
        }
    }

    private func spawn(_ arguments: [String], environment: [String]) -> pid_t? {
        var pid: pid_t = 0
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        let result = posix_spawn(&pid, arguments[0], nil, nil, argv, envp)
        return result == 0 ? pid : nil
    }
}
