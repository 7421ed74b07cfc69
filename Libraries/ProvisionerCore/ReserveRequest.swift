import ShellSupport

/// `reserve BOARD [--for 2h | --until 2026-12-01T18:00]` as the coordinator
/// and a lone agent read it: from now, 1 hour by default, 30 days at most.
public struct ReserveRequest: Sendable, Equatable {
    public var board: String
    /// Unix time.
    public var end: Int64

    public static let usage = "usage: reserve BOARD [--for 2h | --until 2026-12-01T18:00]"
    /// Longest reservation one `reserve` makes.
    public static let longest: Int64 = 30 * 86400

    public init(board: String, end: Int64) {
        self.board = board
        self.end = end
    }

    /// Reads the words after `reserve`, at `start` (now).
    public init(parsing arguments: [String], at start: Int64) throws(ShellError) {
        var board: String?
        var end: Int64?
        var rest = arguments[...]
        while let word = rest.popFirst() {
            switch word {
            case "--for":
                guard end == nil, let value = rest.popFirst() else { throw .usage("reserve: --for needs a duration, once (\(Self.usage))") }
                guard let seconds = parseDuration(value), seconds >= 60 else {
                    throw .usage("reserve: '\(value)' is not a duration of a minute or more (e.g. 30m, 2h, 1d)")
                }
                // Bounded before it is converted: 1e19 seconds would trap.
                guard seconds <= Double(Self.longest) else { throw .usage("reserve: at most 30 days at a time") }
                end = start + Int64(seconds.rounded())
            case "--until":
                guard end == nil, let value = rest.popFirst() else { throw .usage("reserve: --until needs a time, once (\(Self.usage))") }
                guard let time = TimeText.parse(value) else {
                    throw .usage("reserve: '\(value)' is not a time (use 2026-12-01T18:00, local time, or add Z or +01:00)")
                }
                guard time > start else { throw .usage("reserve: \(value) is not in the future") }
                end = time
            default:
                guard !word.hasPrefix("-"), board == nil else { throw .usage("reserve: unexpected argument '\(word)' (\(Self.usage))") }
                board = word
            }
        }
        guard let board else { throw .usage("reserve: missing BOARD (\(Self.usage))") }
        let until = end ?? start + 3600
        guard until - start <= Self.longest else { throw .usage("reserve: at most 30 days at a time") }
        self.init(board: board, end: until)
    }
}
