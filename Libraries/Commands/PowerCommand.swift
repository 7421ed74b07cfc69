import ArgumentParser
import ProvisionerCore
import ShellSupport

/// What `power` does to the switch.
public enum PowerVerb: String, Sendable, CaseIterable {
    case on, off, cycle, status
}

/// `power BOARD on|off|cycle|status [--force]`.
public struct PowerCommand: BoardCommand {
    public static let configuration = CommandConfiguration(
        commandName: "power", abstract: "The board's power switch (status: anyone).",
        usage: "power BOARD on|off|cycle|status")

    @Argument(help: .board) public var board: String
    @Argument(help: ArgumentHelp("on, off, cycle or status.", valueName: "ACTION")) public var action: String
    @Flag(help: .force) public var force = false

    public init() {}

    /// Made by a program, not parsed: every property is set (ArgumentParser
    /// traps on reading one that was neither parsed nor set).
    public init(board: String, _ verb: PowerVerb) {
        self.board = board
        action = verb.rawValue
        force = false
    }

    public var verb: PowerVerb { PowerVerb(rawValue: action) ?? .status }

    public func check() throws(ShellError) {
        guard PowerVerb(rawValue: action) != nil else { throw Self.usageError("unknown action '\(action)'") }
    }

    public var words: [String] { ["power", board, action] + flag("--force", force) }
    public var access: BoardAccess { verb == .status ? .anyone : .holder }
    public var audit: (action: String, detail: String?)? { verb == .status ? nil : change }
}

/// `console BOARD [--ro] [--force]`: the live console with scrollback.
public struct ConsoleCommand: BoardCommand {
    public static let configuration = CommandConfiguration(
        commandName: "console",
        abstract: "The live console (ssh -t); read-only unless you hold BOARD.",
        usage: "console BOARD [--ro]",
        discussion: "Ctrl-] opens a menu: . detach, c power cycle, b send break, r reset to U-Boot, Ctrl-] sends Ctrl-]. OpenSSH's ~. still ends the whole connection.")

    @Argument(help: .board) public var board: String
    @Flag(name: .customLong("ro"), help: "Watch only, even as the holder.") public var readOnly = false
    @Flag(help: .force) public var force = false

    public init() {}

    /// Made by a program, not parsed: every property is set.
    public init(board: String, readOnly: Bool, force: Bool = false) {
        self.board = board
        self.readOnly = readOnly
        self.force = force
    }

    public var words: [String] { ["console", board] + flag("--ro", readOnly) + flag("--force", force) }
    public var access: BoardAccess { .console(readOnly: readOnly) }
    public var readsInput: Bool { true }
}

/// `log BOARD [--since 10m] [--follow]`: the persisted console log.
public struct LogCommand: BoardCommand {
    /// Without `--since`, the log's last so many bytes are printed.
    public static let tailBytes = 4 << 20

    public static let configuration = CommandConfiguration(commandName: "log",
        abstract: "The console log, timestamped (without --since, its last \(tailBytes >> 20) MiB).",
        usage: "log BOARD [--since DURATION] [--follow]")

    @Argument(help: .board) public var board: String
    @Option(help: ArgumentHelp("Only lines younger than this (90s, 10m, 2h, 1d).", valueName: "DURATION")) public var since: String?
    @Flag(name: [.customLong("follow"), .customShort("f")], help: "Keep printing new lines until you leave.") public var follow = false

    public init() {}

    /// `--since` in seconds.
    public var sinceSeconds: Double? { since.flatMap(parseDuration) }

    public func check() throws(ShellError) {
        if let since, parseDuration(since) == nil {
            throw .usage("log: '\(since)' is not a duration such as 90s, 10m, 2h or 1d")
        }
    }

    public var words: [String] { ["log", board] + option("--since", since) + flag("--follow", follow) }
    public var access: BoardAccess { .anyone }
    public var readsInput: Bool { follow }
}

/// `connect BOARD PORT [--check]`: the board's TCP port on stdin/stdout.
public struct ConnectCommand: BoardCommand {
    public static let configuration = CommandConfiguration(
        commandName: "connect", abstract: "The board's TCP port on stdin/stdout (holder; ssh -J HOST BOARD).",
        usage: "connect BOARD PORT [--check]")

    @Argument(help: .board) public var board: String
    @Argument(help: ArgumentHelp("The board's TCP port.", valueName: "PORT")) public var port: String
    @Flag(name: .customLong("check"), help: "Only reach the port, then close it.") public var checkOnly = false

    public init() {}

    /// Made by a program, not parsed: every property is set.
    public init(board: String, port: Int, checkOnly: Bool = false) {
        self.board = board
        self.port = String(port)
        self.checkOnly = checkOnly
    }

    /// The port, 1…65535 (checked).
    public var portNumber: Int { Int(port) ?? 0 }

    public func check() throws(ShellError) {
        guard port.utf8.count <= 5, let number = Int(port), (1...65535).contains(number) else {
            throw .usage("connect: '\(port)' is not a port (usage: connect BOARD PORT)")
        }
    }

    public var words: [String] { ["connect", board, port] + flag("--check", checkOnly) }
    public var access: BoardAccess { .holder }
    public var audit: (action: String, detail: String?)? { checkOnly ? nil : change }
    public var readsInput: Bool { !checkOnly }
}
