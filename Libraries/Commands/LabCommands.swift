import ArgumentParser
import ProvisionerCore
import ShellSupport
import Wire

/// `boards [--tag T]… [--json]`.
public struct BoardsCommand: CommandArguments {
    public static let configuration = CommandConfiguration(
        commandName: "boards", abstract: "Every board: agent, online, power, state, holder, until, tags.",
        usage: "boards [--tag T]… [--json]")

    @Option(name: .customLong("tag"), help: ArgumentHelp("Only boards with this tag (again: with all of them).", valueName: "TAG"))
    public var tags: [String] = []
    @Flag(help: "One line of JSON (docs/json.md).") public var json = false

    public init() {}

    /// What the session prints: the boards with every tag asked for, as
    /// one line of JSON or a table.
    public func output(_ rows: [BoardReport]) -> String {
        let selected = rows.filter { row in tags.allSatisfy(row.tags.contains) }
        if json { return Wire.line(selected) + "\n" }
        var table = [["NAME", "AGENT", "ONLINE", "POWER", "STATE", "HOLDER", "UNTIL", "TAGS"]]
        for row in selected {
            table.append([row.name, row.agent, row.online ? "yes" : "no", row.power, row.state,
                          row.holder ?? (row.locked == nil ? "-" : "(locked)"), row.until ?? "-",
                          row.tags.isEmpty ? "-" : row.tags.joined(separator: ",")])
        }
        return TerminalText.table(table)
    }
}

/// `reserve BOARD [--for 2h | --until 2026-12-01T18:00]`, or
/// `reserve --tag T [--tag U]… [--for 2h]`: any free, online board with
/// every tag.
public struct ReserveCommand: CommandArguments {
    public static let configuration = CommandConfiguration(
        commandName: "reserve",
        abstract: "Reserve a board from now (1 hour by default, 30 days at most); again to extend. With --tag: any free board with the tags; its name alone on stdout.",
        usage: "reserve BOARD [--for 2h | --until 2026-12-01T18:00] | reserve --tag T [--tag U]… [--for 2h | --until TIME] [--wait [--timeout 30m]]")

    @Argument(help: ArgumentHelp("The board's name (or give --tag).", valueName: "BOARD")) public var board: String?
    @Option(name: .customLong("tag"), help: ArgumentHelp("Any free, online board with this tag (again: with all of them).", valueName: "TAG"))
    public var tags: [String] = []
    @Option(name: .customLong("for"), help: ArgumentHelp("How long (30m, 2h, 1d).", valueName: "DURATION")) public var duration: String?
    @Option(help: ArgumentHelp("Until when (2026-12-01T18:00, local time, or with Z or +01:00).", valueName: "TIME")) public var until: String?
    @Flag(help: "With --tag: wait in the queue until a board is free (first come, first served).") public var wait = false
    @Option(help: ArgumentHelp("With --wait: give up after this long (30m); no limit by default.", valueName: "DURATION"))
    public var timeout: String?

    public init() {}

    public func check() throws(ShellError) {
        if duration != nil && until != nil { throw Self.usageError("give --for or --until, once") }
        if board == nil && tags.isEmpty { throw Self.usageError("name a BOARD, or give --tag") }
        if board != nil && !tags.isEmpty { throw Self.usageError("name a BOARD or give --tag, not both") }
        if wait && tags.isEmpty { throw Self.usageError("--wait is for --tag") }
        if timeout != nil && !wait { throw Self.usageError("--timeout is for --wait") }
        if let timeout, waitLimit == nil { throw Self.usageError("'\(timeout)' is not a duration from 1s to a day (e.g. 30m, 2h)") }
    }

    /// `--timeout` in seconds, bounded: a second to a day (a CI job that
    /// waits longer waits for nothing).
    public var waitLimit: Double? {
        guard let timeout, let seconds = parseDuration(timeout), seconds >= 1, seconds <= 86400 else { return nil }
        return seconds
    }

    /// The reservation asked for, from `start` (now).
    public func request(at start: Int64) throws(ShellError) -> ReserveRequest {
        // ReserveRequest reads a board's name first; with --tag, the first
        // tag stands in for it (only the end is used).
        try ReserveRequest(parsing: [board ?? tags[0]] + option("--for", duration) + option("--until", until), at: start)
    }
}

/// `queue [--json]`.
public struct QueueCommand: CommandArguments {
    public static let configuration = CommandConfiguration(
        commandName: "queue", abstract: "Who waits for a board with which tags (reserve --tag … --wait), since when, in which position.",
        usage: "queue [--json]")

    @Flag(help: "One line of JSON (docs/json.md).") public var json = false

    public init() {}
}

/// `events [--board B] [--since ID] [--follow] [--json]`.
public struct EventsCommand: CommandArguments {
    public static let configuration = CommandConfiguration(
        commandName: "events", abstract: "The lab's events (power, state, consoles, reservations, queue, jobs, agents); --follow streams them.",
        usage: "events [--board B] [--since ID] [--follow] [--json]")

    @Option(help: ArgumentHelp("Only this board's.", valueName: "BOARD")) public var board: String?
    @Option(name: .customLong("since"), help: ArgumentHelp("The events after this id (default: the last 100).", valueName: "ID"))
    public var sinceText: String?
    @Flag(help: "Then each event as it comes, until Ctrl-C.") public var follow = false
    @Flag(help: "One JSON object a line (docs/json.md).") public var json = false

    public init() {}

    /// `--since`, checked: a whole number from 0.
    public var since: Int64? { sinceText.flatMap { Int64($0) }.flatMap { $0 >= 0 ? $0 : nil } }

