import CoordinatorCalendar
import Reservations
import Curl
import Foundation
import ProvisionerTesting
import Testing

/// The poll with freeBusy as its change detector, against the fake Google
/// over HTTPS: what an idle poll costs, how soon a booking comes in, and
/// what only the periodic incremental sync can see.
@Suite(.serialized)
struct CalendarFreeBusyTests {
    typealias Row = CalendarSyncTests.Row
    static let freeBusyPath = "/calendar/v3/freeBusy"

    static func calendar(_ board: String) -> String { "c_\(board)@resource.calendar.google.com" }

    /// A sync of `boards` (board → its calendar) into one store.
    static func harness(_ fake: FakeGoogle, boards: [String], syncEvery: Int) throws -> CalendarSyncTests.Harness {
        try CalendarSyncTests.Harness(fake) { options in
            options.boards = Dictionary(uniqueKeysWithValues: boards.map { ($0, calendar($0)) })
            options.syncEvery = syncEvery
        }
    }

    /// The requests one poll made.
    static func poll(_ harness: CalendarSyncTests.Harness, _ fake: FakeGoogle) throws
        -> [(method: String, path: String, query: [String: String], status: Int, clientPort: Int, calendars: Int?)] {
        let before = try fake.requests().count
        #expect(harness.sync.poll().isEmpty, "\(harness.logs.text.suffix(800))")
        return Array(try fake.requests().dropFirst(before))
    }

    static func holders(_ harness: CalendarSyncTests.Harness, _ board: String) throws -> [Row] {
        try harness.store.reservations(board: board, endingAfter: harness.now).map { Row($0.source ?? "-", $0.user, $0.start, $0.end) }
    }

    @Test func sixtyIdleCalendarsCostTwoFreeBusyRequestsAndTheirPeriodicSyncsAPoll() async throws {
        let fake = try await FakeGoogle()
        let boards = (0..<60).map { String(format: "board%02d", $0) }
        let harness = try Self.harness(fake, boards: boards, syncEvery: 10)
        let day = CalendarSyncTests.day
        for (index, board) in boards.enumerated() {
            let start = day + Int64(index) * 3600
            try fake.put(Self.calendar(board), CalendarSyncTests.timed("slot\(index)", "alice@example.com", start, start + 1800))
        }

        // The first poll: freeBusy (50 + 10 calendars) for a baseline, then every calendar's full sync.
        let first = try Self.poll(harness, fake)
        #expect(first.filter { $0.path == Self.freeBusyPath }.map(\.calendars) == [50, 10])
        let fullSyncs = first.filter { $0.method == "GET" }
        #expect(fullSyncs.count == 60 && fullSyncs.allSatisfy { $0.query["syncToken"] == nil && $0.status == 200 })

        // Ten idle polls: each is 2 freeBusy requests and 6 calendars' periodic syncs
        // (staggered), every calendar synced once in the ten: 8 requests for 60 calendars.
        var synced: [String] = []
        for index in 1...10 {
            let requests = try Self.poll(harness, fake)
            let checks = requests.filter { $0.path == Self.freeBusyPath }
            let lists = requests.filter { $0.method == "GET" }
            #expect(checks.map(\.calendars) == [50, 10] && checks.allSatisfy { $0.status == 200 }, "poll \(index)")
            #expect(lists.count == 6 && lists.allSatisfy { $0.query["syncToken"] != nil && $0.status == 200 }, "poll \(index): \(lists.map(\.path))")
            #expect(requests.count == 8, "poll \(index): \(Double(requests.count) / 60) requests per calendar")
            synced += lists.map(\.path)
        }
        #expect(Set(synced).count == 60 && synced.count == 60, "every calendar once in 10 polls")
        for (index, board) in boards.enumerated() {
            #expect(try Self.holders(harness, board).map(\.event) == ["slot\(index)"])
        }
        // All over the one connection the sync keeps open.
        #expect(Set(try fake.requests().filter { $0.path != "/token" }.map(\.clientPort)).count == 1)
        try harness.expectNoSecrets(fake)
    }

    @Test func aBookingMovingAndCancellationComeInTheSamePollThroughFreeBusy() async throws {
        let fake = try await FakeGoogle()
        let boards = ["board1", "board2", "board3"]
        // No periodic sync in this test: what comes in, freeBusy saw.
        let harness = try Self.harness(fake, boards: boards, syncEvery: 1000)
        let now = harness.now
        for board in boards {
            try fake.put(Self.calendar(board), CalendarSyncTests.timed("later_\(board)", "bob@example.com", now + 7200, now + 9000))
        }
        _ = try Self.poll(harness, fake)
        let idle = try Self.poll(harness, fake)
        #expect(idle.count == 1 && idle.first?.path == Self.freeBusyPath && idle.first?.calendars == 3,
                "\(idle.map { "\($0.method) \($0.path) \($0.query) \($0.status)" })")

