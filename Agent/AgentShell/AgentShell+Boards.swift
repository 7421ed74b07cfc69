import AgentCore
import ShellSupport
import SystemSupport
import Wire

extension AgentShell {
    /// `boards [--tag T]… [--json]`: every board with its power state, its
    /// state (off, u-boot, linux, flashing, netboot, unknown; see
    /// `JobSlots.state`), its holder as the coordinator last said (`hold`)
    /// or why it is locked, and its tags.
    func boardsCommand(_ command: BoardsCommand, _ session: ShellSession) throws(ShellError) {
        session.print(command.output(boardReports()))
    }

    /// Records what a job or a command left the board at (nil: unknown) and
    /// writes the `state` event: what `boards` shows now (`off` after a
    /// power off).
    func setState(_ state: String?, of board: any BoardHandle, by user: String, power: PowerState? = nil) {
        jobs.setState(state, of: board.config.name)
        events?.append("state", board: board.config.name, user: user, ["state": .string(power == .off ? "off" : state ?? "unknown")])
    }

    /// Every board as `boards --json` shows it.
    public func boardReports() -> [BoardReport] {
        boards.map { board -> BoardReport in
            let name = board.config.name
            let power: PowerState?
            do { power = try board.power.status() } catch { power = nil }
            let holding = holders.holding(of: name)
            return BoardReport(name: name, agent: agentName, online: power != nil, power: (power ?? .unknown).rawValue,
                               state: jobs.state(of: name, power: power), holder: holding?.user,
                               until: holding.map { isoTime($0.until) }, guests: holding?.guests ?? [],
                               locked: holders.lockReason(of: name), tags: board.config.tags)
        }
    }
}
