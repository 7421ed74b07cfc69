import ArgumentParser
import ShellSupport

/// Which binary offers a command: the agent, the coordinator, or both
/// (DESIGN.md "What a user types"; a lone agent offers the lab's commands).
public struct CommandHome: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    public static let agent = CommandHome(rawValue: 1)
    public static let coordinator = CommandHome(rawValue: 2)
    public static let both: CommandHome = [.agent, .coordinator]
}

/// One command's words after its name, as a typed value. Each command of
/// both binaries is declared once, as one of these (swift-argument-parser
/// reads the words), and parsed by `LabCommand.parse` alone.
public protocol CommandArguments: ParsableCommand, Sendable {
    /// Where the command is offered.
    static var home: CommandHome { get }
    /// Checks that the syntax cannot express (a port's range, a hex
    /// digest, options that go together), as one usage line.
    func check() throws(ShellError)
}

extension CommandArguments {
    public static var home: CommandHome { .both }
    public static var name: String { configuration.commandName ?? "" }
    /// The usage line (`configuration.usage`) that `help`, `--help` and
    /// every usage error show.
    public static var usage: String { configuration.usage ?? name }
    public func check() throws(ShellError) {}
    /// A usage error of this command: `NAME: TEXT (usage: …)`.
    public static func usageError(_ text: String) -> ShellError {
        .usage("\(name): \(text) (usage: \(usage))")
    }
}

/// A command that acts on one board: the board is named here, and only
/// here, for the access check, the audit line, routing and the action.
public protocol BoardCommand: CommandArguments {
    var board: String { get }
    /// The command as words with its board right after its name and every
    /// option spelled out: what the coordinator sends the agent, so the
    /// agent acts on exactly the board the coordinator checked.
    var words: [String] { get }
    /// What the caller needs on the board.
    var access: BoardAccess { get }
    /// The audit log's action and detail, for a command that changes the
    /// board or the caller's files there; nil for one that only looks.
    var audit: (action: String, detail: String?)? { get }
    /// Whether it reads the client's input (a file, keys, Ctrl-C): a
    /// routed command then gets the client's stdin passed on.
    var readsInput: Bool { get }
}

extension BoardCommand {
    public var audit: (action: String, detail: String?)? { nil }
    public var readsInput: Bool { false }

    /// The audit line of a command that changes something: its name, and
    /// its words after the board.
    public var change: (action: String, detail: String?) {
        let detail = words.dropFirst(2).joined(separator: " ")
        return (Self.name, detail.isEmpty ? nil : String(detail.prefix(200)))
    }
}

/// What a board command needs of its caller (DESIGN.md "Reservation needed").
public enum BoardAccess: Sendable, Equatable {
    /// Anyone the lab knows: the caller's own files, the log, history.
    case anyone
    /// The board's holder (or a guest): console input, power, boot, flash, tunnels.
    case holder
    /// A console: read-write for the holder, watching for anyone else
    /// (unless the board is private); `readOnly` when asked for.
    case console(readOnly: Bool)
}

/// Every command of the agent and the coordinator, parsed.
public enum LabCommand: Sendable {
    case boards(BoardsCommand)
    case reserve(ReserveCommand)
    case queue(QueueCommand)
    case events(EventsCommand)
    case run(RunCommand)
    case release(ReleaseCommand)
    case reservations(ReservationsCommand)
    case audit(AuditCommand)
    case power(PowerCommand)
    case console(ConsoleCommand)
    case log(LogCommand)
    case connect(ConnectCommand)
    case upload(UploadCommand)
    case files(FilesCommand)
    case rm(RmCommand)
    case token(TokenCommand)
    case netboot(NetbootCommand)
    case flash(FlashCommand)
    case jobs(JobsCommand)
    case hold(HoldCommand)
    case watch(WatchCommand)
    case web(WebCommand)
    case whoami(WhoamiCommand)
    case version(VersionCommand)
    case help(HelpCommand)
    /// `CMD --help` (or `help CMD`): that command's help text.
    case commandHelp(String)

    /// Every command's declaration, in the order `help` lists them.
    public static let declarations: [any CommandArguments.Type] = [
        BoardsCommand.self, ReserveCommand.self, QueueCommand.self, ReleaseCommand.self, ReservationsCommand.self,
        ConsoleCommand.self, PowerCommand.self, LogCommand.self, UploadCommand.self, FilesCommand.self, RmCommand.self,
        TokenCommand.self, NetbootCommand.self, FlashCommand.self, RunCommand.self, JobsCommand.self, ConnectCommand.self,
        EventsCommand.self, AuditCommand.self, WebCommand.self, HoldCommand.self, WatchCommand.self, WhoamiCommand.self, VersionCommand.self,
        HelpCommand.self,
    ]

    /// The command that acts on a board, if this is one.
    public var boardCommand: (any BoardCommand)? {
        switch self {
        case .power(let command): command
        case .console(let command): command
        case .log(let command): command
        case .connect(let command): command
        case .upload(let command): command
        case .files(let command): command
        case .rm(let command): command
        case .token(let command): command
        case .netboot(let command): command
        case .flash(let command): command
        case .jobs(let command): command
        case .run(let command): command
        default: nil
        }
    }

