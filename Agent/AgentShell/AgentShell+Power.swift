import AgentCore
import ShellSupport

extension AgentShell {
    /// `power BOARD on|off|cycle|status`: prints `BOARD: STATE` after the action.
    func powerCommand(_ command: PowerCommand, _ board: any BoardHandle, _ session: ShellSession) throws(ShellError) {
        let name = board.config.name
        let verb = command.verb
        do {
            switch verb {
            case .on: try board.power.powerOn()
            case .off: try board.power.powerOff()
            case .cycle: try board.power.cycle()
            case .status: break
            }
        } catch {
            logger.warning("power: \(session.identity.user) asked \(verb.rawValue) for \(name): failed: \(error)")
            throw .failure("power: \(name): \(verb.rawValue) failed: \(error)")
        }
        if verb != .status {
            events?.append("power", board: name, user: session.identity.user, ["action": .string(verb.rawValue)])
            setState(nil, of: board, by: session.identity.user, power: verb == .off ? .off : nil)
            logger.notice("power: \(name) \(verb.rawValue), asked by \(session.identity.user)\(command.force ? " (--force)" : "")")
        }
        let state: PowerState
        do { state = try board.power.status() } catch { throw .failure("power: \(name): status failed: \(error)") }
        session.print("\(name): \(state.rawValue)\n")
    }
}
