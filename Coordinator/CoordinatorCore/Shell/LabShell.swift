import Commands
import CoordinatorCalendar
import Reservations
import Foundation
import Logging
import SSH
import ShellSupport
import SystemSupport
import Web

/// The coordinator's commands (DESIGN.md "What a user types"), run for one
/// SSH request on that request's own thread. Reservations and the audit log
/// are answered here; board commands are routed to the owning agent. Errors
/// reach the client in one place, `execute`: one line on stderr and the
/// exit status.
public final class LabShell: Sendable {
    let registry: BoardRegistry
    /// Reservations, the audit log and the reservation watch.
    let reservations: ReservationService
    /// Agent name → how to reach it.
    let links: [String: AgentLink]
    let logger: Logger
    /// Boards booked through Google Calendar; nil: the built-in store only.
    let calendar: CalendarSync?
    /// The lab's user names: a board held by anyone else is locked (nil: not checked).
    let users: Set<String>?
    /// The lab's events: the coordinator's own and every agent's, merged.
    let events: EventLog?
    /// Who is signed in to the web page, and the page's URL; nil: no page.
    let web: (access: WebAccess, publicURL: String)?

    /// - Parameter changed: a board's reservation changed here (reserve,
    ///   release): its agent is to be told now, not at its next check.
    public init(registry: BoardRegistry, store: ReservationStore, links: [AgentLink], logger: Logger,
                calendar: CalendarSync? = nil, users: Set<String>? = nil, events: EventLog? = nil,
                queue: ReservationQueue = ReservationQueue(), web: (access: WebAccess, publicURL: String)? = nil,
                now: @escaping @Sendable () -> Int64 = { Int64(wallClock()) },
                changed: @escaping @Sendable (String) -> Void = { _ in }) {
        self.calendar = calendar
        self.users = users
        self.events = events
        self.web = web
        self.registry = registry
        reservations = ReservationService(store: store, calendar: calendar, auditIsForAdmins: true, logger: logger, events: events,
                                          queue: queue, now: now, changed: changed)
        self.links = Dictionary(uniqueKeysWithValues: links.map { ($0.name, $0) })
        self.logger = logger
    }

    var store: ReservationStore { reservations.store }
    var watch: ReservationWatch { reservations.watch }
    func now() -> Int64 { reservations.now() }

    /// Starts the reservation watch: sessions warned and cut, boards powered
    /// off when their reservation ends.
    public func startWatch(interval: Double = 1) throws {
        try reservations.startWatch(interval: interval, boards: { [registry] in registry.boards().map(\.name) },
                                    queueBoards: { [self] in (try? boardReports(for: "queue")) ?? [] }) { [self] board, user in
            powerOff(board, after: user)
        }
    }

    public func stopWatch() { reservations.stopWatch() }

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
                    reservations.poweredOff(board, after: user)
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
        reservations.record(session.identity.user, action, board: board, detail)
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
        case .reserve(let reserve):
            if let name = reserve.board {
                try reservations.reserve(reserve, board: try board(name, for: "reserve").name, session)
            } else {
                try reservations.reserve(reserve, candidates: try boardReports(for: "reserve"), session)
            }
        case .queue(let queue): reservations.queueListing(queue, session)
        case .events(let command):
            guard let events else { throw .failure("events: this coordinator keeps no events") }
            events.serve(command, session)
        case .release(let release): try reservations.release(release, board: release.board, session)
        case .reservations(let list): try reservations.reservations(list, session)
        case .audit(let audit): try reservations.auditLog(audit, session)
        case .web(let command): try webCommand(command, session)
        case .hold, .watch, .whoami, .version, .help, .commandHelp: break
        default:
            guard let boardCommand = command.boardCommand else { break }
            return try routed(boardCommand, session)
        }
        return ExitStatus.success.rawValue
    }
}

extension LabShell {
    /// `web [--token | --revoke]`: a one-time sign-in link (or a bearer
    /// token) for the caller, or the end of all of theirs.
    func webCommand(_ command: WebCommand, _ session: ShellSession) throws(ShellError) {
        guard let web else { throw .failure("web: this lab serves no web page (web.listen is not set in coordinator.yaml)") }
        try web.access.answer(command, publicURL: web.publicURL, session) { action, detail in audit(session, action, board: nil, detail) }
    }
}
