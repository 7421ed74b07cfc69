#if canImport(Glibc)
import Glibc
#endif
import ShellSupport
import Synchronization
import SystemSupport

/// The sessions a front door (the agent's SSH port, the coordinator's) is
/// serving, so that stopping it tells each one why it ends — one line on
/// its stderr, exit 1 — rather than dropping the connection mid-word.
public final class LiveSessions: Sendable {
    private struct State {
        var next = 0
        var cuts: [Int: @Sendable (String) -> Void] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    /// Runs `body` with `session` counted as live.
    public func run(_ session: ShellSession, _ body: () -> Int32) -> Int32 {
        let cut = session.remoteCut
        let token = state.withLock { state in
            state.next += 1
            state.cuts[state.next] = cut
            return state.next
        }
        defer { _ = state.withLock { $0.cuts.removeValue(forKey: token) } }
        return body()
    }

    /// Sessions running now.
    public var count: Int { state.withLock { $0.cuts.count } }

    /// Cuts every live session with `message` (exit 1) and waits up to
    /// `timeout` seconds for them to end (a console sees the cut within
    /// half a second, a job at its next check); returns how many did not.
    @discardableResult
    public func endAll(_ message: String, timeout: Double) -> Int {
        for cut in state.withLock({ Array($0.cuts.values) }) { cut(message) }
        let deadline = monotonicSeconds() + timeout
        while count > 0 && monotonicSeconds() < deadline { usleep(50_000) }
        return count
    }
}

extension ShellSession {
    /// `cut(_, status: .failure)`, for another thread.
    var remoteCut: @Sendable (String) -> Void {
        let cuttable = cuttable
        return { cuttable.cut($0, status: .failure) }
    }
}
