/// What the sync needs from coordinator.yaml's `calendar.google` block and
/// `users`, plus the retry tuning tests shorten.
public struct CalendarSyncOptions: Sendable {
    /// What to do with an event in a given state: let it hold the board, or
    /// act as if it were not there.
    public enum Policy: String, Sendable, CaseIterable {
        case hold, ignore
    }

    public var serviceAccountKey: String
    public var apiURL: String
    public var tokenURL: String
    public var caFile: String?
    /// Seconds between two polls of each calendar (a freeBusy check, or an
    /// incremental sync).
    public var poll: Double
    /// Every calendar gets an incremental sync at least every `syncEvery`
    /// polls; in between, a freeBusy query (one for up to 50 calendars)
    /// decides which ones changed and get theirs at once. 1: every poll is
    /// an incremental sync, no freeBusy.
    public var syncEvery = 10
    /// How far ahead freeBusy looks, seconds from now (bookings further out
    /// come with the periodic sync).
    public var freeBusyHorizon: Double = 30 * 86400
    /// Board name → calendar ID.
    public var boards: [String: String]
    /// E-mail address (any case) → user name, from `users[].email`.
    public var users: [String: String]
    /// Events whose status is `tentative`.
    public var tentative: Policy = .hold
    /// Events the board's calendar itself declined (a resource calendar's
    /// answer as an attendee).
    public var declined: Policy = .ignore
    /// Whether attendees who accepted an event (and are in `users`) may use
    /// the board in its slot too, as guests of the organizer's reservation.
    public var attendees = false
    /// How long a calendar may stay unreadable before access to its board is
    /// refused (its last known reservations are kept, marked stale, until then).
    public var staleGrace: Double = 300
    /// First retry delay of one request (403, 429, 5xx, unreachable); doubles per retry.
    public var retryBase: Double = 1
    /// Retries of one request before the sync of that calendar fails.
    public var retries = 3
    /// The longest wait between two sync attempts of a failing calendar.
    public var maxBackoff: Double = 600

    public init(serviceAccountKey: String, apiURL: String, tokenURL: String, caFile: String?, poll: Double,
                boards: [String: String], users: [String: String]) {
        self.serviceAccountKey = serviceAccountKey
        self.apiURL = apiURL
        self.tokenURL = tokenURL
        self.caFile = caFile
        self.poll = poll
        self.boards = boards
        self.users = Dictionary(users.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { first, _ in first })
    }
}
