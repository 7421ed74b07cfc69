/// What applying one calendar event did to the store.
public struct CalendarApplyResult: Sendable, Equatable {
    /// The event's reservation as stored now.
    public let reservation: Reservation
    /// Whether it was inserted or moved (false: already as the calendar says).
    public let changed: Bool
    /// Local reservations that overlapped it and were removed: the calendar wins.
    public let displaced: [Reservation]
}

/// The reservation one calendar event asks for.
public struct CalendarEventReservation: Sendable, Equatable {
    /// The event's ID.
    public var source: String
    public var user: String
    public var start: Int64
    public var end: Int64
    public var guests: [String]
    /// The event's title, if it has one.
    public var title: String?

    public init(source: String, user: String, start: Int64, end: Int64, guests: [String] = [], title: String? = nil) {
        self.title = title
        self.source = source
        self.user = user
        self.start = start
        self.end = end
        self.guests = guests
    }
}

/// Reservations mirrored from a calendar: each row's `source` is the event's
/// ID, unique per board. The calendar is the authority for its board; these
/// calls are how the sync writes what it read.
extension ReservationStore {
    /// Makes the reservation of event `source` on `board` say `user` (with
    /// `guests`) from `start` to `end`: inserted, moved, or left as it is.
    /// Local reservations of `board` that overlap it are removed and
    /// returned. Another calendar event overlapping it is a conflict (two
    /// events booked into one slot): `ReservationRefusal.conflict` with that
    /// event's reservation.
    public func applyCalendarEvent(board: String, source: String, user: String, start: Int64, end: Int64,
                                   guests: [String] = []) throws -> CalendarApplyResult {
        let event = CalendarEventReservation(source: source, user: user, start: start, end: end, guests: guests)
        return try engine.transaction { session in try Self.apply(session, board: board, event) }
    }

    /// `applyCalendarEvent` for many events of `board` in one transaction:
    /// a full sync of a big calendar is one write to disk, not one per
    /// event. Each event succeeds or fails on its own (in the order given),
    /// as it would alone. With `clearingFirst`, the events' old rows are
    /// removed before any is written, so events that trade slots (a cycle
    /// no order of single moves resolves) all land.
    public func applyCalendarEvents(board: String, _ events: [CalendarEventReservation],
                                    clearingFirst: Bool = false) throws -> [Result<CalendarApplyResult, any Error>] {
        try engine.transaction { session in
            if clearingFirst {
                for event in events {
                    try session.query("DELETE FROM reservations WHERE board = ? AND source = ?", [.text(board), .text(event.source)])
                }
            }
            return events.map { event in Result { try Self.apply(session, board: board, event) } }
        }
    }

    /// One event, inside a savepoint of its own (the caller's transaction).
    private static func apply(_ session: any StoreSession, board: String, _ event: CalendarEventReservation) throws -> CalendarApplyResult {
        let (source, user, start, end, guests, title) = (event.source, event.user, event.start, event.end, event.guests, event.title)
        guard end > start else { throw ReservationRefusal.emptyPeriod }
        let guestsValue: SQLValue = guests.isEmpty ? .null : .text(guests.joined(separator: " "))
        let existing = try select(session, "WHERE board = ? AND source = ?", [.text(board), .text(source)]).first
        if let existing, existing.user == user, existing.start == start, existing.end == end, existing.guests == guests,
           existing.title == title {
            return CalendarApplyResult(reservation: existing, changed: false, displaced: [])
        }
        let overlapping = try overlapping(session, board: board, start: start, end: end).filter { $0.id != existing?.id }
        if let other = overlapping.first(where: { $0.source != nil }) { throw ReservationRefusal.conflict(other) }
        try session.execute("SAVEPOINT apply_event")
        do {
            for local in overlapping {
                try session.query("DELETE FROM reservations WHERE id = ?", [.integer(local.id)])
            }
            let id: Int64
            if let existing {
                try session.query("UPDATE reservations SET \"user\" = ?, start = ?, \"end\" = ?, guests = ?, title = ? WHERE id = ?",
                                  [.text(user), .integer(start), .integer(end), guestsValue, title.map(SQLValue.text) ?? .null,
                                   .integer(existing.id)])
                id = existing.id
            } else {
                id = try session.query("INSERT INTO reservations (board, \"user\", start, \"end\", source, guests, title) VALUES (?, ?, ?, ?, ?, ?, ?) "
                                       + "RETURNING id",
                                       [.text(board), .text(user), .integer(start), .integer(end), .text(source), guestsValue,
                                        title.map(SQLValue.text) ?? .null])
                    .first?.first?.integer ?? 0
            }
            try session.execute("RELEASE apply_event")
            let stored = Reservation(id: id, board: board, user: user, start: start, end: end, source: source, guests: guests, title: title)
            return CalendarApplyResult(reservation: stored, changed: true, displaced: overlapping)
        } catch {
            try? session.execute("ROLLBACK TO apply_event")
            try? session.execute("RELEASE apply_event")
            throw error
        }
    }

