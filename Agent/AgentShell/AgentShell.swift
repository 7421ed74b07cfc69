@_exported import ShellSupport
import AgentCore
import Jobs
import Logging
import SSH
import SystemSupport

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
    let logger: Logger

    public init(agentName: String, boards: [any BoardHandle], artifacts: ShellArtifacts? = nil, jobAPI: JobAPI = JobAPI(),
                history: JobHistory, holders: BoardHolders = BoardHolders(clock: wallClock), reservations: LocalReservations? = nil,
                logger: Logger) {
        self.agentName = agentName
        self.boards = boards
        self.artifacts = artifacts
        self.jobAPI = jobAPI
        self.history = history
        self.holders = holders
        self.reservations = reservations
        self.logger = logger
    }

    /// Runs one command line (already split) and returns its exit status.
    public func execute(_ words: [String], in session: ShellSession) -> Int32 {
        do throws(ShellError) {
            if ["console", "netboot", "flash", "connect"].contains(words.first) {
                try livingOnReservation(words.dropFirst().first { !$0.hasPrefix("-") }, session) { () throws(ShellError) in
                    try run(words, in: session)
                }
            } else {
                try run(words, in: session)
            }
            if let reservations, let (action, board, detail) = Self.auditAction(words) {
                try? reservations.audit(user: session.identity.user, action: action, board: board, detail: detail)
            }
            if let message = session.cutMessage { throw ShellError.notAllowed(message) }
            return ExitStatus.success.rawValue
        } catch {
            // A cut session ends with why, whatever its command made of it.
            session.printError(session.cutMessage ?? error.message)
            return session.cutMessage == nil ? error.status.rawValue : ExitStatus.notAllowed.rawValue
        }
    }

    func run(_ words: [String], in session: ShellSession) throws(ShellError) {
        guard let name = words.first else { return }
        let arguments = Array(words.dropFirst())
        switch name {
        case "boards": try boardsCommand(arguments, session)
        case "console": try consoleCommand(arguments, session)
        case "power": try powerCommand(arguments, session)
        case "log": try logCommand(arguments, session)
        case "version": try noArguments(name, arguments); session.print(versionLine + "\n")
        case "whoami": try noArguments(name, arguments); session.print(session.identity.user + "\n")
        case "help": try noArguments(name, arguments); session.print(Self.helpText)
        case "upload": try uploadCommand(arguments, session)
        case "files": try filesCommand(arguments, session)
        case "rm": try rmCommand(arguments, session)
        case "token": try tokenCommand(arguments, session)
        case "netboot": try netbootCommand(arguments, session)
        case "flash": try flashCommand(arguments, session)
        case "jobs": try jobsCommand(arguments, session)
        case "hold": try holdCommand(arguments, session)
        case "connect": try connectCommand(arguments, session)
        case "reserve": try reserveCommand(arguments, session)
        case "release": try releaseCommand(arguments, session)
        case "reservations": try reservationsCommand(arguments, session)
        case "audit": try auditCommand(arguments, session)
        default:
            throw .usage("unknown command '\(name)' (try 'help')")
        }
    }

    var versionLine: String {
        "provisioner-agent \(Provisioner.version) (agent \(agentName), libssh \(libsshVersion))"
    }

    static let helpText = """
        Commands:
          boards [--json]                      the boards on this agent: power, state
          console BOARD [--ro]                 attach to the serial console (needs ssh -t)
          power BOARD on|off|cycle|status      the board's power switch
          log BOARD [--since 10m] [--follow]   the console log, timestamped
          upload BOARD NAME [--sha256 HEX] < FILE
                                               store FILE as NAME in your space on this agent
          files BOARD [--json]                 your files: name, size, sha256, age
          rm BOARD NAME                        delete one of your files
          token BOARD                          your token for HTTP uploads (curl -T)
          netboot BOARD --kernel NAME [--initrd NAME] [--dtb NAME] [--args "…"]
                  [--wait TEXT | --wait-regex RE] [--timeout 5m]
                                               power-cycle, stop U-Boot, TFTP-boot your files, then
                                               the console (or exit 0 once TEXT shows); Ctrl-C cancels
          flash BOARD [--rootfs NAME [--bmap NAME] [--target DEV]] [--kernel NAME] [--dtb NAME] [--no-verify]
                                               write images with the flasher, verify them, boot them
          jobs BOARD [--json]                  the board's netboot and flash history
          connect BOARD PORT                   the board's TCP port on stdin/stdout (holder; ssh -J agent BOARD)
          reserve BOARD [--for 2h | --until 2026-12-01T18:00]
                                               hold a board (1 hour by default; a lone agent's own)
          release BOARD                        end your reservation (the board is powered off)
          reservations [--json]                who holds which board, until when
          audit [--json]                       who did what to which board (a lone agent's)
          whoami                               who you act as
          version, help
        In a console, Ctrl-] opens a menu: . detach, c power cycle, b send break,
        Ctrl-] sends Ctrl-] itself. OpenSSH's ~. still ends the whole connection.
        Exit status: 0 success, 1 failure, 2 usage error, 3 not allowed.

        """

    func noArguments(_ name: String, _ arguments: [String]) throws(ShellError) {
        if let first = arguments.first { throw .usage("\(name): unexpected argument '\(first)'") }
    }

    /// The board named `name`, or a one-line failure listing the boards.
    func board(_ name: String, for command: String) throws(ShellError) -> any BoardHandle {
        if let board = boards.first(where: { $0.config.name == name }) { return board }
        let known = boards.isEmpty ? "this agent has no boards" : "boards: " + boards.map(\.config.name).joined(separator: ", ")
        throw .failure("\(command): no board '\(name)' (\(known))")
    }
}
