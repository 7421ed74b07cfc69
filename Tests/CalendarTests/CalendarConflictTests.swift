import CoordinatorCalendar
import Foundation
import ProvisionerTesting
import Testing

/// Events that overlap: two swapping slots in one sync, and a real double
/// booking (the first event keeps the board, the other is left out).
@Suite(.serialized)
struct CalendarConflictTests {
    typealias Row = CalendarSyncTests.Row

    @Test func eventsSwappingSlotsInOneSyncBothLandAndADoubleBookingIsLeftOut() async throws {
        let fake = try await FakeGoogle(https: false)
        let harness = try CalendarSyncTests.Harness(fake)
        let day = CalendarSyncTests.day, cal = CalendarSyncTests.calendar
        try fake.put(cal, CalendarSyncTests.timed("a1", "alice@example.com", day + 3600, day + 7200))
        try fake.put(cal, CalendarSyncTests.timed("b1", "bob@example.com", day + 7200, day + 10800))
        #expect(harness.sync.syncAll().isEmpty)

        // Alice's moves into bob's slot before bob's moves out (in the same sync).
        try fake.put(cal, CalendarSyncTests.timed("a1", "alice@example.com", day + 7200, day + 10800))
        try fake.put(cal, CalendarSyncTests.timed("b1", "bob@example.com", day + 3600, day + 7200))
        #expect(harness.sync.syncAll().isEmpty)
        #expect(try harness.rows() == [Row("b1", "bob", day + 3600, day + 7200), Row("a1", "alice", day + 7200, day + 10800)])

        // Bob double-books alice's slot: hers stays, his is left out and logged.
        try fake.put(cal, CalendarSyncTests.timed("b2", "bob@example.com", day + 9000, day + 12000))
        #expect(harness.sync.syncAll().isEmpty)
        #expect(try harness.rows().map(\.event) == ["b1", "a1"])
        #expect(harness.logs.text.contains("event b2 (bob"), "\(harness.logs.text)")
        #expect(harness.logs.text.contains("overlaps event a1 of alice: left out"))
    }
}
