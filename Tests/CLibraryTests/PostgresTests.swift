import Foundation
import Postgres
import ProvisionerTesting
import Testing

/// The libpq wrapper against a real PostgreSQL the test starts (initdb and
/// postgres in a temporary folder): queries with parameters, NULL, errors
/// as one line with their SQLSTATE, and the exclusion constraint the
/// coordinator's shared store relies on (issue 17): two overlapping
/// reservations of one board, written at the same instant from two
/// connections, and exactly one of them stands.
@Suite(.serialized, .enabled(if: PostgresServer.isAvailable, "needs postgresql-15 (scripts/setup)"))
struct PostgresTests {
    @Test func queriesWithParametersNullsAndOneLineErrors() async throws {
        let server = try await PostgresServer()
        let db = try PostgresConnection(url: server.url)
        let rows = try db.query("SELECT $1::text || '!', $2::int8 + 1, NULL::text", ["hello", "41"])
        #expect(rows == [["hello!", "42", nil]])
        let quoted = try db.query("SELECT $1::text", ["it's; DROP TABLE x; --"])
        #expect(quoted == [["it's; DROP TABLE x; --"]], "a parameter is data, never SQL")
        #expect(throws: PostgresError.self) { try db.query("SELECT $1::int8", ["99999999999999999999"]) }
        do {
            try db.execute("SELECT * FROM nothing_here")
            Issue.record("no error")
        } catch {
            #expect(error.sqlState == "42P01" && error.message.contains("nothing_here") && !error.message.contains("\n"), "\(error)")
        }
        do {
            _ = try PostgresConnection(url: "postgresql://postgres:secret@127.0.0.1:\(server.port)/nosuchdb")
            Issue.record("connected to a database that does not exist")
        } catch {
            #expect(error.message.contains("nosuchdb") && error.message.contains("postgres:***@") && !error.message.contains("secret"),
                    "\(error)")
        }
        #expect(await server.stop() == 0)
    }

    @Test func twoOverlappingReservationsAtOnceOneStands() async throws {
        let server = try await PostgresServer()
        let setup = try PostgresConnection(url: server.url)
        try setup.execute("""
            CREATE EXTENSION IF NOT EXISTS btree_gist;
            CREATE TABLE reservations (board text NOT NULL, username text NOT NULL, period int8range NOT NULL,
                EXCLUDE USING gist (board WITH =, period WITH &&));
            """)
        let first = try PostgresConnection(url: server.url), second = try PostgresConnection(url: server.url)
        // Both transactions hold their insert before either commits: the second waits, then fails.
        try first.execute("BEGIN")
        try first.query("INSERT INTO reservations VALUES ($1, $2, int8range($3::int8, $4::int8))", ["b1", "alice", "1000", "2000"])
        // The second insert blocks inside libpq until the first commits: on a
        // thread of its own, never the cooperative pool (2 threads here),
        // where it and one other blocked test once left no thread to resume
        // this one and commit (a hang).
        let racer = Task {
            try await DedicatedThread.run(named: "second-insert") { () -> PostgresError? in
                do {
                    try second.query("INSERT INTO reservations VALUES ($1, $2, int8range($3::int8, $4::int8))", ["b1", "bob", "1500", "2500"])
                    return nil
                } catch { return error as? PostgresError }
            }
        }
        try await Task.sleep(for: .milliseconds(300))
        try first.execute("COMMIT")
        let refused = try await racer.value
        #expect(refused?.isExclusionViolation == true, "\(String(describing: refused))")
        // Back to back and on another board, no conflict.
        try second.query("INSERT INTO reservations VALUES ($1, $2, int8range($3::int8, $4::int8))", ["b1", "bob", "2000", "2500"])
        try second.query("INSERT INTO reservations VALUES ($1, $2, int8range($3::int8, $4::int8))", ["b2", "bob", "1500", "2500"])
        let rows = try setup.query("SELECT board, username, lower(period), upper(period) FROM reservations ORDER BY board, lower(period)")
        #expect(rows == [["b1", "alice", "1000", "2000"], ["b1", "bob", "2000", "2500"], ["b2", "bob", "1500", "2500"]])
        #expect(await server.stop() == 0)
    }
}
