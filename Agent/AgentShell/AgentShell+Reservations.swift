import AgentCore
import CoordinatorStore
import ProvisionerCore
import ShellSupport
import SystemSupport

/// `reserve`, `release`, `reservations` and `audit` on a lone agent (no
/// `ssh.coordinator_keys`): the coordinator's commands, kept by the agent
/// itself. On a coordinator's agent, reservations are made at the
/// coordinator, and `reservations` lists what it said (`hold`).
extension AgentShell {
    /// The store, or the one-line refusal on a coordinator's agent.
    func localReservations(for command: String) throws(ShellError) -> LocalReservations {
        guard let reservations else {
            throw .failure("\(command): this agent's boards are reserved at its coordinator (ssh LAB \(command) …)")
        }
        return reservations
    }

    /// `reserve BOARD [--for 2h | --until 2026-12-01T18:00]`: from now; 1 hour by default.
    func reserveCommand(_ command: ReserveCommand, _ session: ShellSession) throws(ShellError) {
        let reservations = try localReservations(for: "reserve")
        let request = try command.request(at: reservations.now)
        let name = try board(request.board, for: "reserve").config.name
        let user = session.identity.user
        let reservation: Reservation
        do {
            reservation = try reservations.reserve(board: name, user: user, until: request.end)
        } catch ReservationRefusal.conflict(let holder) {
            throw .failure("reserve: \(name) is held by \(holder.user) until \(TimeText.format(holder.end))")
        } catch {
            throw .failure("reserve: the reservation store failed: \(error)")
        }
        try? reservations.audit(user: user, action: "reserve", board: name, detail: "until \(TimeText.format(reservation.end))")
        logger.notice("reserve: \(user) holds \(name) until \(TimeText.format(reservation.end))")
        session.print("\(name): reserved by \(user) until \(TimeText.format(reservation.end))\n")
    }

    /// `release BOARD`: ends the caller's reservation (the board is then
    /// powered off, as at the coordinator).
    func releaseCommand(_ command: ReleaseCommand, _ session: ShellSession) throws(ShellError) {
        let reservations = try localReservations(for: "release")
        let name = try board(command.board, for: "release").config.name
        let current: Reservation?
        do { current = try reservations.current(board: name) } catch { throw .failure("release: the reservation store failed: \(error)") }
        guard let current else { throw .failure("release: \(name) is not reserved") }
        let user = session.identity.user
        guard current.user == user else {
            // A lone agent has no admins.
            throw .notAllowed(command.force ? "release: --force is for admins" : "release: \(name) is held by \(current.user), not you")
        }
        do { try reservations.release(current) } catch { throw .failure("release: the reservation store failed: \(error)") }
        try? reservations.audit(user: user, action: "release", board: name)
        logger.notice("release: \(user) released \(name)")
        session.print("\(name): released\n")
    }

    /// `reservations [--json]`: who holds which board until when: the
    /// agent's own reservations, or what its coordinator said.
    func reservationsCommand(_ command: ReservationsCommand, _ session: ShellSession) throws(ShellError) {
        let json = command.json
        let rows = boards.compactMap { board in
            holders.holding(of: board.config.name).map { (board: board.config.name, user: $0.user, guests: $0.guests, until: $0.untilSeconds) }
        }
        if json {
            try printJSON(rows.map { ["board": $0.board, "user": $0.user, "guests": $0.guests, "end": TimeText.format($0.until)] },
                          session, for: "reservations")
            return
        }
        var table = [["BOARD", "USER", "END"]]
        for row in rows {
            table.append([row.board, row.user + (row.guests.isEmpty ? "" : " (with \(row.guests.joined(separator: ",")))"),
                          TimeText.format(row.until)])
        }
        session.print(TerminalText.table(table))
    }

    /// `audit [--json]`: who did what to which board, and when. A lone agent
    /// has no admins: every key it accepts may read it.
    func auditCommand(_ command: AuditCommand, _ session: ShellSession) throws(ShellError) {
        let json = command.json
        let reservations = try localReservations(for: "audit")
        let entries: [AuditEntry]
        do { entries = try reservations.auditLog() } catch { throw .failure("audit: the store failed: \(error)") }
        session.print(AuditEntry.listing(entries, json: json))
    }
}
