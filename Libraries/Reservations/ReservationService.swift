#if canImport(Glibc)
import Glibc
#endif
import Commands
import Foundation
import Logging
import ProvisionerCore
import ShellSupport
import Synchronization
import SystemSupport
import Wire

/// A calendar that books some of the boards (the coordinator's Google
/// Calendar sync): `reserve` and `release` on those boards go through it.
public protocol ReservationCalendar: Sendable {
    func manages(board: String) -> Bool
    /// Whether the board's calendar cannot be read now (its reservations are the last known ones).
    func isStale(board: String) -> Bool
    func reserve(board: String, user: String, start: Int64, end: Int64) throws(CalendarReservationError) -> Reservation
    func release(_ reservation: Reservation, at now: Int64) throws(CalendarReservationError)
}

/// Why `reserve` or `release` on a calendar board did not happen.
public enum CalendarReservationError: Error, Sendable {
    /// Someone holds the board for part of that time (per the calendar).
    case conflict(Reservation)
    /// The calendar could not be read or written: one line for the user.
    case failed(String)
}

/// The one reservation service (DESIGN.md "Reservation needed"), the
/// coordinator's and a lone agent's: `reserve`, `release`, `reservations`
/// and `audit` over the store (and a calendar, for its boards), the audit
/// lines, and the watch that warns and cuts the sessions that live on a
/// reservation and powers a board off when its reservation ends.
public final class ReservationService: Sendable {
    public let store: ReservationStore
    /// Sessions that live on a reservation, warned and cut as it ends.
    public let watch = ReservationWatch()
    /// Requests waiting for a board by its tags (`reserve --tag … --wait`).
    public let queue: ReservationQueue
    /// Every board as `boards --json` shows it, for the queue (set by `startWatch`).
    private let queueBoards = Mutex<(@Sendable () -> [BoardReport])?>(nil)
    /// One offer of freed boards to the queue at a time.
    private let offering = Mutex(())
    /// Boards whose end a command already announced (the watch then sees it too).
    private let endAnnounced = Mutex(Set<String>())
    let calendar: (any ReservationCalendar)?
    let logger: Logger
    /// The current time in Unix seconds (a test may move it).
    public let now: @Sendable () -> Int64
    /// Whether only admins may read the audit log (the coordinator), or
    /// everyone (a lone agent has no admins).
    let auditIsForAdmins: Bool
    /// Told the board whose reservation a command made or ended, at once
    /// (a lone agent mirrors its holders for the other commands and TFTP).
    let changed: @Sendable (String) -> Void
    /// Where reservation and queue events go (DESIGN.md "Events").
    let events: EventLog?

    public init(store: ReservationStore, calendar: (any ReservationCalendar)? = nil, auditIsForAdmins: Bool, logger: Logger,
                events: EventLog? = nil, queue: ReservationQueue = ReservationQueue(),
                now: @escaping @Sendable () -> Int64 = { Int64(wallClock()) },
                changed: @escaping @Sendable (String) -> Void = { _ in }) {
        self.store = store
        self.queue = queue
        self.events = events
        self.calendar = calendar
        self.auditIsForAdmins = auditIsForAdmins
        self.logger = logger
        self.now = now
        self.changed = changed
    }

    /// `reserve BOARD [--for 2h | --until TIME]`: from now, 1 hour by
    /// default; the caller's own reservation is moved. `board` is the
    /// board's name as the caller's side knows it (checked to exist).
    public func reserve(_ command: ReserveCommand, board: String, _ session: ShellSession) throws(ShellError) {
        let start = now()
        let request = try command.request(at: start)
        switch try attempt(board: board, user: session.identity.user, start: start, end: request.end) {
        case .reserved(let line): session.print(line + "\n")
        case .held(let holder): throw Self.heldBy(holder, board: board, start: start)
        }
    }

