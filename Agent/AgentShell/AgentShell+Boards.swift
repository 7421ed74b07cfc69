import AgentCore
import Foundation
import ShellSupport
import SystemSupport

extension AgentShell {
    /// `boards [--json]`: every board with its power state, its state (off,
    /// u-boot, linux, flashing, netboot, unknown; see `JobSlots.state`) and
    /// its holder as the coordinator last said (`hold`).
    func boardsCommand(_ command: BoardsCommand, _ session: ShellSession) throws(ShellError) {
        let json = command.json
        let rows = boards.map { board -> [String: Any] in
            let power: PowerState?
            do { power = try board.power.status() } catch { power = nil }
            let holding = holders.holding(of: board.config.name)
            return ["name": board.config.name, "agent": agentName, "online": power != nil,
                    "power": (power ?? .unknown).rawValue, "state": jobs.state(of: board.config.name, power: power),
                    "holder": holding.map { $0.user as Any } ?? NSNull(),
                    "until": holding.map { isoTime($0.until) as Any } ?? NSNull(),
                    "guests": holding?.guests ?? []]
        }
        if json {
            try printJSON(rows, session, for: "boards")
            return
        }
        var table = [["NAME", "AGENT", "ONLINE", "POWER", "STATE", "HOLDER", "UNTIL"]]
        for row in rows {
            table.append([row["name"] as? String ?? "", agentName, (row["online"] as? Bool ?? false) ? "yes" : "no",
                          row["power"] as? String ?? "", row["state"] as? String ?? "unknown",
                          row["holder"] as? String ?? "-", row["until"] as? String ?? "-"])
        }
        session.print(TerminalText.table(table))
    }

    /// `object` as one line of JSON (keys sorted).
    func printJSON(_ object: Any, _ session: ShellSession, for command: String) throws(ShellError) {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else {
            throw .failure("\(command): cannot encode the list")
        }
        session.print(String(decoding: data, as: UTF8.self) + "\n")
    }
}
