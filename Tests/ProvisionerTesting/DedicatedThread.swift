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
