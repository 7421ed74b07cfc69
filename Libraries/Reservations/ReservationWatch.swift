#if canImport(Glibc)
import Glibc
#endif
import ProvisionerCore
import Synchronization
import SystemSupport

/// The sessions that live on a reservation (console input, netboot, flash,
/// tunnels) and the boards' holders, checked every second (DESIGN.md
/// "Reservation needed"): a session is warned once 5 minutes before its
/// reservation ends and cut when it ends (or is released, or moves to
/// someone else); a board whose holder's reservation ended with nobody
/// after them is powered off. The coordinator's, and a lone agent's.
public final class ReservationWatch: Sendable {
    /// One watched session: its user and board, and what warning and
    /// cutting do to it (called on the watch's thread: they must not block).
    struct Entry: Sendable {
        let user: String
        let board: String
        let warn: @Sendable (String) -> Void
        let cut: @Sendable (String) -> Void
        /// The reservation end a warning was given for (an extension warns again).
        var warnedFor: Int64?
    }

    private struct State {
        var entries: [Int: Entry] = [:]
        var nextToken = 0
        /// The holder each board had at the last check (nil: free).
        var holders: [String: String?] = [:]
        var stopping = false
    }

    /// How long before the end the warning comes.
    public static let warningLead: Int64 = 300

    private let state = Mutex(State())

    public init() {}

    /// Watches a session of `user` on `board` until `remove`.
    public func add(user: String, board: String, warn: @escaping @Sendable (String) -> Void,
             cut: @escaping @Sendable (String) -> Void) -> Int {
        state.withLock { state in
            state.nextToken += 1
            state.entries[state.nextToken] = Entry(user: user, board: board, warn: warn, cut: cut)
            return state.nextToken
        }
    }

    /// Notes that `user` holds `board` now (a reservation just made), so that
    /// its end powers the board off even when it comes before the next check.
    public func noteHolder(board: String, user: String) {
        state.withLock { $0.holders[board] = .some(user) }
    }

    public func remove(_ token: Int) {
        state.withLock { _ = $0.entries.removeValue(forKey: token) }
    }

    /// One pass at `now`, given each held board's current reservation.
    /// Returns the boards whose holder's reservation ended with nobody after
    /// them, and who held them, to be powered off.
    public func check(now: Int64, boards: [String], current: [String: Reservation]) -> [(board: String, user: String)] {
        var actions: [@Sendable () -> Void] = []
        var freed: [(board: String, user: String)] = []
        state.withLock { state in
            for (token, entry) in state.entries {
                guard let holding = current[entry.board], holding.allows(entry.user) else {
                    state.entries.removeValue(forKey: token)
                    let cut = entry.cut
                    actions.append { cut("your reservation of \(entry.board) has ended: this session is closed") }
                    continue
                }
                if holding.end - now <= Self.warningLead && entry.warnedFor != holding.end {
                    state.entries[token]?.warnedFor = holding.end
                    let minutes = max(1, Int((holding.end - now + 59) / 60))
                    let warn = entry.warn
                    actions.append {
                        warn("your reservation of \(entry.board) ends in \(minutes) min (\(TimeText.format(holding.end))); "
                             + "then this session is closed. To extend: reserve \(entry.board) --for 1h")
                    }
                }
            }
            for board in boards {
                let now = current[board]?.user
                if let known = state.holders[board], let before = known, now == nil {
                    freed.append((board, before))
                }
                state.holders[board] = .some(now)
            }
        }
        // A warning written to a session whose client is slow may wait: each
        // goes on a thread of its own, so the watch keeps its pace.
        for action in actions {
            do { try startThread(named: "reservation-notice", action) } catch { action() }
        }
        return freed
    }

    /// Checks every `interval` seconds on a thread of its own until `stop`.
    public func start(interval: Double, _ pass: @escaping @Sendable () -> Void) throws {
        try startThread(named: "reservation-watch") { [self] in
            while !state.withLock({ $0.stopping }) {
                pass()
                usleep(UInt32(interval * 1e6))
            }
        }
    }

    public func stop() {
        state.withLock { $0.stopping = true }
    }
}
