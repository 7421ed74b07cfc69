import Reservations
import Foundation
import Logging
import Synchronization
import SystemSupport

/// Keeps the reservation store in step with each board's Google Calendar
/// (DESIGN.md, `calendar` block): a thread polls every calendar each `poll`
/// (a full sync first; then a freeBusy check, 50 calendars a request, and an
/// incremental sync with the sync token for those whose busy time changed
/// and, every `syncEvery` polls, for each of them anyway: CalendarSync+Poll),
/// and `reserve` / `release` on a calendar board go through the calendar
/// first. The calendar wins where it and the store disagree.
///
/// A calendar that cannot be read keeps its last known reservations, shown
/// stale; after `staleGrace` access to its board is refused
/// (`accessProblem`) rather than granted on old information.
public final class CalendarSync: Sendable {
    public let options: CalendarSyncOptions
    let store: ReservationStore
    let logger: Logger
    let auth: GoogleAuth
    let api: GoogleCalendarAPI
    /// Unix time now (a test may move it).
    let clock: @Sendable () -> Double
    let states: Mutex<[String: BoardCalendarState]>
    /// One sync or calendar write at a time: the poll thread and `reserve`
    /// do not interleave their reads and writes of one calendar.
    let syncLock = Mutex<Void>(())
    /// How freeBusy itself fares (it backs off when it fails).
    let freeBusyHealth = Mutex(FreeBusyHealth())
    private let onChange = Mutex<(@Sendable () -> Void)?>(nil)
    let stopping = Mutex(false)
    private let wake = NSCondition()

    /// Reads the service account key; a key that cannot be read is an error
    /// here, at start.
    public init(options: CalendarSyncOptions, store: ReservationStore, logger: Logger,
                clock: @escaping @Sendable () -> Double = { wallClock() }) throws(CalendarError) {
        self.options = options
        self.store = store
        self.logger = logger
        self.clock = clock
        let key = try ServiceAccountKey(path: options.serviceAccountKey)
        auth = GoogleAuth(key: key, tokenURL: options.tokenURL, caFile: options.caFile, logger: logger)
        api = GoogleCalendarAPI(apiURL: options.apiURL, caFile: options.caFile, auth: auth,
                                backoff: Backoff(base: options.retryBase, limit: 60), retries: options.retries, logger: logger)
        // Phases spread the periodic syncs evenly over the polls.
        let every = max(1, options.syncEvery)
        states = Mutex(Dictionary(uniqueKeysWithValues: options.boards.keys.sorted().enumerated().map { index, board in
            (board, BoardCalendarState(phase: index % every))
        }))
    }

    /// Called after a sync changed reservations (the coordinator tells the
    /// agents the new holders at once).
    public func setOnChange(_ body: @escaping @Sendable () -> Void) {
        onChange.withLock { $0 = body }
    }

    /// Whether `board` is booked through a calendar.
    public func manages(board: String) -> Bool { options.boards[board] != nil }

    // MARK: The sync thread

    public func start() throws {
        let checks = options.syncEvery > 1 ? ", checked with freeBusy, an incremental sync at least every \(options.syncEvery) polls" : ""
        logger.info("calendar: polling \(options.boards.count) board calendar\(options.boards.count == 1 ? "" : "s") every \(options.poll)s\(checks) as \(auth.key.clientEmail)")
        try startThread(named: "calendar-sync") { [self] in
            var wasLeading: Bool?
            while !stopping.withLock({ $0 }) {
                let now = monotonicSeconds()
                // One coordinator of those sharing a store syncs; the others
                // follow what it saved, and try to take over at every poll.
                let leading = store.engine.lead(StoreLocks.calendar)
                if leading != wasLeading {
                    if store.engine.dialect != .sqlite || !leading {
                        logger.notice(leading ? "calendar: this coordinator syncs the calendars now"
                                              : "calendar: another coordinator syncs the calendars; following it")
                    }
                    if leading { states.withLock { states in for board in states.keys { states[board]?.nextAttempt = 0 } } }
                    wasLeading = leading
                }
                let next: Double
                if leading {
                    let due = states.withLock { states in states.filter { $0.value.nextAttempt <= now }.map(\.key) }
                    if !due.isEmpty { poll(boards: due) }
                    next = states.withLock { $0.values.map(\.nextAttempt).min() } ?? now + options.poll
                } else {
                    follow()
                    next = now + options.poll
                }
                wake.lock()
                if !stopping.withLock({ $0 }) {
                    _ = wake.wait(until: Date().addingTimeInterval(max(0.05, next - monotonicSeconds())))
                }
                wake.unlock()
            }
        }
    }

    public func stop() {
        stopping.withLock { $0 = true }
        poke()
        store.engine.resign(StoreLocks.calendar)
    }

    /// Takes how each calendar stands from the store (another coordinator
    /// syncs them), so a stale board is refused here too.
    func follow() {
        guard let standings = try? store.calendarStandings() else { return }
        states.withLock { states in
            for (board, standing) in standings where states[board] != nil {
                states[board]?.unreadableSince = standing.unreadableSince
                states[board]?.lastError = standing.lastError
                states[board]?.lastSync = standing.lastSync
                // Taking over later starts with a full sync.
                states[board]?.syncToken = nil
            }
        }
    }