    /// Reads one command line (split into words) as `home` offers it; an
    /// unknown command or bad words are one usage line (exit 2).
    public static func parse(_ words: [String], for home: CommandHome) throws(ShellError) -> LabCommand {
        guard let name = words.first else { throw .usage("no command given (try 'help')") }
        guard let type = declarations.first(where: { $0.name == name && $0.home.contains(home) }) else {
            throw .usage("unknown command '\(name)' (try 'help')")
        }
        // Nothing a command passes on (U-Boot's shell, the logs, the audit
        // table) may carry a newline or an escape sequence.
        if words.contains(where: { $0.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7f } }) {
            throw .usage("\(name): control characters (newlines, tabs, escapes) are not allowed in a command's words")
        }
        let arguments = Array(words.dropFirst())
        switch type {
        case is BoardsCommand.Type: return try read(arguments, as: BoardsCommand.self, LabCommand.boards)
        case is ReserveCommand.Type: return try read(arguments, as: ReserveCommand.self, LabCommand.reserve)
        case is QueueCommand.Type: return try read(arguments, as: QueueCommand.self, LabCommand.queue)
        case is EventsCommand.Type: return try read(arguments, as: EventsCommand.self, LabCommand.events)
        case is RunCommand.Type: return try read(arguments, as: RunCommand.self, LabCommand.run)
        case is ReleaseCommand.Type: return try read(arguments, as: ReleaseCommand.self, LabCommand.release)
        case is ReservationsCommand.Type: return try read(arguments, as: ReservationsCommand.self, LabCommand.reservations)
        case is AuditCommand.Type: return try read(arguments, as: AuditCommand.self, LabCommand.audit)
        case is PowerCommand.Type: return try read(arguments, as: PowerCommand.self, LabCommand.power)
        case is ConsoleCommand.Type: return try read(arguments, as: ConsoleCommand.self, LabCommand.console)
        case is LogCommand.Type: return try read(arguments, as: LogCommand.self, LabCommand.log)
        case is ConnectCommand.Type: return try read(arguments, as: ConnectCommand.self, LabCommand.connect)
        case is UploadCommand.Type: return try read(arguments, as: UploadCommand.self, LabCommand.upload)
        case is FilesCommand.Type: return try read(arguments, as: FilesCommand.self, LabCommand.files)
        case is RmCommand.Type: return try read(arguments, as: RmCommand.self, LabCommand.rm)
        case is TokenCommand.Type: return try read(arguments, as: TokenCommand.self, LabCommand.token)
        case is NetbootCommand.Type: return try read(arguments, as: NetbootCommand.self, LabCommand.netboot)
        case is FlashCommand.Type: return try read(arguments, as: FlashCommand.self, LabCommand.flash)
        case is JobsCommand.Type: return try read(arguments, as: JobsCommand.self, LabCommand.jobs)
        case is HoldCommand.Type: return try read(arguments, as: HoldCommand.self, LabCommand.hold)
        case is WatchCommand.Type: return try read(arguments, as: WatchCommand.self, LabCommand.watch)
        case is WebCommand.Type: return try read(arguments, as: WebCommand.self, LabCommand.web)
        case is WhoamiCommand.Type: return try read(arguments, as: WhoamiCommand.self, LabCommand.whoami)
        case is VersionCommand.Type: return try read(arguments, as: VersionCommand.self, LabCommand.version)
        default:
            let help = try read(arguments, as: HelpCommand.self, LabCommand.help)
            guard case .help(let asked) = help, let topic = asked.command else { return help }
            guard let about = declarations.first(where: { $0.name == topic && $0.home.contains(home) }) else {
                throw .usage("help: unknown command '\(topic)' (try 'help')")
            }
            return .commandHelp(helpText(of: about))
        }
    }

    /// Parses `arguments` as `type`; ArgumentParser's errors become one line.
    static func read<C: CommandArguments>(_ arguments: [String], as type: C.Type,
                                           _ wrap: (C) -> LabCommand) throws(ShellError) -> LabCommand {
        let command: C
        do {
            command = try C.parse(arguments)
        } catch {
            if C.exitCode(for: error) == .success { return .commandHelp(helpText(of: C.self)) }
            throw C.usageError(oneLine(C.message(for: error)))
        }
        try command.check()
        return wrap(command)
    }

    /// `--help` for one command: its usage, what it does, its options.
    static func helpText(of type: any CommandArguments.Type) -> String {
        var text = type.helpMessage(columns: 100)
        while text.hasSuffix("\n") { text.removeLast() }
        return text + "\n"
    }

    /// ArgumentParser's message as the rest of one usage line: lower case
    /// first, "<BOARD>" as BOARD, its lines joined.
    static func oneLine(_ message: String) -> String {
        var text = message.split(whereSeparator: \.isNewline).map { String($0.drop(while: \.isWhitespace)) }.joined(separator: " ")
        if text.hasPrefix("Missing expected argument '<"), text.hasSuffix(">'") {
            text = "missing " + text.dropFirst("Missing expected argument '<".count).dropLast(2)
        }
        if let first = text.first { text = first.lowercased() + text.dropFirst() }
        return text
    }
}
