import CoordinatorCore
import Reservations
import ProvisionerCore
import Foundation
import ProvisionerTesting
import Testing

/// The store's calendar side, and the `calendar` block's new keys.
struct CalendarStoreTests {
    @Test func anOlderDatabaseGainsTheSourceColumnAndKeepsItsRows() throws {
        let folder = try TemporaryDirectory(prefix: "calendar-store")
        let path = folder.path("coordinator.sqlite")
        do {
            // The schema before calendar sync: no `source` column.
            let old = try SQLiteDatabase(path: path)
            try old.execute("""
                CREATE TABLE reservations (id INTEGER PRIMARY KEY, board TEXT NOT NULL, user TEXT NOT NULL,
                                           start INTEGER NOT NULL, end INTEGER NOT NULL, CHECK (end > start));
                INSERT INTO reservations (board, user, start, end) VALUES ('board1', 'bob', 1000, 2000);
                INSERT INTO reservations (board, user, start, end) VALUES ('board1', 'bob', 5000, 6000);
                """)
        }
        let store = try ReservationStore(path: path)
        #expect(try store.reservations(board: "board1", endingAfter: 0).map(\.source) == [nil, nil])
        _ = try ReservationStore(path: path)  // migrating again changes nothing

        // The calendar wins over a local reservation it overlaps.
        let applied = try store.applyCalendarEvent(board: "board1", source: "ev1", user: "alice", start: 1500, end: 3000)
        #expect(applied.changed && applied.displaced.map(\.start) == [1000])
        #expect(try !store.applyCalendarEvent(board: "board1", source: "ev1", user: "alice", start: 1500, end: 3000).changed)
        // Two events in one slot: the second is refused, the first stays.
        #expect(throws: ReservationRefusal.conflict(applied.reservation)) {
            try store.applyCalendarEvent(board: "board1", source: "ev2", user: "bob", start: 2500, end: 3500)
        }
        // A moved event keeps its row.
        let moved = try store.applyCalendarEvent(board: "board1", source: "ev1", user: "alice", start: 7000, end: 8000)
        #expect(moved.reservation.id == applied.reservation.id && moved.changed)
        #expect(try store.removeCalendarEvent(board: "board1", source: "ev1")?.start == 7000)
        #expect(try store.reservations(board: "board1", endingAfter: 0).map(\.start) == [5000])

        // Guests (accepted attendees) are kept, compared and changed like the rest.
        let shared = try store.applyCalendarEvent(board: "board1", source: "ev3", user: "alice", start: 9000, end: 9500, guests: ["bob", "carol"])
        #expect(shared.changed && shared.reservation.allows("bob") && shared.reservation.allows("alice") && !shared.reservation.allows("dave"))
        #expect(try !store.applyCalendarEvent(board: "board1", source: "ev3", user: "alice", start: 9000, end: 9500, guests: ["bob", "carol"]).changed)
        #expect(try store.current(board: "board1", at: 9100)?.guests == ["bob", "carol"])
        #expect(try store.applyCalendarEvent(board: "board1", source: "ev3", user: "alice", start: 9000, end: 9500).changed)
        #expect(try store.current(board: "board1", at: 9100)?.guests == [])
    }

    @Test func theCalendarBlockKnowsItsPolicies() throws {
        func config(_ extra: String) throws -> CoordinatorConfig {
            try CoordinatorConfig(text: """
                coordinator: { data_dir: /tmp/x }
                calendar:
                  google:
                    service_account_key: /etc/provisioner/google-sa.json
                \(extra)
                """, file: "test.yaml")
        }
        let defaults = try #require(try config("").calendar?.google)
        #expect(defaults.tentative == "hold" && defaults.declined == "ignore" && defaults.staleGrace == 300 && !defaults.attendees
                && defaults.syncEvery == 10)
        let set = try #require(try config("    tentative: ignore\n    declined: hold\n    stale_grace: 2m\n    attendees: true\n    sync_every: 1")
            .calendar?.google)
        #expect(set.tentative == "ignore" && set.declined == "hold" && set.staleGrace == 120 && set.attendees && set.syncEvery == 1)
        let never = #expect(throws: ConfigError.self) { try config("    sync_every: 0") }
        #expect(never?.description.contains("sync_every") == true || never?.description.contains("out of range") == true,
                "\(String(describing: never))")
        #expect(throws: ConfigError.self) { try config("    attendees: accepted") }
        let refusal = #expect(throws: ConfigError.self) { try config("    tentative: maybe") }
        #expect(refusal?.description.contains("tentative") == true, "\(String(describing: refusal))")
        #expect(throws: ConfigError.self) { try config("    stale_grace: 2d") }
    }
}
