import CoordinatorCalendar
import Foundation
import ProvisionerTesting
import Testing

/// `calendar.google.attendees`: who besides the organizer may use a board
/// in an event's slot.
@Suite(.serialized)
struct CalendarAttendeesTests {
    static let calendar = CalendarSyncTests.calendar

    /// Alice's booking with the board itself, bob (accepted), carol
    /// (declined), dave (accepted, not in users) and erin (no answer yet).
    static func meeting(_ id: String, start: Int64, end: Int64, bob: String = "accepted") -> [String: Any] {
        CalendarSyncTests.timed(id, "alice@example.com", start, end, extra: ["attendees": [
            ["email": "alice@example.com", "organizer": true, "responseStatus": "accepted"],
            ["email": calendar, "self": true, "resource": true, "responseStatus": "accepted"],
            ["email": "Bob@Example.com", "responseStatus": bob],
            ["email": "carol@example.com", "responseStatus": "declined"],
            ["email": "dave@elsewhere.com", "responseStatus": "accepted"],
            ["email": "erin@example.com", "responseStatus": "needsAction"],
        ]])
    }

    static let users = ["alice@example.com": "alice", "bob@example.com": "bob", "carol@example.com": "carol",
                        "erin@example.com": "erin"]

    @Test func acceptedAttendeesWhoAreUsersMayUseTheBoardWhenConfigured() async throws {
        let fake = try await FakeGoogle()
        let harness = try CalendarSyncTests.Harness(fake) { $0.users = Self.users; $0.attendees = true }
        let now = harness.now
        try fake.put(Self.calendar, Self.meeting("m1", start: now - 60, end: now + 3600))
        #expect(harness.sync.syncAll().isEmpty)
        let current = try #require(try harness.store.current(board: "board1", at: now))
        #expect(current.user == "alice" && current.guests == ["bob"])
        #expect(current.allows("alice") && current.allows("bob"))
        #expect(!current.allows("carol") && !current.allows("erin") && !current.allows("dave@elsewhere.com"))
        #expect(harness.logs.text.contains("alice with bob holds it"))

        // Bob declines after all: only alice from the next sync on.
        try fake.put(Self.calendar, Self.meeting("m1", start: now - 60, end: now + 3600, bob: "declined"))
        #expect(harness.sync.syncAll().isEmpty)
        #expect(try harness.store.current(board: "board1", at: now)?.guests == [])
        try harness.expectNoSecrets(fake)
    }

    @Test func attendeesAreIgnoredByDefault() async throws {
        let fake = try await FakeGoogle(https: false)
        let harness = try CalendarSyncTests.Harness(fake) { $0.users = Self.users }
        let now = harness.now
        try fake.put(Self.calendar, Self.meeting("m1", start: now - 60, end: now + 3600))
        #expect(harness.sync.syncAll().isEmpty)
        let current = try #require(try harness.store.current(board: "board1", at: now))
        #expect(current.user == "alice" && current.guests.isEmpty && !current.allows("bob"))
    }
}
