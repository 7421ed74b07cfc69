import ProvisionerCore
import ShellSupport
import Wire

extension AuditEntry {
    /// `audit [--json]`'s output, the coordinator's and a lone agent's: one
    /// line of JSON, or a table, oldest first; times as `TimeText` shows them.
    public static func listing(_ entries: [AuditEntry], json: Bool) -> String {
        if json {
            return Wire.line(entries.map {
                AuditReport(time: TimeText.format($0.time), user: $0.user, action: $0.action, board: $0.board, detail: $0.detail)
            }) + "\n"
        }
        var table = [["TIME", "USER", "ACTION", "BOARD", "DETAIL"]]
        for entry in entries {
            table.append([TimeText.format(entry.time), entry.user, entry.action, entry.board ?? "-", entry.detail ?? ""])
        }
        return TerminalText.table(table)
    }
}