    /// Removes the reservation of event `source` on `board`; returns it, or
    /// nil when there was none.
    @discardableResult
    public func removeCalendarEvent(board: String, source: String) throws -> Reservation? {
        try engine.withSession { session in
            try session.query("DELETE FROM reservations WHERE board = ? AND source = ? "
                              + "RETURNING id, board, \"user\", start, \"end\", source, guests, title", [.text(board), .text(source)])
                .first.map(Self.reservation)
        }
    }

    /// Reservations of `board` not ended at `now`, calendar and local, by start.
    public func reservations(board: String, endingAfter now: Int64) throws -> [Reservation] {
        try select("WHERE board = ? AND \"end\" > ? ORDER BY start", [.text(board), .integer(now)])
    }

    /// Reservations of `board` overlapping `start..<end`, by start.
    public func overlapping(board: String, start: Int64, end: Int64) throws -> [Reservation] {
        try engine.withSession { session in try Self.overlapping(session, board: board, start: start, end: end) }
    }

    /// Removes one reservation (by its row).
    public func remove(_ reservation: Reservation) throws {
        try execute("DELETE FROM reservations WHERE id = ?", [.integer(reservation.id)])
    }

    /// Moves the end of one reservation (the overlap triggers apply).
    public func setEnd(_ reservation: Reservation, to end: Int64) throws -> Reservation {
        guard end > reservation.start else { throw ReservationRefusal.emptyPeriod }
        try execute("UPDATE reservations SET \"end\" = ? WHERE id = ?", [.integer(end), .integer(reservation.id)])
        return Reservation(id: reservation.id, board: reservation.board, user: reservation.user,
                           start: reservation.start, end: end, source: reservation.source, guests: reservation.guests,
                           title: reservation.title)
    }
}

/// How one board's calendar stands, as the coordinator syncing it saw it
/// last: shared so that every coordinator refuses a stale board alike.
public struct CalendarStanding: Sendable, Equatable {
    public var unreadableSince: Double?
    public var lastError: String?
    public var lastSync: Double?

    public init(unreadableSince: Double?, lastError: String?, lastSync: Double?) {
        self.unreadableSince = unreadableSince
        self.lastError = lastError
        self.lastSync = lastSync
    }
}

extension ReservationStore {
    /// Saves how `board`'s calendar stands (the syncing coordinator).
    public func saveCalendarStanding(board: String, _ standing: CalendarStanding) throws {
        func milliseconds(_ time: Double?) -> SQLValue {
            time.flatMap { Int64(exactly: (min(max($0, 0), 1e12) * 1000).rounded()) }.map(SQLValue.integer) ?? .null
        }
        try execute("INSERT INTO calendar_status (board, unreadable_since_ms, last_error, last_sync_ms) VALUES (?, ?, ?, ?) "
                    + "ON CONFLICT (board) DO UPDATE SET unreadable_since_ms = excluded.unreadable_since_ms, "
                    + "last_error = excluded.last_error, last_sync_ms = excluded.last_sync_ms",
                    [.text(board), milliseconds(standing.unreadableSince), standing.lastError.map(SQLValue.text) ?? .null,
                     milliseconds(standing.lastSync)])
    }

    /// How every board's calendar stands, by board.
    public func calendarStandings() throws -> [String: CalendarStanding] {
        let rows = try engine.withSession { session in
            try session.query("SELECT board, unreadable_since_ms, last_error, last_sync_ms FROM calendar_status")
        }
        var standings: [String: CalendarStanding] = [:]
        for row in rows {
            guard let board = row[0].text else { continue }
            standings[board] = CalendarStanding(unreadableSince: row[1].integer.map { Double($0) / 1000 }, lastError: row[2].text,
                                                lastSync: row[3].integer.map { Double($0) / 1000 })
        }
        return standings
    }
}
