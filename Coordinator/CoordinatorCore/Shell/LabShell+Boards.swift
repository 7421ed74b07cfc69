import Commands
import Reservations
import ProvisionerCore
import ShellSupport
import Wire

extension LabShell {
    /// `boards [--json]`: every board of every agent, with its holder, or
    /// why nobody may use it (`locked`).
    func boardsCommand(_ command: BoardsCommand, _ session: ShellSession) throws(ShellError) {
        let json = command.json
        let time = now()
        let holders: [String: Reservation]
        do {
            holders = try store.currentByBoard(at: time)
        } catch {
            throw .failure("boards: the reservation store failed: \(error)")
        }
        let rows = registry.boards().map { board in
            let holder = holders[board.name]
            return BoardReport(name: board.name, agent: board.agent, online: board.online, power: board.power, state: board.state,
                               holder: holder?.user, until: holder.map { TimeText.format($0.end) }, guests: holder?.guests ?? [],
                               locked: BoardHolding.lockReason(board.name, holder: holder, calendar: calendar, users: users))
        }
        if json {
            session.print(Wire.line(rows) + "\n")
            return
        }
        var table = [["NAME", "AGENT", "ONLINE", "POWER", "STATE", "HOLDER", "UNTIL"]]
        for row in rows {
            table.append([row.name, row.agent, row.online ? "yes" : "no", row.power, row.state,
                          row.holder ?? (row.locked == nil ? "-" : "(locked)"), row.until ?? "-"])
        }
        session.print(TerminalText.table(table))
    }
}
