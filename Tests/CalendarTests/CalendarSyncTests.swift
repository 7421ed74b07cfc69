import CoordinatorCalendar
import Reservations
import Foundation
import Logging
import ProvisionerTesting
import Synchronization
import Testing

/// The sync against the fake Google (FakeGoogle/fake_google.py) over HTTPS
/// with a test CA (one test over plain HTTP): each test starts its own fake.
@Suite(.serialized)
struct CalendarSyncTests {
    static let calendar = "c_board1@resource.calendar.google.com"

    /// A sync of one board calendar into a fresh store, logs captured.
    final class Harness: Sendable {
        let folder: TemporaryDirectory
        let store: ReservationStore
        let logs = LogCapture()
        let sync: CalendarSync
        /// Seconds added to the sync's clock.
        let shift = ClockShift()

        init(_ fake: FakeGoogle, keyFile: String? = nil, _ configure: (inout CalendarSyncOptions) -> Void = { _ in }) throws {
            folder = try TemporaryDirectory(prefix: "calendar-sync")
            store = try ReservationStore(path: folder.path("coordinator.sqlite"))
            var options = fake.options(boards: ["board1": CalendarSyncTests.calendar], keyFile: keyFile)
            configure(&options)
            let shift = self.shift
            sync = try CalendarSync(options: options, store: store, logger: logs.logger,
                                    clock: { Date().timeIntervalSince1970 + shift.seconds })
        }

        var now: Int64 { Int64(Date().timeIntervalSince1970 + shift.seconds) }

        /// The board's reservations not ended, as (event, user, start, end).
        func rows() throws -> [Row] {
            try store.reservations(board: "board1", endingAfter: now).map { Row($0.source ?? "-", $0.user, $0.start, $0.end) }
        }

        /// No key, access token or JWT in any log line.
        func expectNoSecrets(_ fake: FakeGoogle) throws {
            let text = logs.text
            let keyLines = fake.privateKeyPEM.split(separator: "\n").filter { !$0.hasPrefix("-----") }
            let secrets = try fake.secrets()
            #expect(!secrets.isEmpty || keyFileRefused)
            for secret in secrets + keyLines.map(String.init) where secret.count > 16 {
                #expect(!text.contains(secret), "a secret in the log")
            }
        }
        var keyFileRefused: Bool { logs.text.contains("Invalid JWT Signature") }
    }

    struct Row: Equatable, CustomStringConvertible {
        let event: String, user: String, start: Int64, end: Int64
        init(_ event: String, _ user: String, _ start: Int64, _ end: Int64) {
            self.event = event; self.user = user; self.start = start; self.end = end
        }
        var description: String { "\(event) \(user) \(start)-\(end)" }
    }