    public func check() throws(ShellError) {
        if let sinceText, since == nil { throw Self.usageError("--since wants an event id (a whole number), not '\(sinceText.prefix(40))'") }
    }
}

/// `release BOARD [--force]`.
public struct ReleaseCommand: CommandArguments {
    public static let configuration = CommandConfiguration(
        commandName: "release", abstract: "End your reservation (admins: anyone's, with --force); the board is powered off.",
        usage: "release BOARD [--force]")

    @Argument(help: .board) public var board: String
    @Flag(help: "An admin ends someone else's reservation (audited).") public var force = false

    public init() {}
}

/// `reservations [--json]`.
public struct ReservationsCommand: CommandArguments {
    public static let configuration = CommandConfiguration(
        commandName: "reservations", abstract: "Current and coming reservations: who holds which board, until when.",
        usage: "reservations [--json]")

    @Flag(help: "One line of JSON (docs/json.md).") public var json = false

    public init() {}
}

/// `audit [--json]`.
public struct AuditCommand: CommandArguments {
    public static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "Who did what to which board (the coordinator's admins; anyone on a lone agent).",
        usage: "audit [--json]")

    @Flag(help: "One line of JSON (docs/json.md).") public var json = false

    public init() {}
}

/// `hold BOARD USER UNTIL [--guests U1,U2]`, `hold BOARD --none` or
/// `hold BOARD --locked REASON`: the coordinator tells its agent who holds
/// a board, that nobody does, or that nobody may use it (coordinator keys only).
public struct HoldCommand: CommandArguments {
    public static let configuration = CommandConfiguration(
        commandName: "hold", abstract: "Who holds BOARD until when (the coordinator's keys only).",
        usage: "hold BOARD USER UNTIL [--guests USER,USER] | hold BOARD --none | hold BOARD --locked REASON",
        shouldDisplay: false)
    public static var home: CommandHome { .agent }

    @Argument(help: .board) public var board: String
    @Argument(help: ArgumentHelp("The holder.", valueName: "USER")) public var user: String?
    @Argument(help: ArgumentHelp("Unix seconds or 2026-12-01T18:00:00Z.", valueName: "UNTIL")) public var until: String?
    @Option(help: ArgumentHelp("Who may use the board too.", valueName: "USER,USER")) public var guests: String?
    @Flag(help: "Nobody holds the board.") public var none = false
    @Option(help: ArgumentHelp("Nobody may use the board, for this reason.", valueName: "REASON")) public var locked: String?

    public init() {}

    public func check() throws(ShellError) {
        if none || locked != nil {
            guard user == nil, until == nil, guests == nil, !(none && locked != nil) else { throw .usage("hold: \(Self.usage)") }
            if let locked, locked.isEmpty || locked.utf8.count > 300 || locked.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) {
                throw .usage("hold: --locked wants a reason of one line, at most 300 bytes")
            }
        } else if user == nil || until == nil {
            throw .usage("hold: \(Self.usage)")
        }
    }
}

/// `watch` (coordinator keys only): says that the agent runs, in one line,
/// and stays open until the agent stops or the caller hangs up, so that
/// the coordinator notices a restart at once (and tells the new agent who
/// holds its boards) instead of at its next health check.
public struct WatchCommand: CommandArguments {
    public static let configuration = CommandConfiguration(
        commandName: "watch", abstract: "Stays open while the agent runs (the coordinator's keys only).",
        usage: "watch [--events-since ID]", shouldDisplay: false)
    public static var home: CommandHome { .agent }

    @Option(name: .customLong("events-since"), help: ArgumentHelp("Then stream the agent's events after this id, as JSON lines.", valueName: "ID"))
    public var eventsSinceText: String?

    public init() {}

    /// `--events-since`, checked: a whole number from 0.
    public var eventsSince: Int64? { eventsSinceText.flatMap { Int64($0) }.flatMap { $0 >= 0 ? $0 : nil } }

    public func check() throws(ShellError) {
        if let eventsSinceText, eventsSince == nil { throw Self.usageError("--events-since wants an event id, not '\(eventsSinceText.prefix(40))'") }
    }
}

/// `web [--token] [--revoke]`.
public struct WebCommand: CommandArguments {
    public static let configuration = CommandConfiguration(
        commandName: "web", abstract: "A one-time link that signs your browser in to the lab's web page (5 minutes, once).",
        usage: "web [--token | --revoke]")

    @Flag(help: "A bearer token for /api/v1/ instead (for tools; valid until --revoke).") public var token = false
    @Flag(help: "End every browser session and token of yours.") public var revoke = false

    public init() {}

    public func check() throws(ShellError) {
        if token && revoke { throw Self.usageError("--token and --revoke go alone") }
    }
}

/// `whoami`.
public struct WhoamiCommand: CommandArguments {
    public static let configuration = CommandConfiguration(commandName: "whoami", abstract: "Who you act as.",
        usage: "whoami")
    public init() {}
}

/// `version`.
public struct VersionCommand: CommandArguments {
    public static let configuration = CommandConfiguration(commandName: "version", abstract: "This program's version.",
        usage: "version")
    public init() {}
}

/// `help [COMMAND]`.
public struct HelpCommand: CommandArguments {
    public static let configuration = CommandConfiguration(commandName: "help", abstract: "The commands, or one command's options.",
        usage: "help [COMMAND]")

    @Argument(help: ArgumentHelp("A command.", valueName: "COMMAND")) public var command: String?

    public init() {}
}
