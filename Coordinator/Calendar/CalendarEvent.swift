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

    /// Without an end (or with `endTimeUnspecified`), a timed event lasts
    /// an hour and an all-day event a day.
    static let defaultTimedLength: Int64 = 3600

    /// Reads one item; nil when it has no ID. Times that cannot be read make
    /// a non-cancelled event unusable: `start == nil`.
    init?(_ item: [String: Any], timeZone: String?) {
        guard let id = item["id"] as? String, !id.isEmpty else { return nil }
        self.id = id
        status = Status(rawValue: item["status"] as? String ?? "confirmed") ?? .confirmed
        organizer = ((item["organizer"] as? [String: Any])?["email"] as? String)?.lowercased()
        creator = ((item["creator"] as? [String: Any])?["email"] as? String)?.lowercased()
        let attendees = item["attendees"] as? [[String: Any]] ?? []
        selfResponse = attendees.first { $0["self"] as? Bool == true }?["responseStatus"] as? String
        acceptedAttendees = attendees.filter {
            $0["responseStatus"] as? String == "accepted" && $0["self"] as? Bool != true
                && $0["resource"] as? Bool != true && $0["organizer"] as? Bool != true
        }.compactMap { ($0["email"] as? String)?.lowercased() }
        provisionerUser = ((item["extendedProperties"] as? [String: Any])?["private"] as? [String: Any])?["provisioner_user"] as? String
        recurringEventID = item["recurringEventId"] as? String
        let startField = item["start"] as? [String: Any]
        let endField = item["end"] as? [String: Any]
        let (start, allDay) = Self.time(startField, timeZone: timeZone)
        self.start = start
        var end = Self.time(endField, timeZone: timeZone).seconds
        if let start, end == nil || end! <= start || item["endTimeUnspecified"] as? Bool == true {
            end = start + (allDay ? 86400 : Self.defaultTimedLength)
        }
        self.end = end
    }

    /// `{"dateTime": …}` or `{"date": …}`, in the field's own time zone for
    /// a date when it names one, else the calendar's.
    private static func time(_ field: [String: Any]?, timeZone: String?) -> (seconds: Int64?, allDay: Bool) {
        guard let field else { return (nil, false) }
        if let text = field["dateTime"] as? String { return (EventTime.parseDateTime(text), false) }
        if let text = field["date"] as? String {
            return (EventTime.parseDate(text, timeZone: field["timeZone"] as? String ?? timeZone), true)
        }
        return (nil, false)
    }
}
