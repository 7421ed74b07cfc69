import AgentCore
import ProvisionerCore
import ShellSupport
import SystemSupport

extension AgentShell {
    /// `hold BOARD USER UNTIL` or `hold BOARD --none` (coordinator keys
    /// only): who holds the board and until when (Unix seconds or
    /// `2026-12-01T18:00:00Z`). From then on only that user may type on its
    /// console, power it, netboot or flash it here, and TFTP requests from
    /// its `board_ip` are served from that user's space.
    func holdCommand(_ arguments: [String], _ session: ShellSession) throws(ShellError) {
        let usage = "usage: hold BOARD USER UNTIL | hold BOARD --none"
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
        guard arguments.count == 3 else { throw .usage("hold: \(usage)") }
        let user = arguments[1]
        guard AgentKeyring.isValidUserName(user) else { throw .usage("hold: '\(user)' is not a user name") }
        guard let until = Double(arguments[2]) ?? parseISOTime(arguments[2]) else {
            throw .usage("hold: '\(arguments[2])' is not a time (Unix seconds or 2026-12-01T18:00:00Z)")
        }
        holders.set(name, to: BoardHolders.Holding(user: user, until: until))
        logger.info("hold: \(name) held by \(user) until \(isoTime(until)) (said \(session.identity.coordinator!))")
        session.print("\(name): held by \(user) until \(isoTime(until))\n")
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
