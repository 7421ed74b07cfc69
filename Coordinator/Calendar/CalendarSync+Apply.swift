import Reservations

/// Reading a calendar and writing what it says into the store.
extension CalendarSync {
    /// A reservation as an event asks for it.
    struct Booking: Equatable {
        var user: String
        var start: Int64
        var end: Int64
        /// The holder is an address no `users[].email` knows.
        var unknown: Bool
        /// Known users among the accepted attendees (when `attendees` is on).
        var guests: [String] = []
        /// The event's title.
        var title: String? = nil
    }

    /// One sync of `calendar` into `board`'s reservations (the caller holds
    /// `syncLock`): incremental with the kept sync token, or full (first
    /// time, or after 410 Gone). Returns how many reservations changed.
    func sync(board: String, calendar: String) throws(CalendarError) -> Int {
        if let token = states.withLock({ $0[board]?.syncToken }) {
            do throws(CalendarError) {
                return try incrementalSync(board: board, calendar: calendar, token: token)
            } catch where error.isGone {
                logger.notice("calendar: \(board): sync token expired (410 Gone): full sync")
                states.withLock { $0[board]?.syncToken = nil }
            }
        }
        return try fullSync(board: board, calendar: calendar)
    }

    /// All events (every page), and the sync token of the last page.
    func fetch(calendar: String, syncToken: String?) throws(CalendarError) -> (events: [CalendarEvent], syncToken: String?) {
        var events: [CalendarEvent] = []
        var pageToken: String?
        var pages = 0
        repeat {
            let page = try api.listEvents(calendar: calendar, syncToken: syncToken, pageToken: pageToken)
            events += (page.items ?? []).compactMap { CalendarEvent($0, timeZone: page.timeZone) }
            pageToken = page.nextPageToken
            pages += 1
            if pageToken == nil { return (events, page.nextSyncToken) }
        } while pages < 10_000
        throw CalendarError("events.list of \(calendar): more than 10000 pages")
    }

    func fullSync(board: String, calendar: String) throws(CalendarError) -> Int {
        let (events, next) = try fetch(calendar: calendar, syncToken: nil)
        let now = Int64(clock())
        var wanted: [(String, Booking)] = []
        for event in events {
            if let booking = booking(for: event, calendar: calendar), booking.end > now { wanted.append((event.id, booking)) }
        }
        let wantedIDs = Set(wanted.map(\.0))
        var changes = 0
        do {
            for existing in try store.reservations(board: board, endingAfter: now) {
                if let source = existing.source {
                    guard !wantedIDs.contains(source) else { continue }
                    try store.remove(existing)
                    logger.notice("calendar: \(board): event \(source) is gone: \(existing.user)'s reservation \(span(existing.start, existing.end)) removed")
                } else {
                    try store.remove(existing)
                    logger.warning("calendar: \(board): the calendar wins: local reservation of \(existing.user) \(span(existing.start, existing.end)) is not in the calendar, removed")
                }
                changes += 1
            }
        } catch {
            throw CalendarError("\(board): the reservation store failed: \(error)")
        }
        changes += apply(board: board, wanted.sorted { $0.1.start < $1.1.start })
        states.withLock { $0[board]?.syncToken = next }
        logger.info("calendar: \(board): full sync, \(events.count) events, \(wanted.count) current or coming")
        return changes
    }

    func incrementalSync(board: String, calendar: String, token: String) throws(CalendarError) -> Int {
        let (events, next) = try fetch(calendar: calendar, syncToken: token)
        let now = Int64(clock())
        var changes = 0
        var wanted: [(String, Booking)] = []
        for event in events {
            if let booking = booking(for: event, calendar: calendar), booking.end > now {
                wanted.append((event.id, booking))
                continue
            }
            // Cancelled, ignored by policy, or over: no reservation (removals first, so a slot freed
            // by one event can be taken by another in the same batch).
            do {
                if let removed = try store.removeCalendarEvent(board: board, source: event.id) {
                    logger.notice("calendar: \(board): event \(event.id) \(event.status == .cancelled ? "cancelled" : "no longer holds"): \(removed.user)'s reservation \(span(removed.start, removed.end)) removed")
                    changes += 1
                }
            } catch {
                throw CalendarError("\(board): the reservation store failed: \(error)")
            }
        }
        changes += apply(board: board, wanted)
        states.withLock { $0[board]?.syncToken = next ?? token }
        if !events.isEmpty { logger.info("calendar: \(board): \(events.count) changed event\(events.count == 1 ? "" : "s")") }
        return changes
    }

