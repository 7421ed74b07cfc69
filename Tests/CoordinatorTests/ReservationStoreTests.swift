import Foundation
import Logging
import PostgresStore
import ProvisionerTesting
import Reservations
import Synchronization
import SystemSupport
import Wire
import Testing

/// Where a store test runs: a SQLite file of its own, or a database of its
/// own on one PostgreSQL server the suite starts (issue 17: the store's
/// whole suite runs against both engines).
enum Engine: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite
    case postgresql

    var testDescription: String { rawValue }

    static var available: [Engine] { PostgresServer.isAvailable ? allCases : [.sqlite] }

    /// A place for one test's store; `open()` gives a new engine on it each
    /// call (a reopened file, another connection pool on the same database).
    func place() async throws -> StorePlace {
        switch self {
        case .sqlite:
            let folder = try TemporaryDirectory(prefix: "store")
            return StorePlace(open: { try SQLiteEngine(path: folder.path("store.sqlite")) }, keep: folder)
        case .postgresql:
            let server = try await SharedPostgres.server()
            let url = try await server.createDatabase("t\(UInt32.random(in: 0...UInt32.max))")
            return StorePlace(open: { try PostgresEngine(url: url, maxConnections: 4) }, keep: server)
        }
    }
}

struct StorePlace: Sendable {
    let open: @Sendable () throws -> any StoreEngine
    let keep: any Sendable
}

/// One PostgreSQL server for every store test of the process, stopped when
/// the process exits.
enum SharedPostgres {
    static let started = Mutex<Task<PostgresServer, any Error>?>(nil)

    static func server() async throws -> PostgresServer {
        let task = started.withLock { task in
            if task == nil {
                task = Task {
                    let server = try await PostgresServer()
                    server.stopAtExit()
                    return server
                }
            }
            return task!
        }
        return try await task.value
    }
}

@Suite(.serialized)
struct ReservationStoreTests {
    @Test(arguments: Engine.available)
    func overlapsAreRefusedByTheStoreItself(_ engine: Engine) async throws {
        let place = try await engine.place()
        let store = try ReservationStore(engine: try place.open())
        let first = try store.reserve(board: "b1", user: "alice", start: 1000, end: 2000)
        #expect(first.user == "alice")
        #expect(throws: ReservationRefusal.conflict(first)) { try store.reserve(board: "b1", user: "bob", start: 1500, end: 2500) }
        // Back to back and on another board is fine.
        _ = try store.reserve(board: "b1", user: "bob", start: 2000, end: 3000)
        _ = try store.reserve(board: "b2", user: "bob", start: 1000, end: 2000)
        // A direct INSERT or UPDATE past the code path: the database refuses it.
        do {
            try store.execute(#"INSERT INTO reservations (board, "user", start, "end") VALUES ('b1', 'eve', 1999, 2001)"#)
            Issue.record("an overlapping INSERT stood")
        } catch let error as StoreError {
            #expect(error.kind == .constraint, "\(error)")
        }
        do {
            try store.execute(#"UPDATE reservations SET "end" = 2500 WHERE "user" = 'alice' AND board = 'b1'"#)
            Issue.record("an overlapping UPDATE stood")
        } catch let error as StoreError {
            #expect(error.kind == .constraint, "\(error)")
        }
        #expect(try store.current(board: "b1", at: 1999)?.user == "alice")
        #expect(try store.current(board: "b1", at: 2000)?.user == "bob")
        #expect(try store.currentByBoard(at: 1500).mapValues(\.user) == ["b1": "alice", "b2": "bob"])
    }

    @Test(arguments: Engine.available)
    func reservingAgainExtendsOnesOwn(_ engine: Engine) async throws {
        let place = try await engine.place()
        let store = try ReservationStore(engine: try place.open())
        let first = try store.reserve(board: "b1", user: "alice", start: 1000, end: 2000)
        let extended = try store.reserve(board: "b1", user: "alice", start: 1500, end: 5000)
        #expect(extended.id == first.id && extended.start == 1000 && extended.end == 5000)
        try store.end(extended, at: 1600)
        #expect(try store.current(board: "b1", at: 1600) == nil)
        #expect(try store.current(board: "b1", at: 1599)?.user == "alice")
        #expect(throws: ReservationRefusal.emptyPeriod) { try store.reserve(board: "b1", user: "alice", start: 10, end: 10) }
    }

    @Test(arguments: Engine.available)
    func reservationsAndAuditSurviveReopening(_ engine: Engine) async throws {
        let place = try await engine.place()
        do {
            let store = try ReservationStore(engine: try place.open())
            _ = try store.reserve(board: "b1", user: "alice", start: 1000, end: 2000)
            try store.audit(user: "alice", action: "reserve", board: "b1", detail: "until 2000", at: 1000)
            try store.audit(user: "bob", action: "power", board: nil, at: 1001)
        }
        let reopened = try ReservationStore(engine: try place.open())
        #expect(try reopened.active(at: 1500).map(\.user) == ["alice"])
        #expect(try reopened.auditLog() == [AuditEntry(time: 1000, user: "alice", action: "reserve", board: "b1", detail: "until 2000"),
                                            AuditEntry(time: 1001, user: "bob", action: "power", board: nil, detail: nil)])
        #expect(try reopened.auditLog(limit: 1).map(\.user) == ["bob"])
        #expect(throws: ReservationRefusal.self) { try reopened.reserve(board: "b1", user: "bob", start: 1200, end: 1300) }
    }

