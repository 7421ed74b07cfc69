#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization

/// A self-pipe that wakes a thread blocked in poll(2): poll `descriptor`
/// for POLLIN beside the real work; `signal()` from any thread makes it ready.
/// The polling thread calls `drain()` before it looks at what it was woken
/// for: a signal while one is pending writes nothing (a byte already waits,
/// or is being written), so a busy writer costs no system call.
public final class WakeupPipe: Sendable {
    /// The end to poll.
    public let descriptor: Int32
    private let writeEnd: Int32
    private let pending = Atomic<Bool>(false)

    public init() throws {
        var fds: [Int32] = [0, 0]
        try systemCall("pipe") { pipe(&fds) }
        for fd in fds {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, O_NONBLOCK)
        }
        descriptor = fds[0]
        writeEnd = fds[1]
    }

    deinit {
        close(descriptor)
        close(writeEnd)
    }

    /// Makes `descriptor` readable (never blocks; a full pipe is ready anyway).
    public func signal() {
        guard !pending.exchange(true, ordering: .sequentiallyConsistent) else { return }
        var byte: UInt8 = 1
        _ = write(writeEnd, &byte, 1)
    }

    /// Empties the pipe, so the next poll waits again (and the next `signal` writes).
    public func drain() {
        var bytes = [UInt8](repeating: 0, count: 64)
        while read(descriptor, &bytes, bytes.count) > 0 {}
        pending.store(false, ordering: .sequentiallyConsistent)
    }
}