    /// RFC 3339 at a given UTC offset, as Google writes dateTime.
    static func rfc3339(_ seconds: Int64, offsetMinutes: Int) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        formatter.timeZone = TimeZone(secondsFromGMT: offsetMinutes * 60)
        return formatter.string(from: Date(timeIntervalSince1970: Double(seconds)))
    }

    static func timed(_ id: String, _ organizer: String, _ start: Int64, _ end: Int64, offsetMinutes: Int = 0,
                      extra: [String: Any] = [:]) -> [String: Any] {
        var event: [String: Any] = [
            "id": id, "summary": "booking", "organizer": ["email": organizer], "creator": ["email": organizer],
            "start": ["dateTime": rfc3339(start, offsetMinutes: offsetMinutes)],
            "end": ["dateTime": rfc3339(end, offsetMinutes: offsetMinutes)],
        ]
        event.merge(extra) { $1 }
        return event
    }

    /// Midnight UTC two days ahead: a day every test books into.
    static var day: Int64 { (Int64(Date().timeIntervalSince1970) / 86400 + 2) * 86400 }

    @Test func fullSyncFollowsPagesAndReadsEveryKindOfTime() async throws {
        let fake = try await FakeGoogle()
        let harness = try Harness(fake)
        try fake.admin("page-size", ["size": "2"])
        try fake.admin("timezone", ["cal": Self.calendar, "tz": "Europe/Berlin"])
        let day = Self.day
        let cal = Self.calendar
        try fake.put(cal, Self.timed("berlin1", "alice@example.com", day + 10 * 3600, day + 11 * 3600, offsetMinutes: 60))
        try fake.put(cal, Self.timed("newyork1", "BOB@example.com", day + 12 * 3600, day + 13 * 3600, offsetMinutes: -300))
        // A weekly booking, already expanded by Google (singleEvents=true).
        for week in 0..<2 {
            let start = day + Int64(1 + 7 * week) * 86400 + 8 * 3600
            try fake.put(cal, Self.timed("weekly_\(week)", "alice@example.com", start, start + 3600,
                                         extra: ["recurringEventId": "weekly", "originalStartTime": ["dateTime": Self.rfc3339(start, offsetMinutes: 0)]]))
        }
        // All day, in the calendar's zone: Berlin midnight to midnight.
        var utc = Calendar(identifier: .gregorian)
        utc.timeZone = TimeZone(identifier: "UTC")!
        let allDay = utc.dateComponents([.year, .month, .day], from: Date(timeIntervalSince1970: Double(day + 3 * 86400)))
        let allDayEnd = utc.dateComponents([.year, .month, .day], from: Date(timeIntervalSince1970: Double(day + 4 * 86400)))
        func dateText(_ c: DateComponents) -> String { String(format: "%04d-%02d-%02d", c.year!, c.month!, c.day!) }
        try fake.put(cal, ["id": "allday1", "organizer": ["email": "bob@example.com"],
                           "start": ["date": dateText(allDay)], "end": ["date": dateText(allDayEnd)]])
        var berlin = Calendar(identifier: .gregorian)
        berlin.timeZone = TimeZone(identifier: "Europe/Berlin")!
        let berlinStart = Int64(berlin.date(from: allDay)!.timeIntervalSince1970)
        let berlinEnd = Int64(berlin.date(from: allDayEnd)!.timeIntervalSince1970)
        // No end: an hour.
        try fake.put(cal, ["id": "noend1", "organizer": ["email": "alice@example.com"],
                           "start": ["dateTime": Self.rfc3339(day + 20 * 3600, offsetMinutes: 0)]])
        // Over, and cancelled: neither reserves.
        try fake.put(cal, Self.timed("past1", "alice@example.com", day - 3 * 86400, day - 3 * 86400 + 3600))
        try fake.put(cal, Self.timed("gone1", "alice@example.com", day + 30 * 3600, day + 31 * 3600, extra: ["status": "cancelled"]))

        #expect(harness.sync.syncAll().isEmpty)
        let expected = [
            Row("berlin1", "alice", day + 10 * 3600, day + 11 * 3600),
            Row("newyork1", "bob", day + 12 * 3600, day + 13 * 3600),
            Row("noend1", "alice", day + 20 * 3600, day + 21 * 3600),
            Row("weekly_0", "alice", day + 86400 + 8 * 3600, day + 86400 + 9 * 3600),
            Row("allday1", "bob", berlinStart, berlinEnd),
            Row("weekly_1", "alice", day + 8 * 86400 + 8 * 3600, day + 8 * 86400 + 9 * 3600),
        ]
        #expect(try harness.rows() == expected)
        #expect(berlinStart == day + 3 * 86400 - 3600 || berlinStart == day + 3 * 86400 - 7200)
        let lists = try fake.requests().filter { $0.method == "GET" }
        #expect(lists.count == 4, "7 events, 2 a page")
        #expect(lists.first?.query["pageToken"] == nil && lists.dropFirst().allSatisfy { $0.query["pageToken"] != nil })
        #expect(lists.allSatisfy { $0.query["singleEvents"] == "true" && $0.query["showDeleted"] == "true" && $0.query["syncToken"] == nil })
        try harness.expectNoSecrets(fake)
    }

    @Test func incrementalSyncMovesCancelsAndAdds() async throws {
        let fake = try await FakeGoogle()
        let harness = try Harness(fake)
        let day = Self.day, cal = Self.calendar
        try fake.put(cal, Self.timed("a1", "alice@example.com", day + 3600, day + 7200))
        try fake.put(cal, Self.timed("b1", "bob@example.com", day + 7200, day + 10800))
        #expect(harness.sync.syncAll().isEmpty)
        #expect(try harness.rows().count == 2)

        try fake.put(cal, Self.timed("a1", "alice@example.com", day + 5 * 3600, day + 6 * 3600, offsetMinutes: 120))  // moved
        try fake.admin("cancel", ["cal": cal, "id": "b1"])
        try fake.put(cal, Self.timed("b2", "bob@example.com", day + 86400, day + 86400 + 1800))
        #expect(harness.sync.syncAll().isEmpty)
        #expect(try harness.rows() == [Row("a1", "alice", day + 5 * 3600, day + 6 * 3600), Row("b2", "bob", day + 86400, day + 86400 + 1800)])
        let last = try #require(try fake.requests().last)
        #expect(last.query["syncToken"] != nil, "the second sync is incremental")
        #expect(harness.logs.text.contains("event b1 cancelled"))

        // Nothing changed: one request per calendar per poll.
        let before = try fake.requests().count
        #expect(harness.sync.syncAll().isEmpty)
        #expect(try fake.requests().count == before + 1)
        try harness.expectNoSecrets(fake)
    }

    @Test func goneSyncTokenStartsAFullSync() async throws {
        let fake = try await FakeGoogle()
        let harness = try Harness(fake)
        let day = Self.day, cal = Self.calendar
        try fake.put(cal, Self.timed("a1", "alice@example.com", day + 3600, day + 7200))
        #expect(harness.sync.syncAll().isEmpty)
        try fake.admin("expire-sync-tokens", ["cal": cal])
        try fake.put(cal, Self.timed("b1", "bob@example.com", day + 7200, day + 10800))
        #expect(harness.sync.syncAll().isEmpty)
        let requests = try fake.requests()
        let gone = try #require(requests.lastIndex { $0.status == 410 })
        #expect(requests[gone].query["syncToken"] != nil)
        #expect(requests[(gone + 1)...].first?.query["syncToken"] == nil, "a full sync follows the 410")
        #expect(try harness.rows().map(\.event) == ["a1", "b1"])
        try harness.expectNoSecrets(fake)
    }

    @Test func unauthorizedRenewsTheTokenOnce() async throws {
        let fake = try await FakeGoogle()
        let harness = try Harness(fake)
        try fake.put(Self.calendar, Self.timed("a1", "alice@example.com", Self.day + 3600, Self.day + 7200))
        #expect(harness.sync.syncAll().isEmpty)
        #expect(harness.sync.syncAll().isEmpty)
        func tokenRequests() throws -> Int { try fake.requests().filter { $0.path == "/token" }.count }
        #expect(try tokenRequests() == 1, "the token is kept")

        try fake.admin("expire-tokens")
        #expect(harness.sync.syncAll().isEmpty)
        #expect(try tokenRequests() == 2)
        #expect(try fake.requests().contains { $0.status == 401 })

        // A 401 right after renewing is not retried again.
        try fake.fail("GET /calendar", status: 401, count: 2)
        #expect(harness.sync.syncAll() == ["board1"])
        #expect(try tokenRequests() == 3)
        #expect(harness.sync.status(board: "board1")?.lastError?.contains("401") == true)
        try harness.expectNoSecrets(fake)
    }

    @Test func rateLimitsAndServerErrorsBackOffThenSucceed() async throws {
        let fake = try await FakeGoogle()
        let harness = try Harness(fake)
        try fake.put(Self.calendar, Self.timed("a1", "alice@example.com", Self.day + 3600, Self.day + 7200))
        try fake.fail("GET /calendar", status: 429, count: 2)
        try fake.fail("GET /calendar", status: 503, count: 1)
        let started = Date()
        #expect(harness.sync.syncAll().isEmpty)
        let waited = Date().timeIntervalSince(started)
        let statuses = try fake.requests().filter { $0.method == "GET" }.map(\.status)
        #expect(statuses == [429, 429, 503, 200])
        // Backoff base 0.02 s doubling with jitter 0.5–1.5: at least 0.01 + 0.02 + 0.04.
        #expect(waited >= 0.07)
        #expect(harness.logs.text.contains("answered 429") && harness.logs.text.contains("retrying in"))
        #expect(try harness.rows().map(\.user) == ["alice"])
        // More failures than retries: the sync fails, and the next attempt is spaced out.
        try fake.fail("GET /calendar", status: 500, count: 10)
        #expect(harness.sync.syncAll() == ["board1"])
        try harness.expectNoSecrets(fake)
    }

    @Test func unknownOrganizersHoldTheirSlotAndPoliciesApply() async throws {
        let fake = try await FakeGoogle(https: false)  // plain http:// is allowed for tests
        let harness = try Harness(fake) { $0.tentative = .ignore }
        let day = Self.day, cal = Self.calendar
        try fake.put(cal, Self.timed("carol1", "Carol@Elsewhere.com", day + 3600, day + 7200))
        try fake.put(cal, Self.timed("tent1", "alice@example.com", day + 7200, day + 10800, extra: ["status": "tentative"]))
        try fake.put(cal, Self.timed("decl1", "bob@example.com", day + 10800, day + 14400,
                                     extra: ["attendees": [["email": cal, "self": true, "resource": true, "responseStatus": "declined"]]]))
        // Made on the resource calendar itself: the organizer is the calendar, the creator a person.
        try fake.put(cal, Self.timed("direct1", cal, day + 14400, day + 18000, extra: ["creator": ["email": "bob@example.com"]]))
        #expect(harness.sync.syncAll().isEmpty)
        #expect(try harness.rows() == [Row("carol1", "carol@elsewhere.com", day + 3600, day + 7200),
                                       Row("direct1", "bob", day + 14400, day + 18000)])
        #expect(harness.logs.text.contains("by carol@elsewhere.com, who is not in users"))
        try harness.expectNoSecrets(fake)
    }

    @Test func reserveWritesAnEventAndReleasePatchesIt() async throws {
        let fake = try await FakeGoogle()
        let harness = try Harness(fake)
        let now = harness.now
        try fake.put(Self.calendar, Self.timed("b1", "bob@example.com", now + 7200, now + 10800))

        let reservation = try harness.sync.reserve(board: "board1", user: "alice", start: now - 60, end: now + 3600)
        let id = try #require(reservation.source)
        var event = try #require(try fake.events(Self.calendar).first { $0["id"] as? String == id })
        #expect((event["start"] as? [String: Any])?["dateTime"] as? String == Self.rfc3339(now - 60, offsetMinutes: 0))
        #expect(((event["extendedProperties"] as? [String: Any])?["private"] as? [String: Any])?["provisioner_user"] as? String == "alice")
        #expect((event["organizer"] as? [String: Any])?["email"] as? String == FakeGoogle.serviceEmail)
        #expect(try harness.store.current(board: "board1", at: now)?.user == "alice")

        // Bob's slot is taken; so is alice's for bob.
        let refusal = #expect(throws: CalendarReservationError.self) {
            try harness.sync.reserve(board: "board1", user: "alice", start: now + 3600, end: now + 9000)
        }
        if case .conflict(let holder)? = refusal { #expect(holder.user == "bob") } else { Issue.record("not a conflict: \(String(describing: refusal))") }
        #expect(throws: CalendarReservationError.self) { try harness.sync.reserve(board: "board1", user: "bob", start: now, end: now + 600) }

        // The event read back is alice's (written by the service account for her), unchanged.
        #expect(harness.sync.syncAll().isEmpty)
        #expect(try harness.store.current(board: "board1", at: now)?.source == id)

        // Reserving again moves the end of her own event.
        let extended = try harness.sync.reserve(board: "board1", user: "alice", start: now, end: now + 5400)
        #expect(extended.source == id && extended.end == now + 5400)
        event = try #require(try fake.events(Self.calendar).first { $0["id"] as? String == id })
        #expect((event["end"] as? [String: Any])?["dateTime"] as? String == Self.rfc3339(now + 5400, offsetMinutes: 0))

        try harness.sync.release(extended, at: now)
        event = try #require(try fake.events(Self.calendar).first { $0["id"] as? String == id })
        #expect((event["end"] as? [String: Any])?["dateTime"] as? String == Self.rfc3339(now, offsetMinutes: 0))
        #expect(try harness.store.current(board: "board1", at: now) == nil)
        #expect(try fake.requests().filter { $0.method == "PATCH" }.count == 2)
        #expect(harness.sync.syncAll().isEmpty)
        #expect(try harness.rows().map(\.event) == ["b1"])
        try harness.expectNoSecrets(fake)
    }

    @Test func anUnreadableCalendarGoesStaleThenRefusesAccess() async throws {
        let fake = try await FakeGoogle()
        let harness = try Harness(fake) { $0.staleGrace = 120 }
        let now = harness.now
        try fake.put(Self.calendar, Self.timed("a1", "alice@example.com", now - 600, now + 3600))
        #expect(harness.sync.syncAll().isEmpty)
        #expect(harness.sync.status(board: "board1")?.stale == false)

        try fake.fail("GET /calendar", status: 500, count: 1000)
        #expect(harness.sync.syncAll() == ["board1"])
        #expect(harness.sync.status(board: "board1")?.stale == true)
        #expect(harness.sync.accessProblem(board: "board1") == nil, "within the grace")
        #expect(try harness.store.current(board: "board1", at: now)?.user == "alice", "the last known reservation is kept")
        #expect(throws: CalendarReservationError.self) { try harness.sync.reserve(board: "board1", user: "bob", start: now + 7200, end: now + 9000) }

        harness.shift.seconds = 121
        let problem = try #require(harness.sync.accessProblem(board: "board1"))
        #expect(problem.contains("cannot be read since") && problem.contains("access refused"))

        try fake.admin("clear-failures")
        #expect(harness.sync.syncAll().isEmpty)
        #expect(harness.sync.status(board: "board1")?.stale == false && harness.sync.accessProblem(board: "board1") == nil)

        try harness.expectNoSecrets(fake)
        // The fake gone altogether: a connection refused is unreadable too.
        _ = await fake.process.terminate()
        #expect(harness.sync.syncAll() == ["board1"])
        #expect(harness.sync.status(board: "board1")?.lastError?.contains("cannot be reached") == true)
        try? harness.expectNoSecretsInText(fake)
    }

    @Test func aJWTSignedWithAnotherKeyIsRefused() async throws {
        let fake = try await FakeGoogle()
        try await FakeGoogle.openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", fake.folder.path("other.pem")])
        let pem = try String(contentsOfFile: fake.folder.path("other.pem"), encoding: .utf8)
        let key = try fake.folder.createFile("other.json", contents: JSONSerialization.data(withJSONObject: [
            "client_email": FakeGoogle.serviceEmail, "private_key": pem, "token_uri": fake.tokenURL]))
        let harness = try Harness(fake, keyFile: key)
        #expect(harness.sync.syncAll() == ["board1"])
        #expect(harness.sync.status(board: "board1")?.lastError?.contains("Invalid JWT Signature") == true)
        #expect(try fake.requests().allSatisfy { $0.path == "/token" }, "no API call without a token")
        #expect(!harness.logs.text.contains(pem.split(separator: "\n")[1]))
    }
}

extension CalendarSyncTests.Harness {
    /// As `expectNoSecrets`, for a fake that has stopped: the secrets it saw
    /// were read before; here only the key is checked.
    func expectNoSecretsInText(_ fake: FakeGoogle) throws {
        for line in fake.privateKeyPEM.split(separator: "\n") where !line.hasPrefix("-----") {
            #expect(!logs.text.contains(line))
        }
    }
}

/// A settable offset for a test's clock.
final class ClockShift: Sendable {
    private let value = Mutex<Double>(0)
    var seconds: Double {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}
