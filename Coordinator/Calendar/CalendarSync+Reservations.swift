import Reservations

/// `reserve` and `release` on a calendar board: the calendar first, then the
/// store, so the store changes only when Google accepted.
extension CalendarSync: ReservationCalendar {
    public func isStale(board: String) -> Bool { status(board: board)?.stale == true }

    /// Reserves `board` for `user` from `start` to `end`: a fresh sync, the
    /// free-time check against it, then `events.insert`. When the caller's
    /// own current reservation is the only conflict, its event is moved to
    /// end at `end` instead (`events.patch`).
    public func reserve(board: String, user: String, start: Int64, end: Int64) throws(CalendarReservationError) -> Reservation {
        guard let calendar = options.boards[board] else { throw .failed("\(board) has no calendar") }
        if let problem = accessProblem(board: board) { throw .failed(problem) }
        let outcome: Result<Reservation, CalendarReservationError> = syncLock.withLock { _ in
            do throws(CalendarReservationError) {
                return .success(try reserveLocked(board: board, calendar: calendar, user: user, start: start, end: end))
            } catch {
                return .failure(error)
            }
        }
        return try outcome.get()
    }

    private func reserveLocked(board: String, calendar: String, user: String, start: Int64, end: Int64) throws(CalendarReservationError) -> Reservation {
        do {
            _ = try sync(board: board, calendar: calendar)
        } catch {
            throw .failed("cannot read the calendar of \(board): \(error)")
        }
        let overlapping: [Reservation]
        do { overlapping = try store.overlapping(board: board, start: start, end: end) } catch {
            throw .failed("the reservation store failed: \(error)")
        }
        if overlapping.count == 1, let own = overlapping.first, own.user == user, own.start <= start, let source = own.source {
            do {
                _ = try api.patchEvent(calendar: calendar, id: source, .init(end: .init(dateTime: EventTime.format(end))))
                let moved = try store.setEnd(own, to: end)
                logger.notice("calendar: \(board): \(user)'s event \(source) now ends \(EventTime.format(end))")
                return moved
            } catch let error as CalendarError {
                throw .failed("the calendar of \(board) refused the change: \(error)")
            } catch {
                throw .failed("the reservation store failed: \(error)")
            }
        }
        if let holder = overlapping.first(where: { $0.user != user }) ?? overlapping.first { throw .conflict(holder) }
        let id = Self.newEventID()
        let event = GoogleCalendarAPI.Event(
            id: id,
            summary: "\(user) (provisioner)",
            description: "Reserved with the lab's coordinator by \(user).",
            extendedProperties: .init(private: ["provisioner_user": user]),
            start: .init(dateTime: EventTime.format(start)),
            end: .init(dateTime: EventTime.format(end)))
        do throws(CalendarError) {
            _ = try api.insertEvent(calendar: calendar, event)
        } catch where error.status == 409 {
            // A retried insert whose first try got through: the event is there.
        } catch {
            throw .failed("the calendar of \(board) refused the reservation: \(error)")
        }
        do {
            let result = try store.applyCalendarEvent(board: board, source: id, user: user, start: start, end: end)
            logger.notice("calendar: \(board): \(user) holds it \(span(start, end)) (event \(id) written)")
            return result.reservation
        } catch ReservationRefusal.conflict(let other) {
            throw .conflict(other)
        } catch {
            throw .failed("the reservation store failed: \(error)")
        }
    }

    /// Ends `reservation` at `now`: its event is patched to end now (one
    /// that has not begun is cancelled), then the store follows. An event
    /// already gone from the calendar just ends locally.
    public func release(_ reservation: Reservation, at now: Int64) throws(CalendarReservationError) {
        guard let calendar = options.boards[reservation.board] else { throw .failed("\(reservation.board) has no calendar") }
        let outcome: Result<Void, CalendarReservationError> = syncLock.withLock { _ in
            if let source = reservation.source {
                let fields = reservation.start >= now ? GoogleCalendarAPI.Event(status: "cancelled")
                    : GoogleCalendarAPI.Event(end: .init(dateTime: EventTime.format(now)))
                do throws(CalendarError) {
                    _ = try api.patchEvent(calendar: calendar, id: source, fields)
                } catch where error.isMissing {
                    logger.notice("calendar: \(reservation.board): event \(source) is already gone")
                } catch {
                    return .failure(.failed("the calendar of \(reservation.board) refused the change: \(error)"))
                }
            }
            do { try store.end(reservation, at: now) } catch { return .failure(.failed("the reservation store failed: \(error)")) }
            logger.notice("calendar: \(reservation.board): \(reservation.user)'s reservation ended \(EventTime.format(now))")
            return .success(())
        }
        try outcome.get()
    }

    /// A client-chosen event ID (base32hex, as Google allows), so a retried
    /// insert cannot make a second event: it gets 409 instead.
    static func newEventID() -> String {
        let digits = Array("0123456789abcdefghijklmnopqrstuv")
        return "prov" + String((0..<26).map { _ in digits.randomElement()! })
    }
}