    /// `reserve --tag T… [--for 2h | --until TIME]`: the first of
    /// `candidates` (every board the caller's side knows, in its order) that
    /// has every tag, is online, is not locked and nobody holds for that
    /// time, the caller included (a second `reserve --tag` is a second
    /// board). Its name alone goes to stdout, for
    /// `board=$(ssh lab reserve --tag T)`; what was reserved, to stderr.
    public func reserve(_ command: ReserveCommand, candidates: [BoardReport], _ session: ShellSession) throws(ShellError) {
        let wanted = command.tags.joined(separator: ", ")
        let tagged = candidates.filter { row in command.tags.allSatisfy(row.tags.contains) }
        guard !tagged.isEmpty else { throw .failure("reserve: no board has the tags \(wanted)") }
        let start = now()
        let request = try command.request(at: start)
        let user = session.identity.user
        var taken: [(board: String, holder: Reservation)] = []
        for row in tagged where row.online && row.locked == nil {
            let current: Reservation?
            do { current = try store.current(board: row.name, at: start) } catch { throw .failure("reserve: the reservation store failed: \(error)") }
            if let current {
                taken.append((row.name, current))
                continue
            }
            switch try attempt(board: row.name, user: user, start: start, end: request.end) {
            case .reserved(let line):
                session.print(row.name + "\n")
                session.printError(line)
                return
            case .held(let holder): taken.append((row.name, holder))
            }
        }
        if command.wait {
            try waitInQueue(command, request: request, start: start, session)
            return
        }
        guard let first = taken.min(by: { $0.holder.end < $1.holder.end }) else {
            throw .failure("reserve: no board with the tags \(wanted) is online and unlocked (\(tagged.map(\.name).joined(separator: ", ")))")
        }
        throw .failure("reserve: every board with the tags \(wanted) is taken; the first to be free is \(first.board), "
                       + "held by \(first.holder.user) until \(TimeText.format(first.holder.end))")
    }

    /// `reserve --tag … --wait`: joins the queue and waits, saying its
    /// position on stderr whenever it changes, until a board is allocated
    /// (its name alone on stdout), `--timeout` passes (exit 1), or the
    /// client goes or types Ctrl-C (it leaves the queue; a board allocated
    /// in that moment is given back).
    func waitInQueue(_ command: ReserveCommand, request: ReserveRequest, start: Int64, _ session: ShellSession) throws(ShellError) {
        let wanted = command.tags.joined(separator: ", ")
        let user = session.identity.user
        let waiter: ReservationQueue.Waiter
        do {
            waiter = try queue.join(user: user, tags: command.tags, since: start,
                                    length: command.until == nil ? request.end - start : nil, until: command.until == nil ? nil : request.end)
        } catch {
            throw .failure("reserve: the reservation store failed: \(error)")
        }
        logger.notice("queue: \(user) waits for a board with the tags \(wanted)")
        events?.append("queue.join", user: user, ["tags": .string(command.tags.joined(separator: ",")), "waiter": .int(Int64(waiter.id))])
        let deadline = command.waitLimit.map { monotonicSeconds() + $0 }
        var shown: Int?
        var inputEnded = false
        offerFreedBoards()
        while true {
            if let allocation = queue.takeAllocation(waiter.id) {
                session.print(allocation.board + "\n")
                session.printError(allocation.line)
                return
            }
            if let position = queue.position(of: waiter.id), position != shown {
                session.printError("reserve: waiting for a board with the tags \(wanted): number \(position) in the queue")
                shown = position
            }
            if let deadline, monotonicSeconds() >= deadline {
                leaveQueue(waiter, "timed out")
                throw .failure("reserve: no board with the tags \(wanted) came free within \(command.timeout ?? "")")
            }
            if inputEnded {
                // EOF on stdin (a script's `< /dev/null`) is no reason to leave; a closed session is.
                if session.streams.isClosed {
                    leaveQueue(waiter, "its session ended")
                    throw .failure(session.cutMessage ?? "reserve: left the queue")
                }
                usleep(50_000)
                continue
            }
            switch session.read(timeout: 0.05) {
            case .end:
                inputEnded = true
            case .bytes(let bytes) where session.isTerminal && (bytes.contains(0x03) || bytes.contains(0x04)):
                leaveQueue(waiter, "interrupted")
                throw .failure("reserve: left the queue")
            case .bytes, .timeout:
                break
            }
        }
    }

