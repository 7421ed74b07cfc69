import Foundation
import ProvisionerCore
import ShellSupport

extension AuditEntry {
    /// `audit [--json]`'s output, the coordinator's and a lone agent's: one
    /// line of JSON, or a table, oldest first; times as `TimeText` shows them.
    public static func listing(_ entries: [AuditEntry], json: Bool) -> String {
        if json {
            let objects = entries.map { entry -> [String: Any] in
                ["time": TimeText.format(entry.time), "user": entry.user, "action": entry.action,
                 "board": entry.board ?? NSNull(), "detail": entry.detail ?? NSNull()]
            }
            let data = (try? JSONSerialization.data(withJSONObject: objects, options: [.sortedKeys])) ?? Data("[]".utf8)
            return String(decoding: data, as: UTF8.self) + "\n"
        }
        var table = [["TIME", "USER", "ACTION", "BOARD", "DETAIL"]]
        for entry in entries {
            table.append([TimeText.format(entry.time), entry.user, entry.action, entry.board ?? "-", entry.detail ?? ""])
        }
        return TerminalText.table(table)
    }
}