    /// Writes bookings into the store (one transaction a round); those that
    /// overlap another event are tried again after the rest, their old slots
    /// cleared first (the others may be moving away in the same batch, or
    /// trading slots with them), then left out with a warning. Returns how
    /// many changed.
    func apply(board: String, _ bookings: [(String, Booking)]) -> Int {
        var changes = 0
        var pending = bookings
        for round in 0..<2 where !pending.isEmpty {
            let results: [Result<CalendarApplyResult, any Error>]
            do {
                results = try store.applyCalendarEvents(board: board, pending.map { id, booking in
                    CalendarEventReservation(source: id, user: booking.user, start: booking.start, end: booking.end, guests: booking.guests,
                                             title: booking.title)
                }, clearingFirst: round == 1)
            } catch {
                logger.error("calendar: \(board): cannot store \(pending.count) event\(pending.count == 1 ? "" : "s"): \(error)")
                return changes
            }
            var conflicts: [(String, Booking)] = []
            for ((id, booking), outcome) in zip(pending, results) {
                switch outcome {
                case .success(let result):
                    guard result.changed else { continue }
                    changes += 1
                    let with = booking.guests.isEmpty ? "" : " with \(booking.guests.joined(separator: ", "))"
                    logger.notice("calendar: \(board): \(booking.user)\(with) holds it \(span(booking.start, booking.end)) (event \(id))")
                    if booking.unknown {
                        logger.warning("calendar: \(board): event \(id) is by \(booking.user), who is not in users: nobody may use \(board) in that slot")
                    }
                    for local in result.displaced {
                        logger.warning("calendar: \(board): the calendar wins: local reservation of \(local.user) \(span(local.start, local.end)) overlaps event \(id), removed")
                    }
                case .failure(ReservationRefusal.conflict) where round == 0:
                    conflicts.append((id, booking))
                case .failure(ReservationRefusal.conflict(let other)):
                    changes += 1  // its old slot, if it had one, was cleared: the agents are told again
                    logger.warning("calendar: \(board): event \(id) (\(booking.user) \(span(booking.start, booking.end))) overlaps event \(other.source ?? "?") of \(other.user): left out")
                case .failure(let error):
                    logger.error("calendar: \(board): cannot store event \(id): \(error)")
                }
            }
            pending = conflicts
        }
        return changes
    }

    /// The reservation `event` makes, or nil (cancelled, no usable time, or
    /// a tentative or declined one the config ignores); with `attendees` on,
    /// the known users who accepted it are its guests.
    func booking(for event: CalendarEvent, calendar: String) -> Booking? {
        guard var booking = holder(of: event, calendar: calendar) else { return nil }
        if options.attendees {
            var guests: [String] = []
            for email in event.acceptedAttendees {
                if let user = options.users[email], user != booking.user, !guests.contains(user) { guests.append(user) }
            }
            booking.guests = guests
        }
        booking.title = event.title
        return booking
    }

    /// The reservation `event` makes for its organizer (or creator).
    private func holder(of event: CalendarEvent, calendar: String) -> Booking? {
        guard event.status != .cancelled, let start = event.start, let end = event.end, end > start else { return nil }
        if event.status == .tentative && options.tentative == .ignore { return nil }
        if event.selfResponse == "declined" && options.declined == .ignore { return nil }
        let service = auth.key.clientEmail.lowercased()
        if let user = event.provisionerUser, event.organizer == service || event.creator == service,
           options.users.values.contains(user) {
            return Booking(user: user, start: start, end: end, unknown: false)
        }
        for email in [event.organizer, event.creator].compactMap({ $0 }) {
            if let user = options.users[email] { return Booking(user: user, start: start, end: end, unknown: false) }
        }
        // Held by whoever booked it, by address; the calendar's own address
        // (an event made on a resource calendar directly) names nobody.
        let calendarAddress = calendar.lowercased()
        let address = [event.organizer, event.creator].compactMap({ $0 }).first { $0 != calendarAddress }
            ?? event.organizer ?? event.creator ?? "unknown"
        return Booking(user: address, start: start, end: end, unknown: true)
    }

    func span(_ start: Int64, _ end: Int64) -> String {
        "from \(EventTime.format(start)) to \(EventTime.format(end))"
    }
}
