#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The signals that stop a daemon (SIGTERM, SIGINT), taken with `sigwait`
/// on one thread instead of by a handler: no work runs in signal context.
///
/// `block` must run on the main thread before any other thread starts:
/// threads inherit the mask, so the signals reach no thread but the one in
/// `wait`. (A thread started earlier would take them with the default
/// action, which ends the process.)
public struct StopSignals: Sendable {
    /// The signal numbers, e.g. `[SIGTERM, SIGINT]`.
    public let numbers: [Int32]

    /// Blocks `numbers` in the calling thread (and so in every thread it starts).
    ///
    /// The corresponding C function is `pthread_sigmask`.
    public static func block(_ numbers: [Int32] = [SIGTERM, SIGINT]) -> StopSignals {
        let signals = StopSignals(numbers: numbers)
        var set = signals.set
        pthread_sigmask(SIG_BLOCK, &set, nil)
        return signals
    }

    /// Waits until one of the signals arrives; returns its number.
    ///
    /// The corresponding C function is `sigwait`.
    public func wait() -> Int32 {
        var set = self.set
        var received: Int32 = 0
        while sigwait(&set, &received) != 0 {}
        return received
    }

    private var set: sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        for number in numbers { sigaddset(&set, number) }
        return set
    }
}
