/// The Calendar API v3 JSON the coordinator reads and writes: only the fields
/// it uses. Decoding ignores the others, and a field Google leaves out is nil;
/// encoding leaves out a nil field (a patch sends only what it changes).
extension GoogleCalendarAPI {
    /// One page of `events.list`: its events, and either the next page's
    /// token or the sync token for the next incremental sync.
    struct Page: Decodable {
        var items: [Event]?
        var nextPageToken: String?
        var nextSyncToken: String?
        /// The calendar's time zone (for all-day events).
        var timeZone: String?
    }

    /// An Event resource: read from `events.list`, written by `events.insert`
    /// and `events.patch`.
    struct Event: Codable {
        struct Person: Codable {
            var email: String?
        }

        struct Attendee: Codable {
            var email: String?
            /// "accepted", "declined", "tentative", "needsAction".
            var responseStatus: String?
            /// The calendar itself (a resource answering for itself).
            var isSelf: Bool?
            var resource: Bool?
            var organizer: Bool?

            enum CodingKeys: String, CodingKey {
                case email, responseStatus, isSelf = "self", resource, organizer
            }
        }

        /// `{"dateTime": …}` for a timed event, `{"date": …}` (and maybe
        /// its own `timeZone`) for an all-day one.
        struct Time: Codable {
            var dateTime: String?
            var date: String?
            var timeZone: String?
        }

        struct ExtendedProperties: Codable {
            /// Seen only by this calendar's copy of the event; always strings.
            var `private`: [String: String]?
        }

        var id: String?
        /// "confirmed", "tentative", "cancelled".
        var status: String?
        var summary: String?
        var description: String?
        var organizer: Person?
        var creator: Person?
        var attendees: [Attendee]?
        var extendedProperties: ExtendedProperties?
        var recurringEventId: String?
        var start: Time?
        var end: Time?
        var endTimeUnspecified: Bool?
    }

    /// The body of `freeBusy.query`.
    struct FreeBusyQuery: Encodable {
        struct Item: Encodable {
            var id: String
        }

        var timeMin: String
        var timeMax: String
        var timeZone: String
        var items: [Item]
    }

    /// The answer of `freeBusy.query`: per calendar ID, its busy time or why
    /// Google could not compute it.
    struct FreeBusyAnswer: Decodable {
        struct Calendar: Decodable {
            struct Problem: Decodable {
                /// e.g. "notFound".
                var reason: String?
            }

            struct Span: Decodable {
                var start: String?
                var end: String?
            }

            var errors: [Problem]?
            var busy: [Span]?
        }

        var calendars: [String: Calendar]?
    }

    /// An error body: the API's `{"error": {"message": …}}`.
    struct ErrorAnswer: Decodable {
        struct Detail: Decodable {
            var message: String?
        }

        var error: Detail?
    }
}

/// The token endpoint's error body (RFC 6749 §5.2), which the API also
/// sends for some refusals: `{"error": "invalid_grant", "error_description": …}`.
struct OAuthErrorAnswer: Decodable {
    var error: String?
    var errorDescription: String?

    enum CodingKeys: String, CodingKey {
        case error, errorDescription = "error_description"
    }
}
