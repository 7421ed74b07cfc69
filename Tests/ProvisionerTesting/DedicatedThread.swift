import Foundation

/// Runs blocking work on a thread of its own instead of the cooperative
/// pool, which has as many threads as cores (2 here) and is shared by every
/// test running at once: a scenario that must answer a server within its
/// retransmission timeout cannot wait for a turn there.
///
/// `body` must not use `#expect` (it runs outside the test's task): return
/// what happened and check it afterwards.
public enum DedicatedThread {
    public static func run<T: Sendable>(named name: String = "test-scenario",
                                        _ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                continuation.resume(with: Result { try body() })
            }
            thread.name = name
            thread.start()
        }
    }
}

/// Runs `body(0)` … `body(count - 1)` each on a thread of its own, all
/// started before any is let go, and returns when every one has ended:
/// writers that meet at the same instant, as separate processes would.
public func onThreadsAtOnce(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let start = DispatchSemaphore(value: 0), done = DispatchGroup()
    for index in 0..<count {
        done.enter()
        Thread.detachNewThread {
            start.wait()
            body(index)
            done.leave()
        }
    }
    for _ in 0..<count { start.signal() }
    done.wait()
}

/// A value several threads update under a lock.
public final class Shared<Value: Sendable>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()

    public init(_ value: Value) { self.value = value }

    public func update<R>(_ body: (inout Value) -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }

    public var current: Value { update { $0 } }
}
