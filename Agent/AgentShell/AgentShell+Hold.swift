import AgentCore
import ProvisionerCore
import ShellSupport
import SystemSupport

extension AgentShell {
    /// `hold BOARD USER UNTIL [--guests U1,U2]`, `hold BOARD --none` or
    /// `hold BOARD --locked REASON` (coordinator keys only): who holds the
    /// board and until when (Unix seconds or `2026-12-01T18:00:00Z`). From
    /// then on only that user (and the guests) may type on its console,
    /// power it, netboot or flash it here, and TFTP requests from its
    /// `board_ip` are served from the holder's space. Locked: nobody may.
    func holdCommand(_ command: HoldCommand, _ session: ShellSession) throws(ShellError) {
        guard session.identity.coordinator != nil else {
            throw .notAllowed("hold: only the coordinator says who holds a board")
        }
        let name = try board(command.board, for: "hold").config.name
        if let reason = command.locked {
            holders.lock(name, reason: reason)
            logger.info("hold: \(name) is locked: \(reason) (said \(session.identity.coordinator!))")
            session.print("\(name): locked: \(reason)\n")
            return
        }
        guard let user = command.user, let time = command.until else {
            holders.set(name, to: nil)
            logger.info("hold: \(name) is free (said \(session.identity.coordinator!))")
            session.print("\(name): free\n")
            return
        }
        let guests = command.guests.map { $0.split(separator: ",").map(String.init) } ?? []
        if let bad = guests.first(where: { !AgentKeyring.isValidUserName($0) }) {
            throw .usage("hold: '\(bad)' is not a user name")
        }
        guard AgentKeyring.isValidUserName(user) else { throw .usage("hold: '\(user)' is not a user name") }
        // Unix seconds up to the year 5000, or an ISO time: checked before any conversion.
        guard let until = Double(time).flatMap({ $0.isFinite && $0 >= 0 && $0 < 95_617_584_000 ? $0 : nil }) ?? parseISOTime(time) else {
            throw .usage("hold: '\(time)' is not a time (Unix seconds or 2026-12-01T18:00:00Z)")
        }
        holders.set(name, to: BoardHolders.Holding(user: user, until: until, guests: guests))
        let with = guests.isEmpty ? "" : " with \(guests.joined(separator: ", "))"
        logger.info("hold: \(name) held by \(user)\(with) until \(isoTime(until)) (said \(session.identity.coordinator!))")
        session.print("\(name): held by \(user)\(with) until \(isoTime(until))\n")
    }
}
