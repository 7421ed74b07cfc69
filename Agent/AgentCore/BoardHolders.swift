import Synchronization
import SystemSupport

/// Who holds each board and until when, as the coordinator last said
/// (DESIGN.md, "Holders and TFTP"): the agent keeps no reservations of its
/// own. A holding past its end counts as none. Standing alone (nobody ever
/// told it), every board is free to every key the agent accepts.
///
/// Free is not locked (DESIGN.md): a board the agent must keep shut (its
/// coordinator has not said who holds it since the agent started, or said
/// `hold --locked`: a stale calendar, a holder who is no user) has no
/// holder, and nobody types on it, powers, boots or flashes it.
public final class BoardHolders: Sendable {
    public struct Holding: Sendable, Equatable {
        public var user: String
        /// Unix time.
        public var until: Double
        /// Users who may use the board too in this slot (the coordinator's
        /// guests: accepted attendees of a calendar event). TFTP still
        /// serves the holder's space.
        public var guests: [String]

        /// `until` in whole seconds, bounded (never a trap on conversion).
        public var untilSeconds: Int64 { until.isFinite ? Int64(max(0, min(until, 9e15))) : 0 }

        public init(user: String, until: Double, guests: [String] = []) {
            self.user = user
            self.until = until
            self.guests = guests
        }
    }

    /// What the agent was last told about one board.
    public enum State: Sendable, Equatable {
        case free
        case held(Holding)
        /// Why nobody may change the board.
        case locked(String)
    }

    private let states = Mutex<[String: State]>([:])
    private let clock: @Sendable () -> Double
    /// Told when their board's state is set: the sessions using the board.
    private let observers = Mutex<(next: Int, all: [Int: (board: String, call: @Sendable () -> Void)])>((0, [:]))

    public init(clock: @escaping @Sendable () -> Double) {
        self.clock = clock
    }

    /// `board` is held by `holding`, or free (nil).
    public func set(_ board: String, to holding: Holding?) {
        states.withLock { $0[board] = holding.map(State.held) ?? .free }
        notify(board)
    }

    /// Nobody may change `board`, for `reason`, until the next `set`.
    public func lock(_ board: String, reason: String) {
        states.withLock { $0[board] = .locked(reason) }
        notify(board)
    }

    /// Calls `call` (on the thread that changes it) each time `board`'s
    /// state is set, until `stopObserving(token)`; returns the token.
    public func observe(_ board: String, _ call: @escaping @Sendable () -> Void) -> Int {
        observers.withLock { observers in
            observers.next += 1
            observers.all[observers.next] = (board, call)
            return observers.next
        }
    }

    public func stopObserving(_ token: Int) {
        _ = observers.withLock { $0.all.removeValue(forKey: token) }
    }

    private func notify(_ board: String) {
        for call in observers.withLock({ $0.all.values.filter { $0.board == board }.map(\.call) }) { call() }
    }

    /// `board`'s state in words, for a session that must stop using it:
    /// "held by alice until 2026-12-01T17:00:00Z", "locked (REASON)", "free".
    public func describe(_ board: String) -> String {
        switch state(of: board) {
        case .free: "free"
        case .held(let holding): "held by \(holding.user) until \(isoTime(holding.until))"
        case .locked(let reason): "locked (\(reason))"
        }
    }

    /// What holds `board` now: a holding past its end is free.
    public func state(of board: String) -> State {
        let now = clock()
        switch states.withLock({ $0[board] }) ?? .free {
        case .held(let holding) where holding.until <= now: return .free
        case let state: return state
        }
    }

    /// The current holder of `board`, if any (none while it is locked).
    public func holding(of board: String) -> Holding? {
        if case .held(let holding) = state(of: board) { return holding }
        return nil
    }

    /// Why `board` is locked, or nil.
    public func lockReason(of board: String) -> String? {
        if case .locked(let reason) = state(of: board) { return reason }
        return nil
    }

    /// Whether `user` may change `board` (type, power, boot, flash): yes
    /// when it is free, or when `user` holds it or is a guest; never while
    /// it is locked.
    public func allows(_ user: String, on board: String) -> Bool {
        switch state(of: board) {
        case .free: true
        case .held(let holding): holding.user == user || holding.guests.contains(user)
        case .locked: false
        }
    }
}
