import AgentCore
import ProvisionerCore
import ShellSupport
import SystemSupport

extension AgentShell {
    /// `hold BOARD USER UNTIL [--guests U1,U2]` or `hold BOARD --none`
    /// (coordinator keys only): who holds the board and until when (Unix
    /// seconds or `2026-12-01T18:00:00Z`). From then on only that user (and
    /// the guests) may type on its console, power it, netboot or flash it
    /// here, and TFTP requests from its `board_ip` are served from the
    /// holder's space.
    func holdCommand(_ arguments: [String], _ session: ShellSession) throws(ShellError) {
        let usage = "usage: hold BOARD USER UNTIL [--guests USER,USER] | hold BOARD --none"
        guard session.identity.coordinator != nil else {
            throw .notAllowed("hold: only the coordinator says who holds a board")
        }
        guard let boardName = arguments.first else { throw .usage("hold: missing BOARD (\(usage))") }
        let board = try board(boardName, for: "hold")
        let name = board.config.name
        if arguments.count == 2 && arguments[1] == "--none" {
            holders.set(name, to: nil)
            logger.info("hold: \(name) is free (said \(session.identity.coordinator!))")
            session.print("\(name): free\n")
            return
        }
        var guests: [String] = []
        if arguments.count == 5 && arguments[3] == "--guests" {
            guests = arguments[4].split(separator: ",").map(String.init)
            if let bad = guests.first(where: { !AgentKeyring.isValidUserName($0) }) {
                throw .usage("hold: '\(bad)' is not a user name")
            }
        } else if arguments.count != 3 {
            throw .usage("hold: \(usage)")
        }
        let user = arguments[1]
        guard AgentKeyring.isValidUserName(user) else { throw .usage("hold: '\(user)' is not a user name") }
        guard let until = Double(arguments[2]) ?? parseISOTime(arguments[2]) else {
            throw .usage("hold: '\(arguments[2])' is not a time (Unix seconds or 2026-12-01T18:00:00Z)")
        }
        holders.set(name, to: BoardHolders.Holding(user: user, until: until, guests: guests))
        let with = guests.isEmpty ? "" : " with \(guests.joined(separator: ", "))"
        logger.info("hold: \(name) held by \(user)\(with) until \(isoTime(until)) (said \(session.identity.coordinator!))")
        session.print("\(name): held by \(user)\(with) until \(isoTime(until))\n")
    }

    /// Refuses (exit 3) a change to `board` by anyone but its holder.
    func requireHolder(_ board: any BoardHandle, _ session: ShellSession, for command: String) throws(ShellError) {
        try requireHolder(board, user: session.identity.user, for: command)
    }

    func requireHolder(_ board: any BoardHandle, user: String, for command: String) throws(ShellError) {
        let name = board.config.name
        guard !holders.allows(user, on: name), let holding = holders.holding(of: name) else { return }
        throw .notAllowed("\(command): \(name) is held by \(holding.user) until \(isoTime(holding.until))")
    }
}
