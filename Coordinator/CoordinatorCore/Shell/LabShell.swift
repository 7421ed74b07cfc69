import Commands
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
                let result = try link.run(PowerCommand(board: board, .off).words, as: user, limit: 30)
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

    /// Decides who may change a board: its reservation's holder and
    /// guests; a free board is reserved first; admins may `--force`.
    let policy = AccessPolicy(freeBoardsAreOpen: false)

    /// Runs one command line (already split) and returns its exit status.
    public func execute(_ words: [String], in session: ShellSession) -> Int32 {
        CommandShell(self).execute(words, in: session)
    }

    /// The lab shell, when the client sends no command.
    public func interactive(_ session: ShellSession) -> Int32 {
        CommandShell(self).interactive(session)
    }

    /// The board named `name`, or a one-line failure listing the boards.
    func board(_ name: String, for command: String) throws(ShellError) -> BoardStatus {
        if let board = registry.board(name) { return board }
        let names = registry.boards().map(\.name)
        throw .failure("\(command): no board '\(name)' (\(names.isEmpty ? "no agent has reported boards yet" : "boards: " + names.joined(separator: ", ")))")
    }

    /// Writes an audit line; a store failure is logged, not shown to the user.
    func audit(_ session: ShellSession, _ action: String, board: String?, _ detail: String? = nil) {
        do {
            try store.audit(user: session.identity.user, action: action, board: board, detail: detail, at: now())
        } catch {
            logger.error("audit: cannot record \(session.identity.user) \(action) \(board ?? ""): \(error)")
        }
    }

    /// Encodes rows as one line of JSON, keys sorted.
    func printJSON(_ rows: Any, _ session: ShellSession, for command: String) throws(ShellError) {
        guard let data = try? JSONSerialization.data(withJSONObject: rows, options: [.sortedKeys]) else {
            throw .failure("\(command): cannot encode the list")
        }
        session.print(String(decoding: data, as: UTF8.self) + "\n")
    }
}

extension LabShell: CommandBackend {
    public var home: CommandHome { .coordinator }
    public var promptHost: String { "lab" }

    public func greeting(for session: ShellSession) -> String {
        "Provisioner lab: you are \(session.identity.user); type 'help' for the commands, Ctrl-D to leave.\n"
    }

    public var versionLine: String { "provisioner-coordinator \(Provisioner.version) (libssh \(libsshVersion))" }

    public func whoami(_ session: ShellSession) -> String {
        session.identity.user + (session.identity.admin ? " (admin)" : "")
    }

    public var helpFooter: String {
        """
        ssh BOARD@lab opens BOARD's console; ssh -J lab root@BOARD reaches the board's own sshd.
        Console input, power, netboot, flash and -J need your reservation.
        Exit status: 0 success, 1 failure, 2 usage error, 3 not allowed.

        """
    }

    /// Reservations and the audit log are answered here; a board command
    /// runs on the agent that owns the board, as its routed words.
    public func run(_ command: LabCommand, in session: ShellSession) throws(ShellError) -> Int32 {
        switch command {
        case .boards(let boards): try boardsCommand(boards, session)
        case .reserve(let reserve): try reserveCommand(reserve, session)
        case .release(let release): try releaseCommand(release, session)
        case .reservations(let reservations): try reservationsCommand(reservations, session)
        case .audit(let audit): try auditCommand(audit, session)
        case .hold, .whoami, .version, .help, .commandHelp: break
        default:
            guard let boardCommand = command.boardCommand else { break }
            return try routed(boardCommand, session)
        }
        return ExitStatus.success.rawValue
    }
}
