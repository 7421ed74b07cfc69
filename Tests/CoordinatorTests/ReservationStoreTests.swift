import Reservations
import Foundation
import ProvisionerTesting
import Testing

struct ReservationStoreTests {
    @Test func overlapsAreRefusedByTheStoreItself() throws {
        let folder = try TemporaryDirectory(prefix: "reservation-store")
        let store = try ReservationStore(path: folder.path("store.sqlite"))
        let first = try store.reserve(board: "b1", user: "alice", start: 1000, end: 2000)
        #expect(first.user == "alice")
        #expect(throws: ReservationRefusal.conflict(first)) { try store.reserve(board: "b1", user: "bob", start: 1500, end: 2500) }
        // Back to back and on another board is fine.
        _ = try store.reserve(board: "b1", user: "bob", start: 2000, end: 3000)
        _ = try store.reserve(board: "b2", user: "bob", start: 1000, end: 2000)
        // A direct INSERT past the code path: the trigger aborts it.
        #expect(throws: SQLiteError.self) {
            try store.execute("INSERT INTO reservations (board, user, start, end) VALUES ('b1', 'eve', 1999, 2001)")
        }
        #expect(throws: SQLiteError.self) {
            try store.execute("UPDATE reservations SET end = 2500 WHERE user = 'alice' AND board = 'b1'")
        }
        #expect(try store.current(board: "b1", at: 1999)?.user == "alice")
        #expect(try store.current(board: "b1", at: 2000)?.user == "bob")
    }

    @Test func reservingAgainExtendsOnesOwn() throws {
        let folder = try TemporaryDirectory(prefix: "reservation-store")
        let store = try ReservationStore(path: folder.path("store.sqlite"))
        let first = try store.reserve(board: "b1", user: "alice", start: 1000, end: 2000)
        let extended = try store.reserve(board: "b1", user: "alice", start: 1500, end: 5000)
        #expect(extended.id == first.id && extended.start == 1000 && extended.end == 5000)
        try store.end(extended, at: 1600)
        #expect(try store.current(board: "b1", at: 1600) == nil)
        #expect(try store.current(board: "b1", at: 1599)?.user == "alice")
    }

    @Test func reservationsAndAuditSurviveReopening() throws {
        let folder = try TemporaryDirectory(prefix: "reservation-store")
        do {
            let store = try ReservationStore(path: folder.path("store.sqlite"))
            _ = try store.reserve(board: "b1", user: "alice", start: 1000, end: 2000)
            try store.audit(user: "alice", action: "reserve", board: "b1", detail: "until 2000", at: 1000)
        }
        let reopened = try ReservationStore(path: folder.path("store.sqlite"))
        #expect(try reopened.active(at: 1500).map(\.user) == ["alice"])
        #expect(try reopened.auditLog() == [AuditEntry(time: 1000, user: "alice", action: "reserve", board: "b1", detail: "until 2000")])
        #expect(throws: ReservationRefusal.self) { try reopened.reserve(board: "b1", user: "bob", start: 1200, end: 1300) }
    }
}
