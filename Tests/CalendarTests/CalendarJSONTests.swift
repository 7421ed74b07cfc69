@testable import CoordinatorCalendar
import Foundation
import ProvisionerTesting
import Testing

/// The typed Calendar API JSON: what Google may add is ignored, what it
/// leaves out is nil, numbers are checked before use, and the request
/// bodies keep Google's field names and nesting.
@Suite(.serialized)
struct CalendarJSONTests {
    static func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        try JSONDecoder().decode(type, from: Data(text.utf8))
    }

    /// `value` encoded as the API sends it, read back as a dictionary.
    static func sent(_ value: some Encodable) throws -> NSDictionary {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return try #require(try JSONSerialization.jsonObject(with: encoder.encode(value)) as? NSDictionary)
    }

    @Test func anEventsPageWithFieldsGoogleAddedReadsAsBefore() throws {
        let page = try Self.decode(GoogleCalendarAPI.Page.self, """
            {"kind": "calendar#events", "etag": "\\"p1\\"", "summary": "Board 1", "accessRole": "writer",
             "defaultReminders": [{"method": "popup", "minutes": 10}], "timeZone": "Europe/Paris", "nextSyncToken": "s1",
             "items": [
              {"kind": "calendar#event", "id": "e1", "status": "confirmed", "htmlLink": "https://x", "sequence": 99999999999999999999,
               "organizer": {"email": "Alice@Example.com", "displayName": "Alice", "self": false},
               "creator": {"email": "alice@example.com"},
               "start": {"dateTime": "2026-03-01T10:00:00+01:00", "timeZone": "Europe/Paris"},
               "end": {"dateTime": "2026-03-01T11:00:00+01:00"},
               "attendees": [
                 {"email": "board1@resource.calendar.google.com", "self": true, "resource": true, "responseStatus": "accepted"},
                 {"email": "Bob@Example.com", "responseStatus": "accepted", "comment": "hi", "additionalGuests": 0},
                 {"email": "carol@example.com", "responseStatus": "declined"},
                 {"email": "alice@example.com", "organizer": true, "responseStatus": "accepted"}],
               "extendedProperties": {"private": {"provisioner_user": "alice", "other": "x"}, "shared": {"k": "v"}},
               "conferenceData": {"entryPoints": [{"uri": "https://meet"}]}, "reminders": {"useDefault": true}},
              {"id": "e2", "status": "cancelled", "recurringEventId": "r1"},
              {"id": "e3", "status": "someNewStatus", "start": {"date": "2026-03-02"}, "end": {"date": "2026-03-02"}},
              {"summary": "no id"}]}
            """)
        #expect(page.timeZone == "Europe/Paris" && page.nextSyncToken == "s1" && page.nextPageToken == nil)
        let events = (page.items ?? []).compactMap { CalendarEvent($0, timeZone: page.timeZone) }
        #expect(events.map(\.id) == ["e1", "e2", "e3"], "an item without an ID is skipped")

        let first = events[0]
        #expect(first.status == .confirmed && first.start == 1_772_355_600 && first.end == 1_772_359_200)
        #expect(first.organizer == "alice@example.com" && first.creator == "alice@example.com")
        #expect(first.selfResponse == "accepted" && first.acceptedAttendees == ["bob@example.com"])
        #expect(first.provisionerUser == "alice" && first.recurringEventID == nil)

        let cancelled = events[1]
        #expect(cancelled.status == .cancelled && cancelled.start == nil && cancelled.end == nil)
        #expect(cancelled.organizer == nil && cancelled.acceptedAttendees.isEmpty && cancelled.recurringEventID == "r1")

        // An unknown status reads as confirmed; an all-day date is midnight in the calendar's zone, for a day.
        #expect(events[2].status == .confirmed && events[2].start == 1_772_406_000 && events[2].end == 1_772_492_400)
    }

    @Test func aFieldOfTheWrongTypeIsNamedNeverItsValue() throws {
        let error = try #require(throws: DecodingError.self) {
            try Self.decode(GoogleCalendarAPI.Page.self, #"{"items": [{"id": "e1"}, {"id": "e2", "start": {"dateTime": 17}}]}"#)
        }
        #expect(error.fieldProblem == "items[1].start.dateTime is not a string")
        let notObject = try #require(throws: DecodingError.self) { try Self.decode(GoogleCalendarAPI.Page.self, "[]") }
        #expect(notObject.fieldProblem == nil)
    }

    @Test func theBodiesSentKeepGooglesNamesAndNesting() throws {
        let event = GoogleCalendarAPI.Event(
            id: "prov1", summary: "alice (provisioner)", description: "Reserved.",
            extendedProperties: .init(private: ["provisioner_user": "alice"]),
            start: .init(dateTime: "2026-03-01T09:00:00Z"), end: .init(dateTime: "2026-03-01T10:00:00Z"))
        #expect(try Self.sent(event) == [
            "id": "prov1", "summary": "alice (provisioner)", "description": "Reserved.",
            "extendedProperties": ["private": ["provisioner_user": "alice"]],
            "start": ["dateTime": "2026-03-01T09:00:00Z"], "end": ["dateTime": "2026-03-01T10:00:00Z"],
        ] as NSDictionary)
        // A patch sends only what it changes: no nulls for the rest.
        #expect(try Self.sent(GoogleCalendarAPI.Event(status: "cancelled")) == ["status": "cancelled"] as NSDictionary)
        #expect(try Self.sent(GoogleCalendarAPI.Event(end: .init(dateTime: "2026-03-01T10:30:00Z")))
                == ["end": ["dateTime": "2026-03-01T10:30:00Z"]] as NSDictionary)

        let query = GoogleCalendarAPI.FreeBusyQuery(timeMin: "a", timeMax: "b", timeZone: "UTC", items: [.init(id: "c1"), .init(id: "c2")])
        #expect(try Self.sent(query) == ["timeMin": "a", "timeMax": "b", "timeZone": "UTC", "items": [["id": "c1"], ["id": "c2"]]] as NSDictionary)

        let claims = JSONWebToken.Claims(iss: "sa@x", scope: JSONWebToken.calendarScope, aud: "https://t/token", iat: 1_800_000_000, exp: 1_800_003_600)
        #expect(try Self.sent(claims) == ["iss": "sa@x", "scope": JSONWebToken.calendarScope, "aud": "https://t/token",
                                          "iat": 1_800_000_000, "exp": 1_800_003_600] as NSDictionary)
    }

    @Test func errorBodiesOfBothShapesGiveTheirReason() {
        func reason(_ text: String) -> String { GoogleCalendarAPI.reason(Array(text.utf8)) }
        #expect(reason(#"{"error": {"code": 403, "message": "Rate Limit Exceeded", "errors": [{"reason": "rateLimitExceeded"}]}}"#)
                == ": Rate Limit Exceeded")
        #expect(reason(#"{"error": "invalid_grant", "error_description": "Invalid JWT Signature."}"#) == ": invalid_grant")
        #expect(reason(#"{"error": {"code": 500}}"#) == "")
        #expect(reason("<html>Bad Gateway</html>") == "")
    }

    @Test func aTokenLifetimeIsCheckedBeforeUse() throws {
        #expect(try GoogleAuth.lifetime(nil, tokenURL: "t") == 3600)
        #expect(try GoogleAuth.lifetime(3599, tokenURL: "t") == 3599)
        #expect(try GoogleAuth.lifetime(1e300, tokenURL: "t") == GoogleAuth.longestLifetime)
        #expect(try GoogleAuth.lifetime(Double(Int64.max), tokenURL: "t") == GoogleAuth.longestLifetime)
        for hostile in [0, -5, -1e300] {
            let error = try #require(throws: CalendarError.self) { try GoogleAuth.lifetime(hostile, tokenURL: "t") }
            #expect(error.description.contains("already expired"))
        }
        let answer = try Self.decode(TokenAnswer.self, #"{"access_token": "ya29.x", "expires_in": 1e300, "token_type": "Bearer", "scope": "s"}"#)
        #expect(answer.accessToken == "ya29.x" && answer.expiresIn == 1e300)
    }

    @Test func aKeyFileNamesTheFieldAtFault() throws {
        func problem(_ text: String) -> String? {
            do {
                _ = try ServiceAccountKey(json: Data(text.utf8), path: "sa.json")
                return nil
            } catch {
                return error.description
            }
        }
        #expect(problem("[1]") == "service account key sa.json: not a JSON object")
        #expect(problem("not json") == "service account key sa.json: not a JSON object")
        #expect(problem(#"{"client_email": 5, "private_key": "k"}"#) == "service account key sa.json: client_email is not a string")
        #expect(problem(#"{"type": "service_account", "private_key": "k"}"#) == "service account key sa.json: no client_email")
        #expect(problem(#"{"client_email": "sa@x"}"#) == "service account key sa.json: no private_key")
    }

    // MARK: Against the fake Google

    @Test func aHostileTokenLifetimeNeitherTrapsNorKeepsAnExpiredToken() async throws {
        let fake = try await FakeGoogle()
        let harness = try CalendarSyncTests.Harness(fake)
        try fake.put(CalendarSyncTests.calendar, CalendarSyncTests.timed("a1", "alice@example.com", CalendarSyncTests.day + 3600,
                                                                         CalendarSyncTests.day + 7200))
        try fake.setTokenLifetime(1e300)
        #expect(harness.sync.syncAll().isEmpty)
        #expect(harness.logs.text.contains("valid 86400s"), "cut to a day")

        try fake.setTokenLifetime(-5)
        try fake.admin("expire-tokens")
        #expect(harness.sync.syncAll() == ["board1"])
        let error = try #require(harness.sync.status(board: "board1")?.lastError)
        #expect(error.contains("answered a token that has already expired"), "\(error)")

        try fake.setTokenLifetime("soon")
        #expect(harness.sync.syncAll() == ["board1"])
        #expect(harness.sync.status(board: "board1")?.lastError?.contains("a malformed token answer: expires_in is not a number") == true)
        try harness.expectNoSecrets(fake)
    }

    @Test func aMalformedAnswerIsOneLineNamingTheCall() async throws {
        let fake = try await FakeGoogle()
        let harness = try CalendarSyncTests.Harness(fake)
        try fake.answer("GET /calendar", body: "[]")
        #expect(harness.sync.syncAll() == ["board1"])
        let path = "/calendars/\(pathEncode(CalendarSyncTests.calendar))/events"
        #expect(harness.sync.status(board: "board1")?.lastError == "GET \(path): the answer is not a JSON object")

        try fake.answer("GET /calendar", body: #"{"items": [{"id": "e1", "status": 3}], "nextSyncToken": "s"}"#)
        #expect(harness.sync.syncAll() == ["board1"])
        #expect(harness.sync.status(board: "board1")?.lastError == "GET \(path): the answer's items[0].status is not a string")

        // Unknown fields in a real answer are no problem.
        try fake.put(CalendarSyncTests.calendar, CalendarSyncTests.timed(
            "a1", "alice@example.com", CalendarSyncTests.day + 3600, CalendarSyncTests.day + 7200,
            extra: ["colorId": "5", "hangoutLink": "https://meet", "attachments": [["fileUrl": "https://x", "size": 1e300]]]))
        #expect(harness.sync.syncAll().isEmpty)
        #expect(try harness.rows() == [.init("a1", "alice", CalendarSyncTests.day + 3600, CalendarSyncTests.day + 7200)])
    }

    /// A calendar answer cut short, or one of 50 MB: one line naming the
    /// call, no crash, the last known reservations kept. (A huge answer is
    /// not read past 16 MiB and counts as a failed request: it is asked
    /// again, and the next answer is a real one.)
    @Test(arguments: [false, true])
    func aTruncatedOrHugeAnswerKeepsTheLastKnownReservations(huge: Bool) async throws {
        let fake = try await FakeGoogle()
        let harness = try CalendarSyncTests.Harness(fake)
        try fake.put(CalendarSyncTests.calendar, CalendarSyncTests.timed(
            "a1", "alice@example.com", CalendarSyncTests.day + 3600, CalendarSyncTests.day + 7200))
        #expect(harness.sync.syncAll().isEmpty)
        let known = try harness.rows()
        #expect(known.count == 1)
        let path = "/calendars/\(pathEncode(CalendarSyncTests.calendar))/events"

        if huge {
            try fake.answer("GET /calendar", body: #"{"items": [], "pad": ""# + String(repeating: "x", count: 50 << 20) + #""}"#)
            _ = harness.sync.syncAll()
            #expect(harness.logs.text.contains("the answer is larger than 16 MiB; not read"), "\(harness.logs.text.suffix(1500))")
        } else {
            try fake.answer("GET /calendar", body: #"{"items": [{"id": "a1", "status": "confirm"#)
            #expect(harness.sync.syncAll() == ["board1"])
            let error = harness.sync.status(board: "board1")?.lastError ?? ""
            #expect(error.hasPrefix("GET \(path): ") && !error.contains("\n"), "\(error)")
        }
        #expect(try harness.rows() == known)
    }
}
