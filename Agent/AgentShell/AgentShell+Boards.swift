import AgentCore
import ShellSupport
import SystemSupport
import Wire

extension AgentShell {
    /// `boards [--json]`: every board with its power state, its state (off,
    /// u-boot, linux, flashing, netboot, unknown; see `JobSlots.state`) and
    /// its holder as the coordinator last said (`hold`), or why it is locked.
    func boardsCommand(_ command: BoardsCommand, _ session: ShellSession) throws(ShellError) {
        let rows = boards.map { board -> BoardReport in
            let name = board.config.name
            let power: PowerState?
            do { power = try board.power.status() } catch { power = nil }
            let holding = holders.holding(of: name)
            return BoardReport(name: name, agent: agentName, online: power != nil, power: (power ?? .unknown).rawValue,
                               state: jobs.state(of: name, power: power), holder: holding?.user,
                               until: holding.map { isoTime($0.until) }, guests: holding?.guests ?? [],
                               locked: holders.lockReason(of: name))
        }
        if command.json {
            session.print(Wire.line(rows) + "\n")
            return
        }
        var table = [["NAME", "AGENT", "ONLINE", "POWER", "STATE", "HOLDER", "UNTIL"]]
        for row in rows {
            table.append([row.name, agentName, row.online ? "yes" : "no", row.power, row.state,
                          row.holder ?? (row.locked == nil ? "-" : "(locked)"), row.until ?? "-"])
        }
        session.print(TerminalText.table(table))
    }
}
