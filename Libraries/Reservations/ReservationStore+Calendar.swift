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

    public init(source: String, user: String, start: Int64, end: Int64, guests: [String] = []) {
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
        return try lock.withLock { _ in try applyLocked(board: board, event) }
    }

    /// `applyCalendarEvent` for many events of `board` in one transaction:
    /// a full sync of a big calendar is one write to disk, not one per
    /// event. Each event succeeds or fails on its own (in the order given),
    /// as it would alone. With `clearingFirst`, the events' old rows are
    /// removed before any is written, so events that trade slots (a cycle
    /// no order of single moves resolves) all land.
    public func applyCalendarEvents(board: String, _ events: [CalendarEventReservation],
                                    clearingFirst: Bool = false) throws -> [Result<CalendarApplyResult, any Error>] {
        try lock.withLock { _ in
            try database.execute("BEGIN IMMEDIATE")
            if clearingFirst {
                do {
                    for event in events {
                        try database.query("DELETE FROM reservations WHERE board = ? AND source = ?", [.text(board), .text(event.source)])
                    }
                } catch {
                    try? database.execute("ROLLBACK")
                    throw error
                }
            }
            let results = events.map { event in Result { try applyLocked(board: board, event) } }
            do {
                try database.execute("COMMIT")
            } catch {
                try? database.execute("ROLLBACK")
                throw error
            }
            return results
        }
    }

    /// One event, inside a savepoint of its own (the caller holds `lock`).
    private func applyLocked(board: String, _ event: CalendarEventReservation) throws -> CalendarApplyResult {
        let (source, user, start, end, guests) = (event.source, event.user, event.start, event.end, event.guests)
        guard end > start else { throw ReservationRefusal.emptyPeriod }
        let guestsValue: SQLiteValue = guests.isEmpty ? .null : .text(guests.joined(separator: " "))
        let existing = try reservations("WHERE board = ? AND source = ?", [.text(board), .text(source)]).first
        if let existing, existing.user == user, existing.start == start, existing.end == end, existing.guests == guests {
            return CalendarApplyResult(reservation: existing, changed: false, displaced: [])
        }
        let overlapping = try overlappingLocked(board: board, start: start, end: end).filter { $0.id != existing?.id }
        if let other = overlapping.first(where: { $0.source != nil }) { throw ReservationRefusal.conflict(other) }
        try database.execute("SAVEPOINT apply_event")
        do {
            for local in overlapping {
                try database.query("DELETE FROM reservations WHERE id = ?", [.integer(local.id)])
            }
            let id: Int64
            if let existing {
                try database.query("UPDATE reservations SET user = ?, start = ?, end = ?, guests = ? WHERE id = ?",
                                   [.text(user), .integer(start), .integer(end), guestsValue, .integer(existing.id)])
                id = existing.id
            } else {
                try database.query("INSERT INTO reservations (board, user, start, end, source, guests) VALUES (?, ?, ?, ?, ?, ?)",
                                   [.text(board), .text(user), .integer(start), .integer(end), .text(source), guestsValue])
                id = database.lastInsertedRow
            }
            try database.execute("RELEASE apply_event")
            let stored = Reservation(id: id, board: board, user: user, start: start, end: end, source: source, guests: guests)
            return CalendarApplyResult(reservation: stored, changed: true, displaced: overlapping)
        } catch {
            try? database.execute("ROLLBACK TO apply_event")
            try? database.execute("RELEASE apply_event")
            throw error
        }
    }

    /// Removes the reservation of event `source` on `board`; returns it, or
    /// nil when there was none.
    @discardableResult
    public func removeCalendarEvent(board: String, source: String) throws -> Reservation? {
        try lock.withLock { _ in
            guard let existing = try reservations("WHERE board = ? AND source = ?", [.text(board), .text(source)]).first else {
                return nil
            }
            try database.query("DELETE FROM reservations WHERE id = ?", [.integer(existing.id)])
            return existing
        }
    }

    /// Reservations of `board` not ended at `now`, calendar and local, by start.
    public func reservations(board: String, endingAfter now: Int64) throws -> [Reservation] {
        try lock.withLock { _ in
            try reservations("WHERE board = ? AND end > ? ORDER BY start", [.text(board), .integer(now)])
        }
    }

    /// Reservations of `board` overlapping `start..<end`, by start.
    public func overlapping(board: String, start: Int64, end: Int64) throws -> [Reservation] {
        try lock.withLock { _ in try overlappingLocked(board: board, start: start, end: end) }
    }

    /// Removes one reservation (by its row).
    public func remove(_ reservation: Reservation) throws {
        try lock.withLock { _ -> Void in
            try database.query("DELETE FROM reservations WHERE id = ?", [.integer(reservation.id)])
        }
    }

    /// Moves the end of one reservation (the overlap triggers apply).
    public func setEnd(_ reservation: Reservation, to end: Int64) throws -> Reservation {
        guard end > reservation.start else { throw ReservationRefusal.emptyPeriod }
        return try lock.withLock { _ in
            try database.query("UPDATE reservations SET end = ? WHERE id = ?", [.integer(end), .integer(reservation.id)])
            return Reservation(id: reservation.id, board: reservation.board, user: reservation.user,
                               start: reservation.start, end: end, source: reservation.source, guests: reservation.guests)
        }
    }
}
