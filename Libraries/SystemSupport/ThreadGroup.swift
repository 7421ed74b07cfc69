#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The threads of one service, so that stopping it can wait until they
/// ended: every thread `startThread` starts from a thread where the group is
/// current (`adopt`), and, since such a thread runs with its group current,
/// every thread it starts in turn — an SSH port's listening thread, its
/// connection threads, and the command threads those start.
///
/// Only threads started with `startThread` are counted; a C library's own
/// threads (libmicrohttpd's) are joined by the library's stop call.
public final class ThreadGroup: @unchecked Sendable {
    public let name: String
    private let lock = ConditionLock()
    /// The threads running, by name: how many of each.
    private var running: [String: Int] = [:]  // guarded by `lock`

    public init(name: String) {
        self.name = name
    }

    /// The group of the calling thread; nil outside any.
    public static var current: ThreadGroup? {
        guard let pointer = pthread_getspecific(currentGroupKey) else { return nil }
        return Unmanaged<ThreadGroup>.fromOpaque(pointer).takeUnretainedValue()
    }

    /// Runs `body` on the calling thread with this group current: the
    /// threads it starts belong to the group.
    public func adopt<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        let previous = pthread_getspecific(currentGroupKey)
        pthread_setspecific(currentGroupKey, Unmanaged.passUnretained(self).toOpaque())
        defer { pthread_setspecific(currentGroupKey, previous) }
        return try body()
    }

    /// The threads still running (but those named in `ignoring`), by name:
    /// how many of each.
    public func runningThreads(ignoring: Set<String> = []) -> [String: Int] {
        lock.withLock { running.filter { !ignoring.contains($0.key) } }
    }

    /// Waits until every thread of the group ended, but those named in
    /// `ignoring`. False when `timeout` seconds passed first.
    public func waitUntilEnded(timeout: Double, ignoring: Set<String> = []) -> Bool {
        lock.wait(timeout: timeout) { running.keys.allSatisfy(ignoring.contains) }
    }

    func enter(_ thread: String) {
        lock.withLock { running[thread, default: 0] += 1 }
    }

    func leave(_ thread: String) {
        lock.changing {
            let left = (running[thread] ?? 1) - 1
            running[thread] = left > 0 ? left : nil
        }
    }
}

/// Where each thread keeps its current group (unretained: the thread's
/// `startThread` context, or the caller of `adopt`, holds it meanwhile).
private let currentGroupKey: pthread_key_t = {
    var key = pthread_key_t()
    let result = pthread_key_create(&key, nil)
    precondition(result == 0, "pthread_key_create: \(result)")
    return key
}()
