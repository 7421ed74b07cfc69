import Commands
import Foundation
import Logging
import ProvisionerCore
import ShellSupport
import SystemSupport
import Wire

/// A calendar that books some of the boards (the coordinator's Google
/// Calendar sync): `reserve` and `release` on those boards go through it.
public protocol ReservationCalendar: Sendable {
    func manages(board: String) -> Bool
    /// Whether the board's calendar cannot be read now (its reservations are the last known ones).
    func isStale(board: String) -> Bool
    func reserve(board: String, user: String, start: Int64, end: Int64) throws(CalendarReservationError) -> Reservation
    func release(_ reservation: Reservation, at now: Int64) throws(CalendarReservationError)
}

/// Why `reserve` or `release` on a calendar board did not happen.
public enum CalendarReservationError: Error, Sendable {
    /// Someone holds the board for part of that time (per the calendar).
    case conflict(Reservation)
    /// The calendar could not be read or written: one line for the user.
    case failed(String)
}

/// The one reservation service (DESIGN.md "Reservation needed"), the
/// coordinator's and a lone agent's: `reserve`, `release`, `reservations`
/// and `audit` over the store (and a calendar, for its boards), the audit
/// lines, and the watch that warns and cuts the sessions that live on a
/// reservation and powers a board off when its reservation ends.
public final class ReservationService: Sendable {
    public let store: ReservationStore
    /// Sessions that live on a reservation, warned and cut as it ends.
    public let watch = ReservationWatch()
    let calendar: (any ReservationCalendar)?
    let logger: Logger
    /// The current time in Unix seconds (a test may move it).
    public let now: @Sendable () -> Int64
    /// Whether only admins may read the audit log (the coordinator), or
    /// everyone (a lone agent has no admins).
    let auditIsForAdmins: Bool
    /// Told the board whose reservation a command made or ended, at once
    /// (a lone agent mirrors its holders for the other commands and TFTP).
    let changed: @Sendable (String) -> Void

    public init(store: ReservationStore, calendar: (any ReservationCalendar)? = nil, auditIsForAdmins: Bool, logger: Logger,
                now: @escaping @Sendable () -> Int64 = { Int64(wallClock()) },
                changed: @escaping @Sendable (String) -> Void = { _ in }) {
        self.store = store
        self.calendar = calendar
        self.auditIsForAdmins = auditIsForAdmins
        self.logger = logger
        self.now = now
        self.changed = changed
    }

    /// `reserve BOARD [--for 2h | --until TIME]`: from now, 1 hour by
    /// default; the caller's own reservation is moved. `board` is the
    /// board's name as the caller's side knows it (checked to exist).
    public func reserve(_ command: ReserveCommand, board: String, _ session: ShellSession) throws(ShellError) {
        let start = now()
        let request = try command.request(at: start)
        let user = session.identity.user
        let reservation: Reservation
        var note = ""
        if let calendar, calendar.manages(board: board) {
            do throws(CalendarReservationError) {
                reservation = try calendar.reserve(board: board, user: user, start: start, end: request.end)
            } catch {
                switch error {
                case .conflict(let holder): throw Self.heldBy(holder, board: board, start: start)
                case .failed(let message): throw .failure("reserve: \(message)")
                }
            }
            note = " (calendar event \(reservation.source ?? "?"))"
        } else {
            do {
                reservation = try store.reserve(board: board, user: user, start: start, end: request.end)
            } catch ReservationRefusal.conflict(let holder) {
                throw Self.heldBy(holder, board: board, start: start)
            } catch {
                throw .failure("reserve: the reservation store failed: \(error)")
            }
        }
        watch.noteHolder(board: board, user: user)
        changed(board)
        record(user, "reserve", board: board, "until \(TimeText.format(reservation.end))" + note)
        logger.notice("reserve: \(user) holds \(board) until \(TimeText.format(reservation.end))\(note.isEmpty ? "" : " (calendar)")")
        session.print("\(board): reserved by \(user) until \(TimeText.format(reservation.end))\(note.isEmpty ? "" : " (in its calendar)")\n")
    }

    /// The refusal of a reservation that overlaps `holder`'s.
    static func heldBy(_ holder: Reservation, board: String, start: Int64) -> ShellError {
        .failure("reserve: \(board) is held by \(holder.user) "
                 + (holder.start > start ? "from \(TimeText.format(holder.start)) " : "")
                 + "until \(TimeText.format(holder.end))")
    }