    /// Saves how `board`'s calendar stands, for the coordinators following.
    private func share(_ board: String) {
        guard let state = states.withLock({ $0[board] }) else { return }
        do {
            try store.saveCalendarStanding(board: board, CalendarStanding(unreadableSince: state.unreadableSince,
                                                                          lastError: state.lastError, lastSync: state.lastSync))
        } catch {
            logger.warning("calendar: \(board): cannot save how its calendar stands: \(error)")
        }
    }

    /// Wakes the sync thread (it syncs the calendars that are due).
    public func poke() {
        wake.lock()
        wake.broadcast()
        wake.unlock()
    }

    /// Syncs every calendar once, now, on the calling thread (tests, tools).
    /// Returns the boards whose calendar could not be read.
    @discardableResult
    public func syncAll() -> [String] {
        options.boards.keys.sorted().filter { !syncOnce(board: $0) }
    }

    /// One sync of `board`'s calendar, its outcome recorded; true on success.
    /// After a success the next poll of the board is due at `nextPoll`
    /// (monotonic; default a `poll` from now).
    @discardableResult
    public func syncOnce(board: String, nextPoll: Double? = nil) -> Bool {
        guard let calendar = options.boards[board] else { return false }
        let outcome: Result<Int, CalendarError> = syncLock.withLock { _ in
            do throws(CalendarError) { return .success(try sync(board: board, calendar: calendar)) } catch { return .failure(error) }
        }
        switch outcome {
        case .success(let changes):
            recordSuccess(board, nextPoll: nextPoll)
            if changes > 0 { onChange.withLock { $0 }?() }
            return true
        case .failure(let error):
            recordFailure(board, error)
            return false
        }
    }

    // MARK: Staleness

    /// How one board's calendar stands.
    public struct Status: Sendable, Equatable {
        /// The last sync failed: its reservations are the last known ones.
        public var stale: Bool
        /// Unix time of the first failed sync since the last good one.
        public var unreadableSince: Double?
        public var lastError: String?
        /// Unix time of the last good sync.
        public var lastSync: Double?
    }

    public func status(board: String) -> Status? {
        states.withLock { $0[board] }.map {
            Status(stale: $0.unreadableSince != nil, unreadableSince: $0.unreadableSince, lastError: $0.lastError, lastSync: $0.lastSync)
        }
    }

    /// Why access to `board` is refused now, or nil: its calendar has been
    /// unreadable for `staleGrace` or longer.
    public func accessProblem(board: String) -> String? {
        guard let state = states.withLock({ $0[board] }), let since = state.unreadableSince,
              clock() - since >= options.staleGrace else { return nil }
        return "the calendar of \(board) cannot be read since \(EventTime.format(Int64(since)))"
            + " (\(state.lastError ?? "?")): access refused until it can be read"
    }

    /// Requests sent to the Calendar API and to the token endpoint.
    public var requestCounts: (api: Int, token: Int) {
        (api.requests.load(ordering: .relaxed), auth.renewals.load(ordering: .relaxed))
    }

    private func recordSuccess(_ board: String, nextPoll: Double?) {
        let (recovered, first): (Bool, Bool) = states.withLock { states in
            let was = states[board]?.unreadableSince != nil, first = states[board]?.lastSync == nil
            states[board]?.unreadableSince = nil
            states[board]?.lastError = nil
            states[board]?.failures = 0
            states[board]?.lastSync = clock()
            states[board]?.nextAttempt = nextPoll ?? monotonicSeconds() + options.poll
            return (was, first)
        }
        if recovered { logger.notice("calendar: \(board): the calendar can be read again") }
        // Saved as it changes, not at every poll.
        if recovered || first { share(board) }
    }

    private func recordFailure(_ board: String, _ error: CalendarError) {
        let (first, failures): (Bool, Int) = states.withLock { states in
            guard var state = states[board] else { return (false, 0) }
            let first = state.unreadableSince == nil
            if first { state.unreadableSince = clock() }
            state.failures += 1
            state.lastError = error.description
            let wait = Backoff(base: options.poll, limit: max(options.poll, options.maxBackoff)).delay(attempt: state.failures)
            state.nextAttempt = monotonicSeconds() + wait
            states[board] = state
            return (first, state.failures)
        }
        share(board)
        let known = (try? store.reservations(board: board, endingAfter: Int64(clock())).count) ?? 0
        if first {
            logger.warning("calendar: \(board): cannot read its calendar: \(error); keeping its \(known) known reservation\(known == 1 ? "" : "s") (stale); access is refused after \(Int(options.staleGrace))s")
        } else {
            logger.warning("calendar: \(board): still cannot read its calendar (\(failures) failures): \(error)")
        }
    }
}

/// What the sync knows of one board's calendar.
struct BoardCalendarState: Sendable {
    /// From the last page of the last sync; nil: the next sync is a full one.
    var syncToken: String?
    /// Monotonic time of the next sync attempt.
    var nextAttempt: Double = 0
    /// Failed attempts in a row (they space out the next ones).
    var failures = 0
    var unreadableSince: Double?
    var lastError: String?
    var lastSync: Double?
    /// The busy time freeBusy reported just before the last sync or check
    /// that succeeded; nil: the next poll syncs.
    var busy: BusyTime?
    /// Polls since the last sync (freeBusy checks that found no change).
    var pollsSinceSync = 0
    /// Where in the `syncEvery` cycle this board's periodic sync falls.
    var phase = 0
}

/// freeBusy's own failures: while it backs off, every poll is an
/// incremental sync.
struct FreeBusyHealth: Sendable {
    var failures = 0
    /// Monotonic time before which freeBusy is not tried again.
    var nextAttempt: Double = 0
}
