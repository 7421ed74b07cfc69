import AgentCore
import Synchronization
import SystemSupport

/// One job per board at a time: netboot and flash claim the board here; a
/// second claim is refused with who holds it and since when.
public final class JobSlots: Sendable {
    public struct Holder: Sendable, Equatable {
        public var kind: String
        public var user: String
        /// Unix time.
        public var started: Double
    }

    private let holders = Mutex<[String: Holder]>([:])
    /// What the last job left each board at: `u-boot` or `linux`.
    private let states = Mutex<[String: String]>([:])

    public init() {}

    /// The board's state as `boards` shows it: off when its power is off; a
    /// running job's kind (`flashing`, `netboot`); else what the last job
    /// left it at, or unknown (a person may have typed anything since).
    public func state(of board: String, power: PowerState?) -> String {
        if power == .off { return "off" }
        if let holder = holder(of: board) {
            switch holder.kind {
            case "flash": return "flashing"
            case "run": return "linux"  // a command in its shell: it is up
            default: return holder.kind
            }
        }
        return states.withLock { $0[board] } ?? "unknown"
    }

    /// Records what a job left the board at (nil: unknown).
    public func setState(_ state: String?, of board: String) {
        states.withLock { $0[board] = state }
    }

    /// Claims `board` for a job; the claim ends with `JobClaim.release()` or its deinit.
    public func claim(_ board: String, kind: String, user: String) throws(JobBusy) -> JobClaim {
        let holder = Holder(kind: kind, user: user, started: wallClock())
        let existing: Holder? = holders.withLock { holders in
            if let existing = holders[board] { return existing }
            holders[board] = holder
            return nil
        }
        if let existing { throw JobBusy(board: board, holder: existing) }
        return JobClaim(slots: self, board: board)
    }

    /// The job running on `board`, if any.
    public func holder(of board: String) -> Holder? { holders.withLock { $0[board] } }

    fileprivate func release(_ board: String) { _ = holders.withLock { $0.removeValue(forKey: board) } }
}

/// A board claimed for one job.
public final class JobClaim: Sendable {
    private let slots: JobSlots
    public let board: String
    private let released = Atomic(false)

    fileprivate init(slots: JobSlots, board: String) {
        self.slots = slots
        self.board = board
    }

    deinit { release() }

    public func release() {
        if !released.exchange(true, ordering: .relaxed) { slots.release(board) }
    }
}

public struct JobBusy: Error, CustomStringConvertible, Sendable {
    public let board: String
    public let holder: JobSlots.Holder

    public var description: String {
        let minutes = Int((wallClock() - holder.started) / 60)
        return "\(board) is busy: a \(holder.kind) job by \(holder.user) is running (for \(minutes < 1 ? "under a minute" : "\(minutes) min"))"
    }
}