    /// Takes a waiter out of the queue; a board allocated to it meanwhile
    /// is released again (and offered to the next).
    func leaveQueue(_ waiter: ReservationQueue.Waiter, _ why: String) {
        logger.notice("queue: \(waiter.user) left the queue (\(why))")
        events?.append("queue.leave", user: waiter.user, ["tags": .string(waiter.tags.joined(separator: ",")), "why": .string(why),
                                                          "waiter": .int(Int64(waiter.id))])
        guard let board = queue.leave(waiter.id) else { return }
        giveBack(board, from: waiter.user, why: "its waiter left the queue")
        offerFreedBoards()
    }

    /// Ends `user`'s reservation of `board`, made for a waiter that left.
    func giveBack(_ board: String, from user: String, why: String) {
        do {
            if let current = try store.current(board: board, at: now()), current.user == user {
                if let calendar, calendar.manages(board: board) {
                    try? calendar.release(current, at: now())
                } else {
                    try store.end(current, at: now())
                }
                changed(board)
                events?.append("reservation.end", board: board, user: user, ["why": .string(why)])
                record(user, "release", board: board, "allocated as its session left the queue")
            }
        } catch {
            logger.error("queue: cannot give back \(board), allocated to \(user) as it left: \(error)")
        }
    }

    /// Offers the free, online, unlocked boards to the waiters, first come
    /// first served: each waiter in order gets the first such board with
    /// its tags. After a release, at every watch pass (a reservation that
    /// ended, a board that came online), and as a waiter joins.
    public func offerFreedBoards() {
        guard !queue.isEmpty, let boards = queueBoards.withLock({ $0 }) else { return }
        // One offer at a time, in this process and (a shared store) among
        // the coordinators: a waiter is never given two boards.
        offering.withLock { _ in
            _ = try? store.engine.exclusively(StoreLocks.queue) {
                try? queue.refresh()
                let rows = boards()
                let time = now()
                let current: [String: Reservation]
                do { current = try store.currentByBoard(at: time) } catch {
                    logger.error("queue: the reservation store failed: \(error)")
                    return
                }
                var offered = Set(current.keys)
                for waiter in queue.waiting {
                    for row in rows where row.online && row.locked == nil && !offered.contains(row.name) && waiter.tags.allSatisfy(row.tags.contains) {
                        offered.insert(row.name)
                        let attempt: Attempt
                        do { attempt = try self.attempt(board: row.name, user: waiter.user, start: time, end: waiter.end(allocatedAt: time)) } catch {
                            logger.warning("queue: \(row.name) for \(waiter.user): \(error)")
                            continue
                        }
                        guard case .reserved(let line) = attempt else { continue }
                        guard queue.allocate(waiter.id, board: row.name, line: line) else {
                            // It left as the board was reserved for it: given back.
                            giveBack(row.name, from: waiter.user, why: "its waiter left the queue")
                            break
                        }
                        events?.append("queue.allocate", board: row.name, user: waiter.user,
                                       ["tags": .string(waiter.tags.joined(separator: ",")), "waiter": .int(Int64(waiter.id)),
                                        "waited_seconds": .int(max(0, time - waiter.since))])
                        logger.notice("queue: \(row.name) goes to \(waiter.user), waiting since \(TimeText.format(waiter.since))")
                        break
                    }
                }
            }
        }
    }

    /// `queue [--json]`: who waits for which tags, since when, in which position.
    public func queueListing(_ command: QueueCommand, _ session: ShellSession) {
        let rows = queue.waiting.enumerated().map { index, waiter in
            QueueReport(position: index + 1, user: waiter.user, tags: waiter.tags, since: TimeText.format(waiter.since))
        }
        if command.json {
            session.print(Wire.line(rows) + "\n")
            return
        }
        var table = [["POSITION", "USER", "TAGS", "SINCE"]]
        for row in rows { table.append(["\(row.position)", row.user, row.tags.joined(separator: ","), row.since]) }
        session.print(rows.isEmpty ? "nobody is waiting\n" : TerminalText.table(table))
    }

    /// What one reservation attempt came to.
    enum Attempt {
        /// Made: the line that says so.
        case reserved(String)
        /// Someone holds the board for part of that time.
        case held(Reservation)
    }

