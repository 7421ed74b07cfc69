import AgentCore
import ShellSupport

extension AgentShell {
    /// `power BOARD on|off|cycle|status`: prints `BOARD: STATE` after the action.
    func powerCommand(_ arguments: [String], _ session: ShellSession) throws(ShellError) {
        let usage = "usage: power BOARD on|off|cycle|status"
        guard arguments.count == 2 else { throw .usage("power: \(arguments.count < 2 ? "missing arguments" : "too many arguments") (\(usage))") }
        guard let action = PowerAction(rawValue: arguments[1]) else {
            throw .usage("power: unknown action '\(arguments[1])' (\(usage))")
        }
        let board = try board(arguments[0], for: "power")
        let name = board.config.name
        if action != .status { try requireHolder(board, session, for: "power") }
        do {
            switch action {
            case .on: try board.power.powerOn()
            case .off: try board.power.powerOff()
            case .cycle: try board.power.cycle()
            case .status: break
            }
        } catch {
            logger.warning("power: \(session.identity.user) asked \(action.rawValue) for \(name): failed: \(error)")
            throw .failure("power: \(name): \(action.rawValue) failed: \(error)")
        }
        if action != .status {
            jobs.setState(nil, of: name)
            logger.notice("power: \(name) \(action.rawValue), asked by \(session.identity.user)")
        }
        let state: PowerState
        do { state = try board.power.status() } catch { throw .failure("power: \(name): status failed: \(error)") }
        session.print("\(name): \(state.rawValue)\n")
    }
}
