import Commands
import Reservations
import ProvisionerCore
import ShellSupport
import Wire

extension LabShell {
    /// `boards [--tag T]… [--json]`: every board of every agent, with its
    /// holder, or why nobody may use it (`locked`), and its tags.
    func boardsCommand(_ command: BoardsCommand, _ session: ShellSession) throws(ShellError) {
        session.print(command.output(try boardReports(for: "boards")))
    }

    /// Every board as `boards --json` shows it: as its agent reported it,
    /// with the holder from the store.
    func boardReports(for command: String) throws(ShellError) -> [BoardReport] {
        let holders: [String: Reservation]
        do {
            holders = try store.currentByBoard(at: now())
        } catch {
            throw .failure("\(command): the reservation store failed: \(error)")
        }
        return registry.boards().map { board in
            let holder = holders[board.name]
            return BoardReport(name: board.name, agent: board.agent, online: board.online, power: board.power, state: board.state,
                               holder: holder?.user, until: holder.map { TimeText.format($0.end) }, guests: holder?.guests ?? [],
                               locked: BoardHolding.lockReason(board.name, holder: holder, calendar: calendar, users: users),
                               tags: board.tags)
        }
    }
}