        // Alice books board2 from a minute ago: hers at the next poll, with one events.list of board2's calendar.
        let cal = Self.calendar("board2")
        try fake.put(cal, CalendarSyncTests.timed("now1", "alice@example.com", now - 60, now + 3600))
        let booked = try Self.poll(harness, fake)
        #expect(booked.map(\.path) == [Self.freeBusyPath, "/calendar/v3/calendars/\(cal)/events"])
        #expect(try Self.holders(harness, "board2") == [Row("now1", "alice", now - 60, now + 3600), Row("later_board2", "bob", now + 7200, now + 9000)])

        // Shortened: the busy time changes, so does the reservation.
        try fake.put(cal, CalendarSyncTests.timed("now1", "alice@example.com", now - 60, now + 1800))
        #expect(try Self.poll(harness, fake).count == 2)
        #expect(try Self.holders(harness, "board2").first == Row("now1", "alice", now - 60, now + 1800))

        // Cancelled: her access ends at the next poll.
        try fake.cancel(cal, id: "now1")
        #expect(try Self.poll(harness, fake).count == 2)
        #expect(try Self.holders(harness, "board2").map(\.event) == ["later_board2"])
        #expect(try Self.poll(harness, fake).count == 1, "idle again")
        try harness.expectNoSecrets(fake)
    }

    @Test func whatFreeBusyCannotSeeComesWithThePeriodicSync() async throws {
        let fake = try await FakeGoogle()
        let boards = ["board1", "board2", "board3"]
        let harness = try Self.harness(fake, boards: boards, syncEvery: 4)
        let day = CalendarSyncTests.day
        let cal = Self.calendar("board1")
        for board in boards {
            try fake.put(Self.calendar(board), CalendarSyncTests.timed("slot_\(board)", "alice@example.com", day + 3600, day + 7200))
        }
        _ = try Self.poll(harness, fake)

        // The same slot, now bob's; and a transparent booking of bob's, which
        // blocks no time in Google's eyes but holds the board here.
        try fake.put(cal, CalendarSyncTests.timed("slot_board1", "bob@example.com", day + 3600, day + 7200))
        try fake.put(cal, CalendarSyncTests.timed("free1", "bob@example.com", day + 10800, day + 14400, extra: ["transparency": "transparent"]))
        let expected = [Row("slot_board1", "bob", day + 3600, day + 7200), Row("free1", "bob", day + 10800, day + 14400)]
        var polls = 0
        while try Self.holders(harness, "board1") != expected, polls < 4 {
            let requests = try Self.poll(harness, fake)
            polls += 1
            #expect(requests.first?.path == Self.freeBusyPath)
        }
        #expect(try Self.holders(harness, "board1") == expected, "seen within sync_every (4) polls")
        #expect(polls > 1, "freeBusy cannot tell: the busy time is the same")
        try harness.expectNoSecrets(fake)
    }

    @Test func freeBusyFailuresFallBackToIncrementalSyncsThenItIsUsedAgain() async throws {
        let fake = try await FakeGoogle()
        let boards = ["board1", "board2", "board3"]
        let harness = try Self.harness(fake, boards: boards, syncEvery: 1000)
        _ = try Self.poll(harness, fake)
        let now = harness.now

        // freeBusy answers 503 (its retries too): every calendar gets its incremental sync, so the booking comes in.
        try fake.fail("POST \(Self.freeBusyPath)", status: 503, count: 1000)
        try fake.put(Self.calendar("board3"), CalendarSyncTests.timed("now3", "bob@example.com", now - 60, now + 3600))
        let failing = try Self.poll(harness, fake)
        #expect(failing.filter { $0.path == Self.freeBusyPath }.map(\.status) == [503, 503, 503, 503], "one try and 3 retries")
        #expect(failing.filter { $0.method == "GET" }.count == 3)
        #expect(try Self.holders(harness, "board3").map(\.user) == ["bob"])
        #expect(harness.logs.text.contains("freeBusy failed: POST /freeBusy answered 503"))

        // Backing off: plain incremental syncs, freeBusy not tried.
        let backingOff = try Self.poll(harness, fake)
        #expect(backingOff.map(\.method) == ["GET", "GET", "GET"])

        // It answers again: after its back-off it is used again, and idle polls are one request.
        try fake.admin("clear-failures")
        var polls = 0
        while polls < 40, try !Self.poll(harness, fake).contains(where: { $0.path == Self.freeBusyPath && $0.status == 200 }) {
            polls += 1
            try await Task.sleep(for: .milliseconds(250))
        }
        #expect(harness.logs.text.contains("freeBusy answers again"))
        let idle = try Self.poll(harness, fake)
        #expect(idle.map(\.path) == [Self.freeBusyPath], "\(idle.map(\.path))")
        try harness.expectNoSecrets(fake)
    }

    /// The fake's freeBusy.query itself, asked over HTTPS as the API
    /// reference describes it: busy time merged, clipped to the window,
    /// transparent, cancelled and declined events left out, `errors` for an
    /// unknown calendar and past the 50th.
    @Test func theFakeAnswersFreeBusyAsGoogleDocumentsIt() async throws {
        let fake = try await FakeGoogle()
        let harness = try Self.harness(fake, boards: ["board1"], syncEvery: 10)
        let day = CalendarSyncTests.day, cal = Self.calendar("board1")
        let hour: Int64 = 3600
        try fake.put(cal, events: [
            CalendarSyncTests.timed("a", "alice@example.com", day + 8 * hour, day + 10 * hour),          // clipped at timeMin (9:00)
            CalendarSyncTests.timed("b", "alice@example.com", day + 10 * hour, day + 11 * hour, offsetMinutes: 120),
            CalendarSyncTests.timed("c", "bob@example.com", day + 10 * hour + 1800, day + 12 * hour),    // overlaps b: merged
            CalendarSyncTests.timed("d", "bob@example.com", day + 13 * hour, day + 14 * hour, extra: ["transparency": "transparent"]),
            CalendarSyncTests.timed("e", "bob@example.com", day + 15 * hour, day + 16 * hour, extra: ["status": "cancelled"]),
            CalendarSyncTests.timed("f", "bob@example.com", day + 17 * hour, day + 18 * hour,
                                    extra: ["attendees": [["email": cal, "self": true, "resource": true, "responseStatus": "declined"]]]),
            CalendarSyncTests.timed("g", "alice@example.com", day + 19 * hour, day + 30 * hour),         // clipped at timeMax (20:00)
        ])
        #expect(harness.sync.syncAll().isEmpty)  // a real access token to ask with
        let token = try #require(try fake.secrets().first { $0.hasPrefix("ya29.") })
        let others = (0..<50).map { "c_other\($0)@resource.calendar.google.com" }
        let body: [String: Any] = ["timeMin": CalendarSyncTests.rfc3339(day + 9 * hour, offsetMinutes: 0),
                                   "timeMax": CalendarSyncTests.rfc3339(day + 20 * hour, offsetMinutes: 0),
                                   "items": ([cal] + others).map { ["id": $0] }]
        var request = CurlRequest(url: fake.apiURL + "/freeBusy")
        request.method = "POST"
        request.caFile = fake.caFile
        request.headers = ["Authorization: Bearer \(token)", "Content-Type: application/json"]
        request.body = Array(try JSONSerialization.data(withJSONObject: body))
        let response = try request.perform()
        #expect(response.status == 200, "\(response.text)")
        let answer = try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
        #expect(answer["kind"] as? String == "calendar#freeBusy")
        let calendars = try #require(answer["calendars"] as? [String: [String: Any]])
        func time(_ seconds: Int64) -> String { CalendarSyncTests.rfc3339(seconds, offsetMinutes: 0) }
        let busy = calendars[cal]?["busy"] as? [[String: String]]
        #expect(busy == [["start": time(day + 9 * hour), "end": time(day + 12 * hour)],
                         ["start": time(day + 19 * hour), "end": time(day + 20 * hour)]], "\(String(describing: busy))")
        #expect(calendars[cal]?["errors"] == nil)
        func reason(_ id: String) -> String? { (calendars[id]?["errors"] as? [[String: String]])?.first?["reason"] }
        #expect(reason(others[0]) == "notFound")
        #expect(reason(others[49]) == "tooManyCalendarsRequested", "the 51st calendar of one query")

        // An empty window is refused, as Google does.
        var empty = request
        empty.body = Array(try JSONSerialization.data(withJSONObject: ["timeMin": time(day), "timeMax": time(day), "items": [["id": cal]]]))
        #expect(try empty.perform().status == 400)
    }
}