    /// `release BOARD [--force]`: ends the caller's reservation; an admin's
    /// `--force` ends anyone's (audited as such). The watch then powers the
    /// board off.
    public func release(_ command: ReleaseCommand, board: String, _ session: ShellSession) throws(ShellError) {
        let time = now()
        let current: Reservation?
        do { current = try store.current(board: board, at: time) } catch { throw .failure("release: the reservation store failed: \(error)") }
        guard let current else { throw .failure("release: \(board) is not reserved") }
        let user = session.identity.user
        if current.user != user {
            guard command.force else { throw .notAllowed("release: \(board) is held by \(current.user), not you") }
            guard session.identity.admin else { throw .notAllowed("release: --force is for admins") }
        }
        if let calendar, calendar.manages(board: board) {
            do throws(CalendarReservationError) { try calendar.release(current, at: time) } catch {
                switch error {
                case .conflict(let holder): throw .failure("release: \(board) is held by \(holder.user)")
                case .failed(let message): throw .failure("release: \(message)")
                }
            }
        } else {
            do { try store.end(current, at: time) } catch { throw .failure("release: the reservation store failed: \(error)") }
        }
        changed(board)
        let forced = current.user != user
        record(user, forced ? "release-forced" : "release", board: board, forced ? "held by \(current.user)" : nil)
        logger.notice("release: \(user) released \(board)\(forced ? " (held by \(current.user), forced)" : "")")
        session.print("\(board): released\(forced ? " (was held by \(current.user))" : "")\n")
    }

    /// `reservations [--json]`: current and coming reservations.
    public func reservations(_ command: ReservationsCommand, _ session: ShellSession) throws(ShellError) {
        let list: [Reservation]
        do { list = try store.active(at: now()) } catch { throw .failure("reservations: the reservation store failed: \(error)") }
        let rows = list.map { reservation in
            // A reservation from a calendar that cannot be read now is the last known one: stale.
            ReservationReport(reservation, stale: reservation.source != nil && calendar?.isStale(board: reservation.board) == true)
        }
        session.print(ReservationReport.listing(rows, json: command.json))
    }

    /// `audit [--json]`: the latest audit lines, oldest first.
    public func auditLog(_ command: AuditCommand, _ session: ShellSession) throws(ShellError) {
        guard !auditIsForAdmins || session.identity.admin else { throw .notAllowed("audit: for admins only") }
        let entries: [AuditEntry]
        do { entries = try store.auditLog() } catch { throw .failure("audit: the store failed: \(error)") }
        session.print(AuditEntry.listing(entries, json: command.json))
    }

    /// Writes an audit line; a store failure is logged, not shown to the user.
    public func record(_ user: String, _ action: String, board: String?, _ detail: String? = nil) {
        do {
            try store.audit(user: user, action: action, board: board, detail: detail, at: now())
        } catch {
            logger.error("audit: cannot record \(user) \(action) \(board ?? ""): \(error)")
        }
    }

    /// Starts the watch: every `interval` seconds the sessions that live on
    /// a reservation are warned and cut, and each of `boards()` whose
    /// reservation ended with nobody after it is given to `powerOff` with
    /// its last holder (`poweredOff` then writes its audit line).
    public func startWatch(interval: Double = 1, boards: @escaping @Sendable () -> [String],
                           powerOff: @escaping @Sendable (_ board: String, _ user: String) -> Void) throws {
        try watch.start(interval: interval) { [self] in
            for (board, user) in pass(boards: boards()) { powerOff(board, user) }
        }
    }

    /// Notes that `board` was powered off at the end of `user`'s reservation.
    public func poweredOff(_ board: String, after user: String) {
        logger.notice("reservations: \(user)'s reservation of \(board) ended: powered off")
        record(user, "power", board: board, "off (the reservation ended)")
    }

    public func stopWatch() { watch.stop() }

    /// One pass of the watch: the boards freed, with who held them.
    func pass(boards: [String]) -> [(board: String, user: String)] {
        let time = now()
        let current: [String: Reservation]
        do {
            current = try store.currentByBoard(at: time)
        } catch {
            logger.error("reservations: the store failed, sessions are not checked: \(error)")
            return []
        }
        return watch.check(now: time, boards: boards, current: current)
    }
}

extension ReservationReport {
    /// A reservation of the store as `reservations` shows it.
    init(_ reservation: Reservation, stale: Bool) {
        self.init(board: reservation.board, user: reservation.user, guests: reservation.guests,
                  start: TimeText.format(reservation.start), end: TimeText.format(reservation.end),
                  source: reservation.source == nil ? "local" : "calendar", stale: stale)
    }

    /// `reservations [--json]`'s output, the coordinator's and an agent's:
    /// one line of JSON (docs/json.md), or a table. A row's `start` is nil
    /// for a holder a coordinator told an agent about (`hold`).
    public static func listing(_ rows: [ReservationReport], json: Bool) -> String {
        if json { return Wire.line(rows) + "\n" }
        var table = [["BOARD", "USER", "START", "END", "SOURCE"]]
        for row in rows {
            let source = row.stale ? row.source + " (stale)" : row.source
            table.append([row.board, row.user + (row.guests.isEmpty ? "" : " (with \(row.guests.joined(separator: ",")))"),
                          row.start ?? "-", row.end, source])
        }
        return TerminalText.table(table)
    }
}
