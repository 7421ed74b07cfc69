import Commands
import Reservations
import ProvisionerCore
import Foundation
import ShellSupport

extension LabShell {
    /// `boards [--json]`: every board of every agent, with its holder.
    func boardsCommand(_ command: BoardsCommand, _ session: ShellSession) throws(ShellError) {
        let json = command.json
        let time = now()
        let holders: [String: Reservation]
        do {
            holders = try store.currentByBoard(at: time)
        } catch {
            throw .failure("boards: the reservation store failed: \(error)")
        }
        let boards = registry.boards()
        if json {
            let rows: [[String: Any]] = boards.map { board in
                let holder = holders[board.name]
                return ["name": board.name, "agent": board.agent, "online": board.online, "power": board.power,
                        "state": board.state, "holder": holder?.user ?? NSNull(),
                        "until": holder.map { TimeText.format($0.end) } ?? NSNull(), "guests": holder?.guests ?? []]
            }
            try printJSON(rows, session, for: "boards")
            return
        }
        var table = [["NAME", "AGENT", "ONLINE", "POWER", "STATE", "HOLDER", "UNTIL"]]
        for board in boards {
            let holder = holders[board.name]
            table.append([board.name, board.agent, board.online ? "yes" : "no", board.power, board.state,
                          holder?.user ?? "-", holder.map { TimeText.format($0.end) } ?? "-"])
        }
        session.print(TerminalText.table(table))
    }
}