    /// Reserves `board` for `user` from `start` to `end`, in its calendar if
    /// one books it, else in the store; audited and logged when made.
    func attempt(board: String, user: String, start: Int64, end: Int64) throws(ShellError) -> Attempt {
        let reservation: Reservation
        var note = ""
        if let calendar, calendar.manages(board: board) {
            do throws(CalendarReservationError) {
                reservation = try calendar.reserve(board: board, user: user, start: start, end: end)
            } catch {
                switch error {
                case .conflict(let holder): return .held(holder)
                case .failed(let message): throw .failure("reserve: \(message)")
                }
            }
            note = " (calendar event \(reservation.source ?? "?"))"
        } else {
            do {
                reservation = try store.reserve(board: board, user: user, start: start, end: end)
            } catch ReservationRefusal.conflict(let holder) {
                return .held(holder)
            } catch {
                throw .failure("reserve: the reservation store failed: \(error)")
            }
        }
        watch.noteHolder(board: board, user: user)
        changed(board)
        events?.append("reservation.start", board: board, user: user,
                       ["until": .string(TimeText.format(reservation.end)), "source": .string(note.isEmpty ? "local" : "calendar")])
        record(user, "reserve", board: board, "until \(TimeText.format(reservation.end))" + note)
        logger.notice("reserve: \(user) holds \(board) until \(TimeText.format(reservation.end))\(note.isEmpty ? "" : " (calendar)")")
        return .reserved("\(board): reserved by \(user) until \(TimeText.format(reservation.end))\(note.isEmpty ? "" : " (in its calendar)")")
    }

    /// The refusal of a reservation that overlaps `holder`'s.
    static func heldBy(_ holder: Reservation, board: String, start: Int64) -> ShellError {
        .failure("reserve: \(board) is held by \(holder.user) "
                 + (holder.start > start ? "from \(TimeText.format(holder.start)) " : "")
                 + "until \(TimeText.format(holder.end))")
    }

    /// `release BOARD [--force]`: ends the caller's reservation; an admin's
    /// `--force` ends anyone's (audited as such). The watch then powers the
    /// board off.
    public func release(_ command: ReleaseCommand, board: String, _ session: ShellSession) throws(ShellError) {
        let time = now()
        let current: Reservation?
        do { current = try store.current(board: board, at: time) } catch { throw .failure("release: the reservation store failed: \(error)") }
        guard let current else { throw .failure("release: \(board) is not reserved") }
        let user = session.identity.user
        if current.user != user {
            guard command.force else { throw .notAllowed("release: \(board) is held by \(current.user), not you") }
            guard session.identity.admin else { throw .notAllowed("release: --force is for admins") }
        }
        // Said before the store is changed: the watch may see the board
        // freed at once, and must not call the end "its time ran out".
        endAnnounced.withLock { _ = $0.insert(board) }
        if let calendar, calendar.manages(board: board) {
            do throws(CalendarReservationError) { try calendar.release(current, at: time) } catch {
                endAnnounced.withLock { _ = $0.remove(board) }
                switch error {
                case .conflict(let holder): throw .failure("release: \(board) is held by \(holder.user)")
                case .failed(let message): throw .failure("release: \(message)")
                }
            }
        } else {
            do { try store.end(current, at: time) } catch {
                endAnnounced.withLock { _ = $0.remove(board) }
                throw .failure("release: the reservation store failed: \(error)")
            }
        }
        changed(board)
        let forced = current.user != user
        events?.append("reservation.end", board: board, user: current.user, ["why": .string(forced ? "released by \(user)" : "released")])
        record(user, forced ? "release-forced" : "release", board: board, forced ? "held by \(current.user)" : nil)
        logger.notice("release: \(user) released \(board)\(forced ? " (held by \(current.user), forced)" : "")")
        session.print("\(board): released\(forced ? " (was held by \(current.user))" : "")\n")
        offerFreedBoards()
    }

    /// `reservations [--json]`: current and coming reservations.
    public func reservations(_ command: ReservationsCommand, _ session: ShellSession) throws(ShellError) {
        let list: [Reservation]
        do { list = try store.active(at: now()) } catch { throw .failure("reservations: the reservation store failed: \(error)") }
        let rows = list.map { reservation in
            // A reservation from a calendar that cannot be read now is the last known one: stale.
            ReservationReport(reservation, stale: reservation.source != nil && calendar?.isStale(board: reservation.board) == true)
        }
        session.print(ReservationReport.listing(rows, json: command.json))
    }

