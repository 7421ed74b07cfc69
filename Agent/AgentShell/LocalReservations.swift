import AgentCore
import Reservations
import Logging
import ProvisionerCore
import Synchronization
import SystemSupport

/// A lone agent's own reservations and audit log (DESIGN.md: a single agent
/// offers the same commands as the coordinator), kept by the coordinator's
/// `ReservationService`. Only an agent without `ssh.coordinator_keys` keeps
/// them; a coordinator's agent learns its holders from `hold`. They live in
/// DATA_DIR/reservations.sqlite (overlaps are refused by the database
/// itself), so they outlive a restart, and every change is mirrored into
/// the `BoardHolders` the commands and the TFTP server ask.
public final class LocalReservations: Sendable {
    let service: ReservationService
    let holders: BoardHolders

    public init(path: String, holders: BoardHolders, events: EventLog? = nil, logger: Logger = Logger(label: "provisioner-agent"),
                clock: @escaping @Sendable () -> Double = wallClock) throws {
        let store = try ReservationStore(path: path)
        self.holders = holders
        service = ReservationService(store: store, auditIsForAdmins: false, logger: logger, events: events, now: { Int64(clock()) }) { board in
            holders.set(board, to: (try? store.current(board: board, at: Int64(clock()))).flatMap { $0 }.map(Self.holding))
        }
        for reservation in try store.currentByBoard(at: service.now()).values {
            holders.set(reservation.board, to: Self.holding(reservation))
            service.watch.noteHolder(board: reservation.board, user: reservation.user)
        }
    }

    static func holding(_ reservation: Reservation) -> BoardHolders.Holding {
        BoardHolders.Holding(user: reservation.user, until: Double(reservation.end), guests: reservation.guests)
    }
}

extension AgentShell {
    /// Runs `body` (a console, netboot, flash or connect of `boardName`) as a
    /// session that lives on the caller's right to the board. On a lone
    /// agent, a session of the holder is warned 5 minutes before the
    /// reservation ends and cut at the end (exit 3). And when someone else
    /// comes to hold the board (a reservation made meanwhile, the
    /// coordinator's `hold`, a lock), a session the caller may no longer run
    /// is cut at once with the board's new state (`cutsOnChange`; a console
    /// turns read-only by itself instead). An admin's `--force` goes on.
    func livingOnReservation(_ boardName: String?, _ session: ShellSession, grant: AccessGrant, cutsOnChange: Bool,
                             _ body: () throws(ShellError) -> Void) throws(ShellError) {
        guard let boardName else {
            try body()
            return
        }
        let remote = session.remote
        try guarding(boardName, user: session.identity.user, grant: grant, cutsOnChange: cutsOnChange,
                     warn: remote.tell, cut: remote.cut, body)
    }

    /// The watch of `livingOnReservation`, for any session: `cut` ends it,
    /// `warn` tells it the end is near.
    func guarding<E: Error>(_ boardName: String, user: String, grant: AccessGrant, cutsOnChange: Bool,
                            warn: @escaping @Sendable (String) -> Void, cut: @escaping @Sendable (String) -> Void,
                            _ body: () throws(E) -> Void) throws(E) {
        var tokens: (watch: Int?, holders: Int?) = (nil, nil)
        if let reservations, let holding = holders.holding(of: boardName), holding.user == user || holding.guests.contains(user) {
            tokens.watch = reservations.service.watch.add(user: user, board: boardName, warn: warn, cut: cut)
        }
        if cutsOnChange, grant == .granted {
            let holders = self.holders
            tokens.holders = holders.observe(boardName) {
                guard !holders.allows(user, on: boardName) else { return }
                cut("\(boardName) is now \(holders.describe(boardName)): this session is closed")
            }
        }
        defer {
            if let token = tokens.watch { reservations?.service.watch.remove(token) }
            if let token = tokens.holders { holders.stopObserving(token) }
        }
        try body()
    }

    /// Starts the watch of a lone agent's reservations: the sessions that
    /// live on one are warned and cut (`livingOnReservation`), and a board
    /// whose reservation ended (released or run out) with nobody after it is
    /// powered off, as its last holder, and that goes in the audit log.
    func startReservationWatch() throws {
        guard let reservations else { return }
        let service = reservations.service
        try service.startWatch(boards: { [boards] in boards.map(\.config.name) },
                               queueBoards: { [self] in boardReports() }) { [boards, logger] name, user in
            guard let board = boards.first(where: { $0.config.name == name }) else { return }
            do {
                try board.power.powerOff()
                service.poweredOff(name, after: user)
            } catch {
                logger.warning("reservations: \(name) of \(user) ended, and powering it off failed: \(error)")
            }
        }
    }

    func stopReservationWatch() { reservations?.service.stopWatch() }
}
