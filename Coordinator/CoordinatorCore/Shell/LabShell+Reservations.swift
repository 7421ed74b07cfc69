import Commands
import CoordinatorCalendar
import CoordinatorStore
import Foundation
import ProvisionerCore
import ShellSupport

extension LabShell {
    /// `reserve BOARD [--for 2h | --until TIME]`: from now; 1 hour by default.
    func reserveCommand(_ command: ReserveCommand, _ session: ShellSession) throws(ShellError) {
        let start = now()
        let request = try command.request(at: start)
        let board = try board(request.board, for: "reserve")
        let until = request.end
        let user = session.identity.user
        if let calendar, calendar.manages(board: board.name) {
            try reserveInCalendar(calendar, board: board.name, start: start, end: until, session)
            return
        }
        do {
            let reservation = try store.reserve(board: board.name, user: user, start: start, end: until)
            audit(session, "reserve", board: board.name, "until \(TimeText.format(reservation.end))")
            logger.notice("reserve: \(user) holds \(board.name) until \(TimeText.format(reservation.end))")
            session.print("\(board.name): reserved by \(user) until \(TimeText.format(reservation.end))\n")
        } catch ReservationRefusal.conflict(let holder) {
            throw Self.heldBy(holder, board: board.name, start: start)
        } catch {
            throw .failure("reserve: the reservation store failed: \(error)")
        }
    }

    /// `reserve` on a calendar board: the event is written first, and the
    /// store follows only when Google accepted it.
    func reserveInCalendar(_ calendar: CalendarSync, board: String, start: Int64, end: Int64, _ session: ShellSession) throws(ShellError) {
        let user = session.identity.user
        do {
            let reservation = try calendar.reserve(board: board, user: user, start: start, end: end)
            audit(session, "reserve", board: board, "until \(TimeText.format(reservation.end)) (calendar event \(reservation.source ?? "?"))")
            logger.notice("reserve: \(user) holds \(board) until \(TimeText.format(reservation.end)) (calendar)")
            session.print("\(board): reserved by \(user) until \(TimeText.format(reservation.end)) (in its calendar)\n")
        } catch {
            switch error {
            case .conflict(let holder): throw Self.heldBy(holder, board: board, start: start)
            case .failed(let message): throw .failure("reserve: \(message)")
            }
        }
    }

    static func heldBy(_ holder: Reservation, board: String, start: Int64) -> ShellError {
        .failure("reserve: \(board) is held by \(holder.user) "
                 + (holder.start > start ? "from \(TimeText.format(holder.start)) " : "")
                 + "until \(TimeText.format(holder.end))")
    }

    /// `release BOARD [--force]`: ends the caller's reservation; an admin's
    /// `--force` ends anyone's (written to the audit log as such).
    func releaseCommand(_ command: ReleaseCommand, _ session: ShellSession) throws(ShellError) {
        let force = command.force
        let boardName = command.board
        let time = now()
        let current: Reservation?
        do { current = try store.current(board: boardName, at: time) } catch { throw .failure("release: the reservation store failed: \(error)") }
        guard let current else { throw .failure("release: \(boardName) is not reserved") }
        let user = session.identity.user
        if current.user != user {
            guard force else { throw .notAllowed("release: \(boardName) is held by \(current.user), not you") }
            guard session.identity.admin else { throw .notAllowed("release: --force is for admins") }
        }
        if let calendar, calendar.manages(board: boardName) {
            do throws(CalendarReservationError) { try calendar.release(current, at: time) } catch {
                switch error {
                case .conflict(let holder): throw .failure("release: \(boardName) is held by \(holder.user)")
                case .failed(let message): throw .failure("release: \(message)")
                }
            }
        } else {
            do { try store.end(current, at: time) } catch { throw .failure("release: the reservation store failed: \(error)") }
        }
        let forced = current.user != user
        audit(session, forced ? "release-forced" : "release", board: boardName, forced ? "held by \(current.user)" : nil)
        logger.notice("release: \(user) released \(boardName)\(forced ? " (held by \(current.user), forced)" : "")")
        session.print("\(boardName): released\(forced ? " (was held by \(current.user))" : "")\n")
    }

    /// `reservations [--json]`: current and coming reservations.
    func reservationsCommand(_ command: ReservationsCommand, _ session: ShellSession) throws(ShellError) {
        let json = command.json
        let list: [Reservation]
        do { list = try store.active(at: now()) } catch { throw .failure("reservations: the reservation store failed: \(error)") }
        // A reservation from a calendar that cannot be read now is the last known one: stale.
        let stale = Set(list.map(\.board).filter { calendar?.status(board: $0)?.stale == true })
        func source(_ reservation: Reservation) -> String {
            guard reservation.source != nil else { return "local" }
            return stale.contains(reservation.board) ? "calendar (stale)" : "calendar"
        }
        if json {
            try printJSON(list.map { ["board": $0.board, "user": $0.user, "guests": $0.guests, "start": TimeText.format($0.start),
                                      "end": TimeText.format($0.end), "source": $0.source == nil ? "local" : "calendar",
                                      "stale": stale.contains($0.board)] as [String: Any] }, session, for: "reservations")
            return
        }
        var table = [["BOARD", "USER", "START", "END", "SOURCE"]]
        for reservation in list {
            let user = reservation.user + (reservation.guests.isEmpty ? "" : " (with \(reservation.guests.joined(separator: ",")))")
            table.append([reservation.board, user, TimeText.format(reservation.start), TimeText.format(reservation.end),
                          source(reservation)])
        }
        session.print(TerminalText.table(table))
    }

    /// `audit [--json]` (admins): the latest audit lines, oldest first.
    func auditCommand(_ command: AuditCommand, _ session: ShellSession) throws(ShellError) {
        let json = command.json
        guard session.identity.admin else { throw .notAllowed("audit: for admins only") }
        let entries: [AuditEntry]
        do { entries = try store.auditLog() } catch { throw .failure("audit: the store failed: \(error)") }
        session.print(AuditEntry.listing(entries, json: json))
    }
}
