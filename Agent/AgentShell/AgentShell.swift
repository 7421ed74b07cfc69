@_exported import Commands
@_exported import ShellSupport
import AgentCore
import Jobs
import Logging
import Reservations
import SSH
import SystemSupport
import Web

/// The agent's commands (DESIGN.md "What a user types", the agent's share of
/// them), run for one SSH request on that request's own thread. Errors reach
/// the client here, in one place: one line on stderr and the exit status.
public final class AgentShell: Sendable {
    public let agentName: String
    let boards: [any BoardHandle]
    /// The artifact store behind `upload`, `files`, `rm` and `token`.
    let artifacts: ShellArtifacts?
    /// One job (netboot, flash) per board at a time.
    let jobs = JobSlots()
    /// The flasher's side of flash jobs, served on the agent's HTTP port.
    let jobAPI: JobAPI
    /// Finished jobs, per board, in DATA_DIR/jobs.
    let history: JobHistory
    /// Who holds each board, as the coordinator says (`hold`), or as the
    /// agent's own reservations do.
    let holders: BoardHolders
    /// A lone agent's reservations and audit log; nil on a coordinator's agent.
    let reservations: LocalReservations?
    /// The agent's events (`events`, and what `watch` streams to the coordinator).
    public let events: EventLog?
    let logger: Logger
    /// Who is signed in to a lone agent's web page, and its URL; nil: no page.
    public let web: (access: WebAccess, publicURL: String)?
    /// When this run of the agent began (Unix time), as `watch` says it.
    let startedAt = wallClock()

    public init(agentName: String, boards: [any BoardHandle], artifacts: ShellArtifacts? = nil, jobAPI: JobAPI = JobAPI(),
                history: JobHistory, holders: BoardHolders = BoardHolders(clock: wallClock), reservations: LocalReservations? = nil,
                events: EventLog? = nil, web: (access: WebAccess, publicURL: String)? = nil, logger: Logger) {
        self.web = web
        self.agentName = agentName
        self.boards = boards
        self.artifacts = artifacts
        self.jobAPI = jobAPI
        self.history = history
        self.holders = holders
        self.reservations = reservations
        self.events = events
        self.logger = logger
    }

    /// Decides who may change a board: the holder (as the coordinator said,
    /// or the agent's own reservations); a free board is open.
    let policy = AccessPolicy(freeBoardsAreOpen: true)

    /// Runs one command line (already split) and returns its exit status.
    public func execute(_ words: [String], in session: ShellSession) -> Int32 {
        CommandShell(self).execute(words, in: session)
    }

    /// The lab shell, when the client sends no command.
    public func interactive(_ session: ShellSession) -> Int32 {
        CommandShell(self).interactive(session)
    }

    /// The board named `name`, or a one-line failure listing the boards.
    func board(_ name: String, for command: String) throws(ShellError) -> any BoardHandle {
        if let board = boards.first(where: { $0.config.name == name }) { return board }
        let known = boards.isEmpty ? "this agent has no boards" : "boards: " + boards.map(\.config.name).joined(separator: ", ")
        throw .failure("\(command): no board '\(name)' (\(known))")
    }

    /// The board's holder as the policy reads it.
    func holder(of board: String) -> BoardHolder? {
        holders.holding(of: board).map { BoardHolder(user: $0.user, guests: $0.guests, until: $0.untilSeconds) }
    }

    /// The policy's answer for `command` on its board, for `identity`.
    func decide(_ command: any BoardCommand, _ identity: ShellIdentity) throws(ShellError) -> AccessGrant {
        try policy.decide(command, identity: identity, holder: holder(of: command.board),
                          locked: holders.lockReason(of: command.board))
    }
}

extension AgentShell: CommandBackend {
    public var home: CommandHome { .agent }
    public var promptHost: String { agentName }

    public func greeting(for session: ShellSession) -> String {
        "Provisioner agent \(agentName): type 'help' for the commands, Ctrl-D to leave.\n"
    }

    public var versionLine: String {
        "provisioner-agent \(Provisioner.version) (agent \(agentName), libssh \(libsshVersion))"
    }

    public func whoami(_ session: ShellSession) -> String { session.identity.user }

    public var helpFooter: String {
        """
        Exit status: 0 success, 1 failure, 2 usage error, 3 not allowed.

        """
    }

    public func run(_ command: LabCommand, in session: ShellSession) throws(ShellError) -> Int32 {
        switch command {
        case .boards(let boards): try boardsCommand(boards, session)
        case .reserve(let reserve): try reserveCommand(reserve, session)
        case .queue(let queue): try reservationService(for: "queue").queueListing(queue, session)
        case .events(let command):
            guard let events else { throw .failure("events: this agent keeps no events") }
            events.serve(command, session)
        case .release(let release): try releaseCommand(release, session)
        case .reservations(let reservations): try reservationsCommand(reservations, session)
        case .audit(let audit): try auditCommand(audit, session)
        case .hold(let hold): try holdCommand(hold, session)
        case .watch(let watch): try watchCommand(watch, session)
        case .web(let command):
            guard let web else { throw .failure("web: this agent serves no web page (web.listen is not set in agent.yaml)") }
            try web.access.answer(command, publicURL: web.publicURL, session) { action, detail in
                reservations?.service.record(session.identity.user, action, board: nil, detail)
            }
        case .whoami, .version, .help, .commandHelp: break
        default:
            guard let boardCommand = command.boardCommand else { break }
            return try run(boardCommand, command, session)
        }
        return ExitStatus.success.rawValue
    }

    /// A board command: its board and the policy's answer, once; then the
    /// command, as a session that lives on the caller's reservation when it
    /// changes the board; then, on a lone agent, the audit line.
    private func run(_ boardCommand: any BoardCommand, _ command: LabCommand, _ session: ShellSession) throws(ShellError) -> Int32 {
        let name = type(of: boardCommand).name
        let board = try board(boardCommand.board, for: name)
        let grant = try decide(boardCommand, session.identity)
        let lives = boardCommand.access != .anyone && grant != .watching
        let isConsole = if case .console = command { true } else { false }
        var status = ExitStatus.success.rawValue
        try livingOnReservation(lives ? board.config.name : nil, session, grant: grant, cutsOnChange: !isConsole) { () throws(ShellError) in
            switch command {
            case .power(let power): try powerCommand(power, board, session)
            case .console(let console): try consoleCommand(console, board, grant, session)
            case .log(let log): try logCommand(log, board, session)
            case .connect(let connect): try connectCommand(connect, board, session)
            case .upload(let upload): try uploadCommand(upload, board, session)
            case .files(let files): try filesCommand(files, board, session)
            case .rm(let rm): try rmCommand(rm, board, session)
            case .token(let token): try tokenCommand(token, board, session)
            case .netboot(let netboot): try netbootCommand(netboot, board, session)
            case .flash(let flash): try flashCommand(flash, board, session)
            case .jobs(let jobs): try jobsCommand(jobs, board, session)
            case .run(let run): status = try runCommand(run, board, session)
            default: break
            }
        }
        if let reservations, let (action, detail) = boardCommand.audit {
            reservations.service.record(session.identity.user, action, board: board.config.name, detail)
        }
        return status
    }
}
