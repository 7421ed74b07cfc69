import CoordinatorCalendar
import Foundation
import ProvisionerTesting
import Testing

/// A calendar far bigger than a lab's: the paging of a full sync, and the
/// cost of an incremental one when nothing changed.
@Suite(.serialized)
struct CalendarScaleTests {
    typealias Row = CalendarSyncTests.Row

    /// 10,000 one-hour bookings, every other hour from two days ahead on,
    /// alternately alice's and bob's; some are instances of a weekly
    /// series, some written at a UTC offset.
    static func bookings(count: Int, from day: Int64) -> (events: [[String: Any]], rows: [Row]) {
        // Two formatters for 20,000 times (making one per time takes seconds).
        let formatters = [0, 330].map { minutes in
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime]
            formatter.timeZone = TimeZone(secondsFromGMT: minutes * 60)
            return formatter
        }
        func time(_ seconds: Int64, _ formatter: ISO8601DateFormatter) -> [String: Any] {
            ["dateTime": formatter.string(from: Date(timeIntervalSince1970: Double(seconds)))]
        }
        var events: [[String: Any]] = []
        var rows: [Row] = []
        for index in 0..<count {
            let start = day + Int64(index) * 7200
            let (email, user) = index % 2 == 0 ? ("alice@example.com", "alice") : ("bob@example.com", "bob")
            let id = String(format: "ev%05d", index)
            let formatter = formatters[index % 3 == 0 ? 1 : 0]
            var event: [String: Any] = ["id": id, "summary": "booking", "organizer": ["email": email], "creator": ["email": email],
                                        "start": time(start, formatter), "end": time(start + 3600, formatter)]
            if index % 7 == 3 {
                event["recurringEventId"] = "series\(index % 5)"
                event["originalStartTime"] = time(start, formatters[0])
            }
            events.append(event)
            rows.append(Row(id, user, start, start + 3600))
        }
        return (events, rows)
    }

    @Test func tenThousandEventsArePagedStoredAndThenCostOneRequest() async throws {
        let fake = try await FakeGoogle()
        let harness = try CalendarSyncTests.Harness(fake)
        let cal = CalendarSyncTests.calendar
        let (events, rows) = Self.bookings(count: 10_000, from: CalendarSyncTests.day)
        try fake.put(cal, events: events)

        #expect(harness.sync.syncAll().isEmpty, "\(harness.sync.status(board: "board1")?.lastError ?? "")")
        #expect(try harness.rows() == rows)
        // As Google pages: 250 a page (the maxResults asked for), a
        // nextPageToken on every page but the last, which has the sync token.
        let lists = try fake.requests().filter { $0.method == "GET" }
        #expect(lists.count == 40)
        #expect(lists.allSatisfy { $0.status == 200 && $0.query["maxResults"] == "250" && $0.query["syncToken"] == nil })
        #expect(lists.first?.query["pageToken"] == nil && lists.dropFirst().allSatisfy { $0.query["pageToken"] != nil })

        // Nothing changed: one request for the calendar, nothing written.
        let before = try fake.requests().count
        #expect(harness.sync.syncAll().isEmpty)
        let after = try fake.requests()
        #expect(after.count == before + 1)
        #expect(after.last?.query["syncToken"] != nil && after.last?.status == 200)
        // All of it over one connection kept open (no TCP and TLS handshake a request).
        #expect(Set(after.filter { $0.method == "GET" }.map(\.clientPort)).count == 1)
        #expect(try harness.rows() == rows)

        // One moved and one cancelled among the 10,000: still one request.
        var moved = events[5000]
        moved["end"] = ["dateTime": CalendarSyncTests.rfc3339(rows[5000].start + 1800, offsetMinutes: 0)]
        try fake.put(cal, moved)
        try fake.cancel(cal, id: rows[7777].event)
        #expect(harness.sync.syncAll().isEmpty)
        #expect(try fake.requests().count == before + 2)
        var expected = rows
        expected[5000] = Row(rows[5000].event, rows[5000].user, rows[5000].start, rows[5000].start + 1800)
        expected.remove(at: 7777)
        #expect(try harness.rows() == expected)
        try harness.expectNoSecrets(fake)
    }
}
