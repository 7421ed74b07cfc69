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
    /// Once a second: a board whose local reservation ended (released or
    /// run out) with nobody after it is powered off, as its last holder,
    /// and that goes in the audit log. Returns when `stop` is signalled.
    public func watchLocalReservations(until stop: ThreadSignal) {
        guard let reservations else { return }
        while !stop.wait(timeout: 1) {
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
