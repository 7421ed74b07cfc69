import AgentCore
import CoordinatorStore
import Logging
import ProvisionerCore
import Synchronization
import SystemSupport

/// A lone agent's own reservations and audit log (DESIGN.md: a single agent
/// offers the same commands as the coordinator). Only an agent without
/// `ssh.coordinator_keys` keeps them; a coordinator's agent learns its
/// holders from `hold`. They live in DATA_DIR/reservations.sqlite (the
/// coordinator's store: overlaps are refused by the database itself), so
/// they outlive a restart, and every change is mirrored into the
/// `BoardHolders` the commands and the TFTP server ask.
public final class LocalReservations: Sendable {
    let store: ReservationStore
    let holders: BoardHolders
    private let clock: @Sendable () -> Double
    /// The boards whose holder was last seen, to power off the ones whose
    /// reservation ended with nobody after them.
    private let lastHolders = Mutex<[String: String]>([:])

    /// A session that lives on a reservation (console input, netboot,
    /// flash, connect): warned before the end, cut at it.
    struct Watched: Sendable {
        let user: String
        let board: String
        let cut: @Sendable (String) -> Void
        let tell: @Sendable (String) -> Void
        /// The end a warning was given for (an extension warns again).
        var warnedFor: Double?
    }
    private let watched = Mutex<(next: Int, entries: [Int: Watched])>((0, [:]))
    /// How long before the end the warning comes, as at the coordinator.
    static let warningLead = 300.0

    public init(path: String, holders: BoardHolders, clock: @escaping @Sendable () -> Double = wallClock) throws {
        store = try ReservationStore(path: path)
        self.holders = holders
        self.clock = clock
        let now = Int64(clock())
        for reservation in try store.active(at: now) where reservation.isCurrent(at: now) {
            holders.set(reservation.board, to: Self.holding(reservation))
            lastHolders.withLock { $0[reservation.board] = reservation.user }
        }
    }

    var now: Int64 { Int64(clock()) }

    static func holding(_ reservation: Reservation) -> BoardHolders.Holding {
        BoardHolders.Holding(user: reservation.user, until: Double(reservation.end), guests: reservation.guests)
    }

    /// Reserves `board` from now to `end` (the caller's own reservation is
    /// moved instead); throws `ReservationRefusal.conflict` with the holder.
    func reserve(board: String, user: String, until end: Int64) throws -> Reservation {
        let reservation = try store.reserve(board: board, user: user, start: now, end: end)
        holders.set(board, to: Self.holding(reservation))
        lastHolders.withLock { $0[board] = user }
        return reservation
    }

    func current(board: String) throws -> Reservation? { try store.current(board: board, at: now) }

    /// Ends `reservation` now; the board is free at once.
    func release(_ reservation: Reservation) throws {
        try store.end(reservation, at: now)
        holders.set(reservation.board, to: nil)
    }

    func active() throws -> [Reservation] { try store.active(at: now) }

    func audit(user: String, action: String, board: String?, detail: String? = nil) throws {
        try store.audit(user: user, action: action, board: board, detail: detail, at: now)
    }

    func auditLog() throws -> [AuditEntry] { try store.auditLog() }

    /// Watches a session of `user` on `board` until `unwatch`.
    func watch(user: String, board: String, cut: @escaping @Sendable (String) -> Void,
               tell: @escaping @Sendable (String) -> Void) -> Int {
        watched.withLock { state in
            state.next += 1
            state.entries[state.next] = Watched(user: user, board: board, cut: cut, tell: tell)
            return state.next
        }
    }

    func unwatch(_ token: Int) { _ = watched.withLock { $0.entries.removeValue(forKey: token) } }

    /// One pass: sessions whose user no longer holds their board are cut;
    /// those within `warningLead` of the end are warned once per end.
    func checkSessions() {
        let now = clock()
        var actions: [@Sendable () -> Void] = []
        watched.withLock { state in
            for (token, entry) in state.entries {
                guard let holding = holders.holding(of: entry.board), holding.user == entry.user || holding.guests.contains(entry.user) else {
                    let message = "your reservation of \(entry.board) has ended: this session is closed"
                    actions.append { entry.cut(message) }
                    state.entries.removeValue(forKey: token)
                    continue
                }
                let left = holding.until - now
                if left <= Self.warningLead && entry.warnedFor != holding.until {
                    state.entries[token]?.warnedFor = holding.until
                    let minutes = max(1, Int((left / 60).rounded(.up)))
                    let message = "your reservation of \(entry.board) ends in \(minutes) min (at \(TimeText.format(Int64(holding.until)))): "
                        + "reserve \(entry.board) --for 1h to keep it"
                    actions.append { entry.tell(message) }
                }
            }
        }
        // A slow client must not hold up the watch: each message on a thread of its own.
        for action in actions { try? startThread(named: "reservation-notice", action) }
    }

    /// The boards whose holder's reservation has ended (released or run
    /// out) since the last call, with who held them: to be powered off.
    func ended() -> [(board: String, user: String)] {
        lastHolders.withLock { last in
            var freed: [(board: String, user: String)] = []
            for (board, user) in last where holders.holding(of: board) == nil {
                freed.append((board, user))
            }
            for (board, _) in freed { last.removeValue(forKey: board) }
            return freed.sorted { $0.board < $1.board }
        }
    }
}

extension AgentShell {
    /// Runs `body` (a console, netboot, flash or connect of `boardName`) as a
    /// session that lives on the caller's reservation, on a lone agent: it
    /// is warned 5 minutes before the end and cut at the end (exit 3).
    /// Without a reservation of the board (a free board, or watching), it
    /// just runs.
    func livingOnReservation(_ boardName: String?, _ session: ShellSession, _ body: () throws(ShellError) -> Void) throws(ShellError) {
        let user = session.identity.user
        guard let reservations, let boardName, let holding = holders.holding(of: boardName),
              holding.user == user || holding.guests.contains(user) else {
            try body()
            return
        }
        let remote = session.remote
        let token = reservations.watch(user: user, board: boardName, cut: remote.cut, tell: remote.tell)
        defer { reservations.unwatch(token) }
        try body()
    }

    /// Once a second: a board whose local reservation ended (released or
    /// run out) with nobody after it is powered off, as its last holder,
    /// and that goes in the audit log. Returns when `stop` is signalled.
    public func watchLocalReservations(until stop: ThreadSignal) {
        guard let reservations else { return }
        while !stop.wait(timeout: 1) {
            reservations.checkSessions()
            for (name, user) in reservations.ended() {
                guard let board = boards.first(where: { $0.config.name == name }) else { continue }
                do {
                    try board.power.powerOff()
                    try? reservations.audit(user: user, action: "power", board: name, detail: "off (the reservation ended)")
                    logger.notice("reservation: \(name) of \(user) ended: powered off")
                } catch {
                    logger.warning("reservation: \(name) of \(user) ended, and powering it off failed: \(error)")
                }
            }
        }
    }
}