    @Test(arguments: Engine.available)
    func calendarEventsDisplaceLocalOnesAndConflictWithEachOther(_ engine: Engine) async throws {
        let place = try await engine.place()
        let store = try ReservationStore(engine: try place.open())
        let local = try store.reserve(board: "b1", user: "bob", start: 1000, end: 2000)
        let applied = try store.applyCalendarEvent(board: "b1", source: "ev1", user: "alice", start: 1500, end: 2500, guests: ["carol"])
        #expect(applied.changed && applied.displaced == [local] && applied.reservation.guests == ["carol"])
        let again = try store.applyCalendarEvent(board: "b1", source: "ev1", user: "alice", start: 1500, end: 2500, guests: ["carol"])
        #expect(!again.changed)
        #expect(throws: ReservationRefusal.conflict(applied.reservation)) {
            try store.applyCalendarEvent(board: "b1", source: "ev2", user: "dave", start: 2000, end: 3000)
        }
        // Two events that trade slots land together when cleared first.
        _ = try store.applyCalendarEvent(board: "b1", source: "ev2", user: "dave", start: 2500, end: 3000)
        let traded = try store.applyCalendarEvents(board: "b1", [
            CalendarEventReservation(source: "ev1", user: "alice", start: 2500, end: 3000),
            CalendarEventReservation(source: "ev2", user: "dave", start: 1500, end: 2500),
        ], clearingFirst: true)
        #expect(traded.allSatisfy { (try? $0.get()) != nil })
        #expect(try store.reservations(board: "b1", endingAfter: 0).map(\.user) == ["dave", "alice"])
        #expect(try store.removeCalendarEvent(board: "b1", source: "ev2")?.user == "dave")
        #expect(try store.removeCalendarEvent(board: "b1", source: "ev2") == nil)
        let current = try #require(try store.current(board: "b1", at: 2600))
        let moved = try store.setEnd(current, to: 2800)
        #expect(try store.overlapping(board: "b1", start: 0, end: 5000) == [moved])
        try store.saveCalendarStanding(board: "b1", CalendarStanding(unreadableSince: 12.5, lastError: "HTTP 500", lastSync: 10))
        #expect(try store.calendarStandings()["b1"] == CalendarStanding(unreadableSince: 12.5, lastError: "HTTP 500", lastSync: 10))
    }

    /// Many writers at the same instant, each with its own connection (on
    /// PostgreSQL, as several coordinators would be): exactly one stands.
    @Test(arguments: Engine.available)
    func manyWritersAtOnceOneReservationStands(_ engine: Engine) async throws {
        let place = try await engine.place()
        let stores = try (0..<(engine == .sqlite ? 1 : 4)).map { _ in try ReservationStore(engine: try place.open()) }
        let outcomes = Shared<[String]>([])
        onThreadsAtOnce(40) { index in
            let store = stores[index % stores.count]
            let outcome: String
            do {
                _ = try store.reserve(board: "b1", user: "user\(index)", start: 1000 + Int64(index % 7), end: 5000)
                outcome = "won"
            } catch ReservationRefusal.conflict {
                outcome = "refused"
            } catch {
                outcome = "\(error)"
            }
            outcomes.update { $0.append(outcome) }
        }
        let all = outcomes.current
        #expect(all.filter { $0 == "won" }.count == 1 && all.filter { $0 == "refused" }.count == 39, "\(all)")
        #expect(try stores[0].active(at: 0).count == 1)
    }

    @Test(arguments: Engine.available)
    func aSchemaNewerThanThisProgramIsRefused(_ engine: Engine) async throws {
        let place = try await engine.place()
        let store = try ReservationStore(engine: try place.open())
        try store.execute("UPDATE schema_versions SET version = 99 WHERE part = 'reservations'")
        do {
            _ = try ReservationStore(engine: try place.open())
            Issue.record("a newer schema was opened")
        } catch {
            #expect("\(error)".contains("its reservations schema is version 99, this program knows up to \(StoreSchema.reservations.latest): upgrade it"),
                    "\(error)")
        }
    }

    /// Two coordinators starting together on an empty database: one
    /// migrates, the other waits for it and finds the schema made.
    @Test func twoStartsAtOnceMigrateOnce() async throws {
        guard PostgresServer.isAvailable else { return }
        let place = try await Engine.postgresql.place()
        let failures = Shared<[String]>([])
        onThreadsAtOnce(4) { _ in
            do {
                _ = try ReservationStore(engine: try place.open())
                _ = try EventLog(engine: try place.open(), logger: Logger(label: "test"))
            } catch { failures.update { $0.append("\(error)") } }
        }
        #expect(failures.current.isEmpty, "\(failures.current)")
        let engine = try place.open()
        let versions = try engine.withSession { try $0.query("SELECT part, version FROM schema_versions ORDER BY part") }
        #expect(versions == [[.text("events"), .integer(Int64(StoreSchema.events.latest))],
                             [.text("reservations"), .integer(Int64(StoreSchema.reservations.latest))]])
    }

    /// The event log on either engine: ids in order, an agent's event merged
    /// once however many coordinators merge it, and on a shared store a
    /// follower of one coordinator woken by another's event.
    @Test(arguments: Engine.available)
    func eventsAreMergedOnceAndHeardAcrossWriters(_ engine: Engine) async throws {
        let place = try await engine.place()
        let logger = Logger(label: "test")
        let first = try EventLog(engine: try place.open(), logger: logger)
        let second = try EventLog(engine: try place.open(), logger: logger)
        defer { first.close(); second.close() }
        let reserved = try #require(first.append("reservation.start", board: "b1", user: "alice"))
        let agentEvent = LabEvent(id: 7, time: "2026-12-07T10:00:00.000Z", type: "power", board: "b1", user: "alice", agent: nil, fields: [:])
        #expect(first.merge(agentEvent, from: "bench-1") != nil)
        #expect(second.merge(agentEvent, from: "bench-1") == nil, "merged twice")
        #expect(second.events(after: 0).map(\.type) == ["reservation.start", "power"])
        #expect(second.events(after: reserved).map(\.type) == ["power"])
        guard engine == .postgresql else { return }
        // A follower on `second` waits; `first` writes; `second` hears it.
        let before = second.lastID
        // It blocks while it waits: on a thread of its own, not the 2-thread cooperative pool.
        let heard = Task {
            try await DedicatedThread.run(named: "follower") { () -> Bool in
                let deadline = monotonicSeconds() + 5
                while second.lastID <= before && monotonicSeconds() < deadline { second.waitForMore(after: before, timeout: 0.5) }
                return second.lastID > before
            }
        }
        try await Task.sleep(for: .milliseconds(200))
        first.append("power", board: "b2", user: "bob")
        #expect(try await heard.value, "the other writer's event never woke the follower")
    }
}
