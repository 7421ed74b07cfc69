import AgentCore
import Commands
import Foundation
import ShellSupport

extension AgentShell {
    /// `log BOARD [--since D] [--follow]`: the board's console log,
    /// timestamped as the console service writes it: the lines since a
    /// duration ago (`90s`, `10m`, `2h`, `1d`), or its last
    /// `LogCommand.tailBytes`. `--follow` keeps printing each new line once
    /// it is complete, until the client leaves (or types Ctrl-C on a terminal).
    func logCommand(_ command: LogCommand, _ board: any BoardHandle, _ session: ShellSession) throws(ShellError) {
        let start = command.sinceSeconds.map { ConsoleLogStart.since(Date().timeIntervalSince1970 - $0) }
            ?? .tail(bytes: LogCommand.tailBytes)
        let reader: any ConsoleLogReader
        do {
            reader = try board.console.openLog(from: start, follow: command.follow)
            try reader.read { session.print($0 + "\n") }
        } catch {
            throw .failure("log: \(board.config.name): \(error)")
        }
        guard command.follow else { return }
        // The reader remembers where it got to: each poll reads what came since.
        while true {
            switch session.read(timeout: 0.5) {
            case .end: return
            case .bytes(let bytes) where session.isTerminal && (bytes.contains(0x03) || bytes.contains(0x04)):
                return
            case .bytes, .timeout: break
            }
            try? reader.read { session.print($0 + "\n") }
        }
    }
}
