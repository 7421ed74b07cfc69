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
    /// Warns and cuts the sessions that live on a reservation (the
    /// coordinator's watch).
    let watch = ReservationWatch()
    /// Each board's holder as last seen, set at once by `reserve`: a board
    /// whose reservation ended (released or run out) with nobody after it
    /// is powered off, however soon after its reservation that came.
    private let lastHolders = Mutex<[String: String]>([:])

    public init(path: String, holders: BoardHolders, clock: @escaping @Sendable () -> Double = wallClock) throws {
        store = try ReservationStore(path: path)
        self.holders = holders
        self.clock = clock
        let now = Int64(clock())
        for reservation in try store.currentByBoard(at: now).values {
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

    func audit(user: String, action: String, board: String?, detail: String? = nil) throws {
        try store.audit(user: user, action: action, board: board, detail: detail, at: now)
    }

    func auditLog() throws -> [AuditEntry] { try store.auditLog() }

    /// One pass: the sessions warned or cut, and the boards whose holder's
    /// reservation ended with nobody after them (released or run out),
    /// with who held them: to be powered off.
    func pass() throws -> [(board: String, user: String)] {
        let time = now
        _ = watch.check(now: time, boards: [], current: try store.currentByBoard(at: time))
        return lastHolders.withLock { last in
            let freed = last.filter { holders.holding(of: $0.key) == nil }.map { (board: $0.key, user: $0.value) }
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
        let token = reservations.watch.add(user: user, board: boardName, warn: remote.tell, cut: remote.cut)
        defer { reservations.watch.remove(token) }
        try body()
    }

    /// Once a second: the sessions that live on a reservation are warned
    /// and cut (`livingOnReservation`), and a board whose reservation ended
    /// (released or run out) with nobody after it is powered off, as its
    /// last holder, and that goes in the audit log. Returns when `stop` is
    /// signalled.
    public func watchLocalReservations(until stop: ThreadSignal) {
        guard let reservations else { return }
        while !stop.wait(timeout: 1) {
            let ended: [(board: String, user: String)]
            do { ended = try reservations.pass() } catch {
                logger.error("reservations: the store failed, sessions are not checked: \(error)")
                continue
            }
            for (name, user) in ended {
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
