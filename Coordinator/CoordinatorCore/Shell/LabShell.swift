import CoordinatorCalendar
import CoordinatorStore
import Foundation
import Logging
import SSH
import ShellSupport
import SystemSupport

/// The coordinator's commands (DESIGN.md "What a user types"), run for one
/// SSH request on that request's own thread. Reservations and the audit log
/// are answered here; board commands are routed to the owning agent. Errors
/// reach the client in one place, `execute`: one line on stderr and the
/// exit status.
public final class LabShell: Sendable {
    let registry: BoardRegistry
    let store: ReservationStore
    /// Agent name → how to reach it.
    let links: [String: AgentLink]
    let logger: Logger
    /// Boards booked through Google Calendar; nil: the built-in store only.
    let calendar: CalendarSync?
    /// The current time in Unix seconds (a test may move it).
    let now: @Sendable () -> Int64
    /// Sessions that live on a reservation, warned and cut as it ends.
    let watch = ReservationWatch()

    public init(registry: BoardRegistry, store: ReservationStore, links: [AgentLink], logger: Logger,
                calendar: CalendarSync? = nil,
                now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }) {
        self.calendar = calendar
        self.registry = registry
        self.store = store
        self.links = Dictionary(uniqueKeysWithValues: links.map { ($0.name, $0) })
        self.logger = logger
        self.now = now
    }

    /// Starts the reservation watch: sessions warned and cut, boards powered
    /// off when their reservation ends (Coordinator.start).
    public func startWatch(interval: Double = 1) throws {
        try watch.start(interval: interval) { [self] in watchReservations() }
    }

    public func stopWatch() { watch.stop() }

    /// One pass of the watch.
    func watchReservations() {
        let time = now()
        let current: [String: Reservation]
        do {
            current = try store.currentByBoard(at: time)
        } catch {
            logger.error("reservations: the store failed, sessions are not checked: \(error)")
            return
        }
        let freed = watch.check(now: time, boards: registry.boards().map(\.name), current: current)
        for (board, user) in freed { powerOff(board, after: user) }
    }

    /// A board whose reservation ended is powered off (DESIGN.md "Reservation
    /// needed"), as its last holder: the agent may not have heard yet that
    /// the board is free.
    func powerOff(_ board: String, after user: String) {
        guard let status = registry.board(board), let link = links[status.agent], registry.agentState(status.agent).online else { return }
        let logger = self.logger
        try? startThread(named: "reservation-end") { [self] in
            do {
                let result = try link.run(["power", board, "off"], as: user, limit: 30)
                if result.status == 0 {
                    registry.notePower(board: board, "off")
                    logger.notice("reservations: \(user)'s reservation of \(board) ended: powered off")
                    try? store.audit(user: user, action: "power", board: board, detail: "off (the reservation ended)", at: now())
                } else {
                    logger.warning("reservations: \(board): power off after \(user)'s reservation failed: \(String(decoding: result.stderr, as: UTF8.self))")
                }
            } catch {
                logger.warning("reservations: \(board): power off after \(user)'s reservation failed: \(error)")
            }
        }
    }

    /// Runs one command line (already split) and returns its exit status.
    public func execute(_ words: [String], in session: LabSession) -> Int32 {
        do throws(CommandError) {
            return try run(words, in: session)
        } catch {
            session.printError(error.message)
            return error.status.rawValue
        }
    }

    /// Runs a command; a routed one returns the agent's exit status.
    func run(_ words: [String], in session: LabSession) throws(CommandError) -> Int32 {
        guard let name = words.first else { return ExitStatus.success.rawValue }
        let arguments = Array(words.dropFirst())
        switch name {
        case "boards": try boardsCommand(arguments, session)
        case "reserve": try reserveCommand(arguments, session)
        case "release": try releaseCommand(arguments, session)
        case "reservations": try reservationsCommand(arguments, session)
        case "audit": try auditCommand(arguments, session)
        case "whoami":
            try noArguments(name, arguments)
            session.print(session.user.name + (session.user.admin ? " (admin)" : "") + "\n")
        case "version":
            try noArguments(name, arguments)
            session.print("provisioner-coordinator \(Provisioner.version) (libssh \(libsshVersion))\n")
        case "help":
            try noArguments(name, arguments)
            session.print(Self.helpText)
        case "power", "console", "upload", "files", "rm", "token", "log", "netboot", "flash", "jobs":
            return try routedCommand(name, arguments, session)
        default:
            throw .usage("unknown command '\(name)' (try 'help')")
        }
        return ExitStatus.success.rawValue
    }

    static let helpText = """
        Commands:
          boards [--json]                      every board: agent, online, power, state, holder, until
          reserve BOARD [--for 2h | --until 2026-12-01T18:00]
                                               reserve a board from now (default for 1h); again to extend
          release BOARD [--force]              end your reservation (admins: anyone's, with --force)
          reservations [--json]                current and coming reservations
          console BOARD [--ro]                 the live console (ssh -t); read-only unless you hold BOARD
          power BOARD on|off|cycle|status      the board's power switch (status: anyone)
          upload BOARD NAME [--sha256 HEX] < FILE
                                               store FILE as NAME in your space on the board's agent
          files BOARD [--json], rm BOARD NAME  your files there / delete one
          token BOARD                          your token for HTTP uploads to that agent
          netboot BOARD --kernel NAME [--initrd NAME] [--dtb NAME] [--args "…"]
                                               power-cycle, stop U-Boot and TFTP-boot your files
                  [--wait TEXT | --wait-regex RE] [--timeout 5m]
                                               then the console, or exit 0 once TEXT shows; Ctrl-C cancels
          flash BOARD [--rootfs NAME [--bmap NAME] [--target DEV]] [--kernel NAME] [--dtb NAME] [--no-verify]
                                               write your images with the flasher, verify, boot them
          jobs BOARD [--json]                  the board's netboot and flash history
          log BOARD [--since 10m] [--follow]   the console log, timestamped
          audit [--json]                       who did what to which board (admins)
          whoami, version, help
        ssh BOARD@lab opens BOARD's console; ssh -J lab root@BOARD reaches the board's own sshd.
        Console input, power, netboot, flash and -J need your reservation.
        Exit status: 0 success, 1 failure, 2 usage error, 3 not allowed.

        """

    func noArguments(_ name: String, _ arguments: [String]) throws(CommandError) {
        if let first = arguments.first { throw .usage("\(name): unexpected argument '\(first)'") }
    }

    /// The board named `name`, or a one-line failure listing the boards.
    func board(_ name: String, for command: String) throws(CommandError) -> BoardStatus {
        if let board = registry.board(name) { return board }
        let names = registry.boards().map(\.name)
        throw .failure("\(command): no board '\(name)' (\(names.isEmpty ? "no agent has reported boards yet" : "boards: " + names.joined(separator: ", ")))")
    }

    /// Writes an audit line; a store failure is logged, not shown to the user.
    func audit(_ session: LabSession, _ action: String, board: String?, _ detail: String? = nil) {
        do {
            try store.audit(user: session.user.name, action: action, board: board, detail: detail, at: now())
        } catch {
            logger.error("audit: cannot record \(session.user.name) \(action) \(board ?? ""): \(error)")
        }
    }

    /// Encodes rows as one line of JSON, keys sorted.
    func printJSON(_ rows: Any, _ session: LabSession, for command: String) throws(CommandError) {
        guard let data = try? JSONSerialization.data(withJSONObject: rows, options: [.sortedKeys]) else {
            throw .failure("\(command): cannot encode the list")
        }
        session.print(String(decoding: data, as: UTF8.self) + "\n")
    }
}