    /// `audit [--json]`: the latest audit lines, oldest first.
    public func auditLog(_ command: AuditCommand, _ session: ShellSession) throws(ShellError) {
        guard !auditIsForAdmins || session.identity.admin else { throw .notAllowed("audit: for admins only") }
        let entries: [AuditEntry]
        do { entries = try store.auditLog() } catch { throw .failure("audit: the store failed: \(error)") }
        session.print(AuditEntry.listing(entries, json: command.json))
    }

    /// Writes an audit line; a store failure is logged, not shown to the user.
    public func record(_ user: String, _ action: String, board: String?, _ detail: String? = nil) {
        do {
            try store.audit(user: user, action: action, board: board, detail: detail, at: now())
        } catch {
            logger.error("audit: cannot record \(user) \(action) \(board ?? ""): \(error)")
        }
    }

    /// Starts the watch: every `interval` seconds the sessions that live on
    /// a reservation are warned and cut, and each of `boards()` whose
    /// reservation ended with nobody after it is given to `powerOff` with
    /// its last holder (`poweredOff` then writes its audit line).
    /// `queueBoards` gives every board as `boards --json` shows it, for the
    /// queue, which is offered the free ones at every pass.
    public func startWatch(interval: Double = 1, boards: @escaping @Sendable () -> [String],
                           queueBoards: (@Sendable () -> [BoardReport])? = nil,
                           powerOff: @escaping @Sendable (_ board: String, _ user: String) -> Void) throws {
        self.queueBoards.withLock { $0 = queueBoards }
        try watch.start(interval: interval) { [self] in
            queue.keepAlive()
            let freed = pass(boards: boards())
            // Coordinators sharing a store each cut their own sessions (the
            // pass); one of them powers the freed boards off and says so.
            if !freed.isEmpty && store.engine.lead(StoreLocks.watch) {
                for (board, user) in freed {
                    let announced = endAnnounced.withLock { $0.remove(board) } != nil
                        || (store.engine.dialect != .sqlite && events?.recently("reservation.end", board: board, seconds: 5) == true)
                    if !announced {
                        events?.append("reservation.end", board: board, user: user, ["why": .string("its time ran out")])
                    }
                    powerOff(board, user)
                }
            }
            offerFreedBoards()
        }
    }

    /// Notes that `board` was powered off at the end of `user`'s reservation.
    public func poweredOff(_ board: String, after user: String) {
        logger.notice("reservations: \(user)'s reservation of \(board) ended: powered off")
        record(user, "power", board: board, "off (the reservation ended)")
    }

    public func stopWatch() { watch.stop() }

    /// One pass of the watch: the boards freed, with who held them.
    func pass(boards: [String]) -> [(board: String, user: String)] {
        let time = now()
        let current: [String: Reservation]
        do {
            current = try store.currentByBoard(at: time)
        } catch {
            logger.error("reservations: the store failed, sessions are not checked: \(error)")
            return []
        }
        return watch.check(now: time, boards: boards, current: current)
    }
}

extension ReservationReport {
    /// A reservation of the store as `reservations` shows it.
    init(_ reservation: Reservation, stale: Bool) {
        self.init(board: reservation.board, user: reservation.user, guests: reservation.guests,
                  start: TimeText.format(reservation.start), end: TimeText.format(reservation.end),
                  source: reservation.source == nil ? "local" : "calendar", stale: stale, title: reservation.title)
    }

    /// `reservations [--json]`'s output, the coordinator's and an agent's:
    /// one line of JSON (docs/json.md), or a table. A row's `start` is nil
    /// for a holder a coordinator told an agent about (`hold`).
    public static func listing(_ rows: [ReservationReport], json: Bool) -> String {
        if json { return ReservationReport.jsonLine(rows) + "\n" }
        var table = [["BOARD", "USER", "START", "END", "SOURCE"]]
        for row in rows {
            let source = row.stale ? row.source + " (stale)" : row.source
            table.append([row.board, row.user + (row.guests.isEmpty ? "" : " (with \(row.guests.joined(separator: ",")))"),
                          row.start ?? "-", row.end, source])
        }
        return TerminalText.table(table)
    }
}
