/// One event of `events.list`, reduced to what a reservation needs.
struct CalendarEvent: Sendable, Equatable {
    enum Status: String, Sendable {
        case confirmed, tentative, cancelled
    }

    let id: String
    let status: Status
    /// Unix seconds; nil for a cancelled event (Google sends only its ID).
    let start: Int64?
    let end: Int64?
    let organizer: String?
    let creator: String?
    /// The calendar's own answer as an attendee (a resource declines a
    /// double booking): "accepted", "declined", "tentative", "needsAction".
    let selfResponse: String?
    /// The user named by the coordinator when it wrote the event itself
    /// (`extendedProperties.private.provisioner_user`).
    let provisionerUser: String?
    /// Attendees who accepted, lower-cased: people only (not the calendar
    /// itself, nor a resource, nor the organizer's own entry).
    let acceptedAttendees: [String]
    let recurringEventID: String?
    /// Its title as people wrote it (one line, at most 200 characters):
    /// shown as text on the web page, never as markup.
    let title: String?

    /// Without an end (or with `endTimeUnspecified`), a timed event lasts
    /// an hour and an all-day event a day.
    static let defaultTimedLength: Int64 = 3600

    /// Reads one item; nil when it has no ID. Times that cannot be read make
    /// a non-cancelled event unusable: `start == nil`.
    init?(_ item: GoogleCalendarAPI.Event, timeZone: String?) {
        guard let id = item.id, !id.isEmpty else { return nil }
        self.id = id
        status = Status(rawValue: item.status ?? "confirmed") ?? .confirmed
        organizer = item.organizer?.email?.lowercased()
        creator = item.creator?.email?.lowercased()
        let attendees = item.attendees ?? []
        selfResponse = attendees.first { $0.isSelf == true }?.responseStatus
        acceptedAttendees = attendees.filter {
            $0.responseStatus == "accepted" && $0.isSelf != true && $0.resource != true && $0.organizer != true
        }.compactMap { $0.email?.lowercased() }
        provisionerUser = item.extendedProperties?.private?["provisioner_user"]
        recurringEventID = item.recurringEventId
        title = item.summary.map { String($0.map { $0.isNewline || $0.asciiValue.map { $0 < 0x20 } == true ? " " : $0 }.prefix(200)) }
        let (start, allDay) = Self.time(item.start, timeZone: timeZone)
        self.start = start
        var end = Self.time(item.end, timeZone: timeZone).seconds
        if let start, end == nil || end! <= start || item.endTimeUnspecified == true {
            end = start + (allDay ? 86400 : Self.defaultTimedLength)
        }
        self.end = end
    }

    /// `{"dateTime": …}` or `{"date": …}`, in the field's own time zone for
    /// a date when it names one, else the calendar's. Both are text of a
    /// bounded form (a four-digit year), so the seconds cannot overflow.
    private static func time(_ field: GoogleCalendarAPI.Event.Time?, timeZone: String?) -> (seconds: Int64?, allDay: Bool) {
        guard let field else { return (nil, false) }
        if let text = field.dateTime { return (EventTime.parseDateTime(text), false) }
        if let text = field.date { return (EventTime.parseDate(text, timeZone: field.timeZone ?? timeZone), true) }
        return (nil, false)
    }
}
