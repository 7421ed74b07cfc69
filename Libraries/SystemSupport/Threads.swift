#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSystemSupport

/// Starts a detached OS thread running `body`. Blocking work (a socket loop,
/// a C library's session) runs here, never on Swift's cooperative pool.
///
/// The thread belongs to `group` (by default the calling thread's, see
/// `ThreadGroup.adopt`), and runs with that group current, so the threads it
/// starts belong to it too: a service's `ServiceGroup` waits for them all.
public func startThread(named name: String, in group: ThreadGroup? = ThreadGroup.current,
                        _ body: @escaping @Sendable () -> Void) throws {
    let context = Unmanaged.passRetained(ThreadStart(name, group, body)).toOpaque()
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    defer { pthread_attr_destroy(&attributes) }
    pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
    // Counted before it exists, so a group never looks empty while a thread
    // of it is starting another.
    group?.enter(name)
    var thread = pthread_t()
    let result = pthread_create(&thread, &attributes, { context in
        let (group, name) = runThread(context!)
        group?.leave(name)
        return nil
    }, context)
    if result != 0 {
        Unmanaged<ThreadStart>.fromOpaque(context).release()
        group?.leave(name)
        throw SystemError("pthread_create", code: result)
    }
}

/// What a thread started by `startThread` runs.
private final class ThreadStart: Sendable {
    let name: String
    let group: ThreadGroup?
    let body: @Sendable () -> Void
    init(_ name: String, _ group: ThreadGroup?, _ body: @escaping @Sendable () -> Void) {
        self.name = name
        self.group = group
        self.body = body
    }
}

/// Runs a thread's body. Everything the body captured is released when this
/// returns, before the thread leaves its group: nothing of it is torn down
/// after the group said the thread ended.
private func runThread(_ context: UnsafeMutableRawPointer) -> (ThreadGroup?, String) {
    let start = Unmanaged<ThreadStart>.fromOpaque(context).takeRetainedValue()
    start.name.withCString { CSystemSupport_set_thread_name($0) }
    if let group = start.group { group.adopt(start.body) } else { start.body() }
    return (start.group, start.name)
}

/// Seconds on the monotonic clock, for timeouts and rates.
public func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

/// Unix time with sub-second precision.
public func wallClock() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

/// Writes `text` to standard error with write(2), unbuffered.
public func printError(_ text: String) {
    var text = text
    text.withUTF8 { bytes in
        var offset = 0
        while offset < bytes.count {
            let n = write(2, bytes.baseAddress! + offset, bytes.count - offset)
            if n <= 0 { if n < 0 && errno == EINTR { continue }; return }
            offset += n
        }
    }
}

/// This machine's host name (gethostname), or "localhost".
public func hostName() -> String {
    var name = [CChar](repeating: 0, count: 256)
    guard gethostname(&name, name.count - 1) == 0 else { return "localhost" }
    return String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Tells systemd (Type=notify) something, e.g. "READY=1" or "STOPPING=1",
/// through the socket named by NOTIFY_SOCKET; does nothing without one.
public func notifySystemd(_ state: String) {
    guard let path = getenv("NOTIFY_SOCKET").map({ String(cString: $0) }), !path.isEmpty else { return }
    let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { return }
    defer { close(fd) }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    var bytes = Array(path.utf8)
    if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }  // abstract namespace
    guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return }
    withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
    let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
    _ = state.withCString { text in
        withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                sendto(fd, text, strlen(text), Int32(MSG_NOSIGNAL), $0, length)
            }
        }
    }
}

/// A one-shot latch between threads: `wait` returns once `signal` was
/// called (before or after), or when its timeout passes.
public final class ThreadSignal: @unchecked Sendable {
    private let lock = ConditionLock()
    private var signalled = false  // guarded by `lock`

    public init() {}

    public func signal() {
        lock.changing { signalled = true }
    }

    /// Whether `signal` was called.
    public var isSignalled: Bool { lock.withLock { signalled } }

    /// True once signalled; false when `timeout` seconds passed first (nil: no limit).
    @discardableResult
    public func wait(timeout: Double?) -> Bool {
        lock.wait(timeout: timeout) { signalled }
    }
}
