import AgentCore
import Foundation
import ShellSupport

extension AgentShell {
    /// `log BOARD [--since D] [--follow]`: the board's console log,
    /// timestamped as the console service writes it. `--since` takes a
    /// duration (`90s`, `10m`, `2h`, `1d`). `--follow` keeps printing new
    /// lines until the client leaves (or types Ctrl-C on a terminal).
    func logCommand(_ command: LogCommand, _ board: any BoardHandle, _ session: ShellSession) throws(ShellError) {
        let since = command.sinceSeconds.map { Date().timeIntervalSince1970 - $0 }
        let follow = command.follow
        let boardName = board.config.name
        let console = board.console
        var printed: Set<String>
        do {
            let lines = try console.logLines(since: since)
            for line in lines { session.print(line + "\n") }
            printed = Set(lines.suffix(4096))
        } catch {
            throw .failure("log: \(boardName): \(error)")
        }
        guard follow else { return }
        // New lines by polling: each poll asks from a little before the last
        // one, and lines printed by the previous poll are skipped.
        var polled = Date().timeIntervalSince1970
        while true {
            switch session.read(timeout: 0.5) {
            case .end: return
            case .bytes(let bytes) where session.isTerminal && (bytes.contains(0x03) || bytes.contains(0x04)):
                return
            case .bytes, .timeout: break
            }
            let now = Date().timeIntervalSince1970
            guard let lines = try? console.logLines(since: polled - 2) else { continue }
            polled = now
            for line in lines where !printed.contains(line) { session.print(line + "\n") }
            printed = Set(lines)
        }
    }
}
