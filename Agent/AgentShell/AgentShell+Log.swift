import AgentCore
import Foundation
import ShellSupport

extension AgentShell {
    /// `log BOARD [--since D] [--follow]`: the board's console log,
    /// timestamped as the console service writes it. `--since` takes a
    /// duration (`90s`, `10m`, `2h`, `1d`). `--follow` keeps printing new
    /// lines until the client leaves (or types Ctrl-C on a terminal).
    func logCommand(_ arguments: [String], _ session: ShellSession) throws(ShellError) {
        let usage = "usage: log BOARD [--since DURATION] [--follow]"
        var boardName: String?
        var since: Double?
        var follow = false
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            switch argument {
            case "--follow", "-f": follow = true
            case "--since":
                guard index + 1 < arguments.count else { throw .usage("log: --since needs a duration (\(usage))") }
                index += 1
                guard let seconds = Self.duration(arguments[index]) else {
                    throw .usage("log: '\(arguments[index])' is not a duration such as 90s, 10m, 2h or 1d")
                }
                since = Date().timeIntervalSince1970 - seconds
            default:
                guard !argument.hasPrefix("-"), boardName == nil else { throw .usage("log: unexpected argument '\(argument)' (\(usage))") }
                boardName = argument
            }
            index += 1
        }
        guard let boardName else { throw .usage("log: missing BOARD (\(usage))") }
        let console = try board(boardName, for: "log").console
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

    /// Seconds in `90s`, `10m`, `2h`, `1d`, or a bare number of seconds.
    static func duration(_ text: String) -> Double? {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        var number = Substring(text)
        var unit = 1.0
        if let last = text.last, let factor = units[last] {
            number = number.dropLast()
            unit = factor
        }
        guard let value = Double(number), value >= 0, value.isFinite else { return nil }
        return value * unit
    }
}
