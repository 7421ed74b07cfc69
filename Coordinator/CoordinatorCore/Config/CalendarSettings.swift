import Foundation
import ProvisionerCore

/// The optional `calendar:` block (DESIGN.md "Configuration"): where the
/// Google Calendar sync (CoordinatorCalendar) reads each board's calendar.
public struct CalendarSettings: Sendable {
    public struct Google: Sendable {
        public var serviceAccountKey: String
        public var apiURL: String
        public var tokenURL: String
        /// A CA bundle for a test's fake Google over HTTPS.
        public var caFile: String?
        public var poll: Double
        /// Board name → calendar ID.
        public var boards: [String: String]
        /// `hold` or `ignore`: whether a tentative event reserves the board.
        public var tentative: String
        /// `hold` or `ignore`: whether an event the board's calendar declined reserves it.
        public var declined: String
        /// How long a calendar may be unreadable before access to its board is refused.
        public var staleGrace: Double
        /// Whether an event's attendees who accepted (and are in `users`) may
        /// use the board in its slot beside its organizer.
        public var attendees: Bool
        /// Every calendar's incremental sync comes at least every this many
        /// polls; between them freeBusy tells which calendars changed.
        public var syncEvery: Int
    }

    public var google: Google

    init(_ value: ConfigValue) throws(ConfigError) {
        let mapping = try value.mapping()
        let googleValue = try mapping.required("google")
        let section = try googleValue.mapping()
        let key = try section.required("service_account_key").filePath()
        let apiURL = try section.optional("api_url").map(Self.url) ?? "https://www.googleapis.com/calendar/v3"
        let tokenURL = try section.optional("token_url").map(Self.url) ?? "https://oauth2.googleapis.com/token"
        let caFile = try section.optional("ca_file")?.filePath()
        let poll = try section.optional("poll")?.duration() ?? 30
        if poll < 1, let pollValue = section.optional("poll") { throw pollValue.error("must be 1s or more") }
        let tentative = try section.optional("tentative")?.choice(["hold", "ignore"]) ?? "hold"
        let declined = try section.optional("declined")?.choice(["hold", "ignore"]) ?? "ignore"
        let staleGrace = try section.optional("stale_grace")?.duration() ?? 300
        if staleGrace > 86400, let value = section.optional("stale_grace") { throw value.error("must be 1d or less") }
        let attendees = try section.optional("attendees")?.bool() ?? false
        let syncEvery = try section.optional("sync_every")?.int(in: 1...1000) ?? 10
        var boards: [String: String] = [:]
        if let boardsValue = section.optional("boards") {
            let boardsMapping = try boardsValue.mapping()
            guard case .mapping(let pairs) = boardsValue.node else { throw boardsValue.error("expected a mapping") }
            for key in pairs.keys {
                guard let name = key.string else { continue }
                guard let calendar = boardsMapping.optional(name) else { continue }
                guard CoordinatorConfig.isValidName(name) else { throw calendar.error("'\(name)' is not a valid board name") }
                boards[name] = try calendar.word()
            }
            try boardsMapping.finish()
        }
        try section.finish()
        try mapping.finish()
        google = Google(serviceAccountKey: key, apiURL: apiURL, tokenURL: tokenURL, caFile: caFile, poll: poll, boards: boards,
                        tentative: tentative, declined: declined, staleGrace: staleGrace, attendees: attendees,
                        syncEvery: syncEvery)
    }

    static func url(_ value: ConfigValue) throws(ConfigError) -> String {
        let text = try value.word()
        guard let url = URL(string: text), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
            throw value.error("'\(text)' is not an http:// or https:// URL")
        }
        return text.hasSuffix("/") ? String(text.dropLast()) : text
    }
}
