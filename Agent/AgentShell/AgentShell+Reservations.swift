import AgentCore
import ProvisionerCore
import Reservations
import ShellSupport
import Wire

/// `reserve`, `release`, `reservations` and `audit` on a lone agent (no
/// `ssh.coordinator_keys`): the coordinator's reservation service, kept by
/// the agent itself. On a coordinator's agent, reservations are made at
/// the coordinator, and `reservations` lists what it said (`hold`).
extension AgentShell {
    /// The service, or the one-line refusal on a coordinator's agent.
    func reservationService(for command: String) throws(ShellError) -> ReservationService {
        guard let reservations else {
            throw .failure("\(command): this agent's boards are reserved at its coordinator (ssh LAB \(command) …)")
        }
        return reservations.service
    }

    func reserveCommand(_ command: ReserveCommand, _ session: ShellSession) throws(ShellError) {
        let service = try reservationService(for: "reserve")
        guard let name = command.board else {
            try service.reserve(command, candidates: boardReports(), session)
            return
        }
        try service.reserve(command, board: try board(name, for: "reserve").config.name, session)
    }

    func releaseCommand(_ command: ReleaseCommand, _ session: ShellSession) throws(ShellError) {
        let service = try reservationService(for: "release")
        try service.release(command, board: try board(command.board, for: "release").config.name, session)
    }

    /// `reservations [--json]`: the agent's own reservations, or the holders
    /// its coordinator said (whose start the agent does not know).
    func reservationsCommand(_ command: ReservationsCommand, _ session: ShellSession) throws(ShellError) {
        if let reservations {
            try reservations.service.reservations(command, session)
            return
        }
        let rows = boards.compactMap { board in
            holders.holding(of: board.config.name).map {
                ReservationReport(board: board.config.name, user: $0.user, guests: $0.guests, start: nil,
                                  end: TimeText.format($0.untilSeconds), source: "coordinator", stale: false)
            }
        }
        session.print(ReservationReport.listing(rows, json: command.json))
    }

    /// `audit [--json]`: who did what to which board, and when. A lone agent
    /// has no admins: every key it accepts may read it.
    func auditCommand(_ command: AuditCommand, _ session: ShellSession) throws(ShellError) {
        try reservationService(for: "audit").auditLog(command, session)
    }
}
