import Foundation
import PostgresStore
import ProvisionerTesting
import Reservations
import Testing

/// Several coordinators on one PostgreSQL (issue 17), as users meet them:
/// two real `provisioner-coordinator serve` on one real PostgreSQL 15, two
/// real agents, OpenSSH. Any coordinator serves any user and board; the
/// database decides who wins a board; events, holders and the calendar
/// sync carry across; the database going away is survived.
@Suite(.serialized, .enabled(if: Tools.isInstalled("ssh") && Tools.isInstalled("socat") && PostgresServer.isAvailable,
                             "needs OpenSSH, socat and postgresql-15"))
struct SharedStoreTests {
    static func twoCoordinators(users: [String] = ["alice", "bob"], extraConfig: String = "",
                                server: PostgresServer? = nil) async throws -> (LabFixture, PostgresServer) {
        let server = if let server { server } else { try await SharedPostgres.server() }
        let url = try await server.createDatabase("lab\(UInt32.random(in: 0...UInt32.max))")
        let lab = try await LabFixture(users: users, extraConfig: extraConfig, storeURL: url, coordinators: 2)
        for via in 1...2 {
            _ = try await lab.waitForBoards(via: via) { rows in rows.count == 2 && rows.allSatisfy { $0["online"] as? Bool == true } }
        }
        return (lab, server)
    }

    @Test func aHundredReservesAtOnceAcrossTwoCoordinatorsOneWins() async throws {
        let users = ["alice"] + (1...99).map { "user\($0)" }
        let (lab, _) = try await Self.twoCoordinators(users: users)
        defer { Task { await lab.stop() } }
        let results = try await withThrowingTaskGroup(of: (String, ProcessResult).self) { group in
            for (index, user) in users.enumerated() {
                group.addTask { (user, try await lab.ssh(user, ["reserve", "b1", "--for", "1h"], via: 1 + index % 2)) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let winners = results.filter { $0.1.exitCode == 0 }
        #expect(winners.count == 1, "\(winners.map { "\($0.0): \($0.1)" })")
        let winner = try #require(winners.first?.0)
        let losers = results.filter { $0.1.exitCode != 0 }
        #expect(losers.count == 99)
        for (user, result) in losers {
            #expect(result.exitCode == 1 && result.stderrLines.count == 1 && result.stderr.contains("held by \(winner) until"),
                    "\(user): \(result)")
        }
        // Made on one, it lets its holder power the board through either.
        for via in [1, 2] {
            let on = try await lab.ssh(winner, ["power", "b1", "on"], via: via)
            #expect(on.exitCode == 0 && on.stdout == "b1: on\n", "via \(via): \(on)")
        }
        let refused = try await lab.ssh("alice" == winner ? "user1" : "alice", ["power", "b1", "off"], via: 2)
        #expect(refused.exitCode == 3 && refused.stderr.contains("held by \(winner)"), "\(refused)")
        // Each coordinator's `reservations` shows the one reservation.
        for via in [1, 2] {
            let listed = try await lab.ssh(winner, ["reservations", "--json"], via: via)
            #expect(listed.exitCode == 0 && listed.stdout.components(separatedBy: "\"board\":\"b1\"").count == 2, "\(listed)")
        }
        await lab.stop()
    }

    @Test func eventsAndHoldersCarryAcrossCoordinators() async throws {
        let (lab, _) = try await Self.twoCoordinators()
        defer { Task { await lab.stop() } }
        let follower = try RunningProcess("ssh", lab.sshArguments(as: "alice", via: 2) + ["events", "--follow", "--json"])
        defer { follower.signal(SIGTERM) }
        try await Task.sleep(for: .milliseconds(500))
        let reserved = try await lab.ssh("bob", ["reserve", "b2", "--for", "30m"], via: 1)
        #expect(reserved.exitCode == 0, "\(reserved)")
        try await follower.waitForLine(containing: #""type":"reservation.start""#, in: .stdout, timeout: .seconds(10))
        #expect(follower.stdout.contains(#""board":"b2""#) && follower.stdout.contains(#""user":"bob""#), "\(follower.stdout)")
        // The holder reaches the agent at once, whichever coordinator changed it.
        #expect(await eventually { lab.agents[1].stderr.contains("hold: b2 held by bob until") }, "\(lab.agents[1].stderr.suffix(800))")
        // Bob's console on coordinator 1; released on coordinator 2: the watch
        // of the coordinator that carries the console ends it.
        let console = try ConsoleProcess("ssh", lab.sshArguments(as: "bob", terminal: true) + ["console", "b2"], terminal: true)
        defer { console.stop() }
        try await console.expect("b2 console")
        let released = try await lab.ssh("bob", ["release", "b2"], via: 2)
        #expect(released.exitCode == 0, "\(released)")
        try await console.expect("your reservation of b2 has ended: this session is closed")
        try await follower.waitForLine(containing: #""type":"reservation.end""#, in: .stdout, timeout: .seconds(10))
        // One end, said once (both coordinators' watches saw it), and one power-off.
        try await Task.sleep(for: .seconds(3))
        #expect(follower.stdout.components(separatedBy: #""type":"reservation.end""#).count == 2, "\(follower.stdout)")
        let audit = try await lab.ssh("alice", ["audit", "--json"], via: 1)
        #expect(audit.stdout.components(separatedBy: "the reservation ended").count == 2, "\(audit.stdout)")
        // Each event once, though both coordinators merge every agent's.
        let listed = try await lab.ssh("alice", ["events", "--json"], via: 1)
        let lines = listed.stdout.split(separator: "\n")
        let ids = lines.compactMap { line in line.firstRange(of: #""id":"#).map { line[$0.upperBound...].prefix { $0.isNumber } } }
        #expect(Set(ids).count == ids.count && !ids.isEmpty, "\(listed.stdout)")
        // Both coordinators saw both agents come online: said once each.
        #expect(lines.filter { $0.contains(#""type":"agent.online""#) }.count == 2, "\(listed.stdout)")
        await lab.stop()
    }

    /// One queue for both coordinators, first come first served: a board
    /// released on one goes to the first waiter of all, on the other.
    @Test func theQueueIsOneAcrossCoordinators() async throws {
        let (lab, _) = try await Self.twoCoordinators(users: ["alice", "bob", "carol"])
        defer { Task { await lab.stop() } }
        #expect(try await lab.ssh("alice", ["reserve", "b1", "--for", "30m"], via: 1).exitCode == 0)
        #expect(try await lab.ssh("alice", ["reserve", "b2", "--for", "30m"], via: 1).exitCode == 0)
        let bob = try RunningProcess("ssh", lab.sshArguments(as: "bob", via: 2) + ["reserve", "--tag", "arm", "--wait", "--timeout", "60s"])
        try await bob.waitForLine(containing: "number 1 in the queue", timeout: .seconds(10))
        let carol = try RunningProcess("ssh", lab.sshArguments(as: "carol", via: 1) + ["reserve", "--tag", "arm", "--wait", "--timeout", "60s"])
        try await carol.waitForLine(containing: "number 2 in the queue", timeout: .seconds(10))
        // Either coordinator lists both waiters, in order.
        for via in [1, 2] {
            let listed = try await lab.ssh("alice", ["queue", "--json"], via: via)
            #expect(listed.exitCode == 0 && listed.stdout.contains(#""position":1"#) && listed.stdout.range(of: "bob")?.lowerBound
                    ?? listed.stdout.endIndex < listed.stdout.range(of: "carol")?.lowerBound ?? listed.stdout.startIndex, "via \(via): \(listed)")
        }
        // Released on coordinator 1, where carol waits: bob, first, gets it on coordinator 2.
        #expect(try await lab.ssh("alice", ["release", "b2"], via: 1).exitCode == 0)
        #expect(await bob.waitForExit(timeout: .seconds(10)) == 0 && bob.stdout == "b2\n", "\(bob.stdout) \(bob.stderr)")
        try await carol.waitForLine(containing: "number 1 in the queue", timeout: .seconds(10))
        #expect(carol.isRunning)
        #expect(try await lab.ssh("alice", ["release", "b1"], via: 2).exitCode == 0)
        #expect(await carol.waitForExit(timeout: .seconds(10)) == 0 && carol.stdout == "b1\n", "\(carol.stdout) \(carol.stderr)")
        let empty = try await lab.ssh("alice", ["queue"], via: 2)
        #expect(empty.stdout == "nobody is waiting\n", "\(empty)")
        await lab.stop()
    }

    @Test func theDatabaseGoingAwayIsSurvived() async throws {
        let server = try await PostgresServer()
        let (lab, _) = try await Self.twoCoordinators(server: server)
        defer { Task { await lab.stop() } }
        #expect(try await lab.ssh("alice", ["reserve", "b1", "--for", "30m"], via: 1).exitCode == 0)
        let console = try ConsoleProcess("ssh", lab.sshArguments(as: "alice", terminal: true) + ["console", "b1"], terminal: true)
        defer { console.stop() }
        try await console.expect("b1 console")

        // Load through both coordinators while the database goes and comes back.
        let loading = Shared(true)
        let load = Task { () -> [ProcessResult] in
            var results: [ProcessResult] = []
            var round = 0
            while loading.current {
                round += 1
                results.append(try await lab.ssh("bob", ["reserve", "b2", "--for", "1m"], via: 1 + round % 2))
                results.append(try await lab.ssh("bob", ["release", "b2"], via: 2 - round % 2))
            }
            return results
        }
        try await Task.sleep(for: .seconds(1))
        #expect(await server.stop() == 0)
        for via in [1, 2] {
            let refused = try await lab.ssh("bob", ["reserve", "b2", "--for", "30m"], via: via)
            #expect(refused.exitCode == 1 && refused.stderrLines.count == 1 && refused.stderr.contains("unreachable"), "via \(via): \(refused)")
            // Nothing the store has not confirmed is granted.
            let power = try await lab.ssh("bob", ["power", "b2", "on"], via: via)
            #expect(power.exitCode != 0, "via \(via): \(power)")
        }
        // The console already open carries on: the board's words still reach it.
        let board = try #require(FileHandle(forWritingAtPath: lab.folder.path("agent1/tty-board")))
        board.write(Data("still-here-after-the-store-went\r\n".utf8))
        try await console.expect("still-here-after-the-store-went")
        try await Task.sleep(for: .seconds(1))
        #expect(console.isRunning, "\(console.transcript)\n\(lab.coordinator.stderr.suffix(1500))")
        #expect(lab.coordinator.isRunning && lab.coordinator2?.isRunning == true)

        try await Task.sleep(for: .seconds(1))
        try await server.startAgain()
        try await Task.sleep(for: .seconds(2))
        loading.update { $0 = false }
        let results = try await load.value
        // Each command either worked or said why in one line; none hung or crashed a coordinator.
        let failed = results.filter { $0.exitCode != 0 }
        #expect(!failed.isEmpty && failed.count < results.count, "\(results.count) commands, \(failed.count) failed")
        for result in failed {
            #expect((result.exitCode == 1 || result.exitCode == 3) && result.stderrLines.count == 1, "\(result)")
        }
        #expect(lab.coordinator.isRunning && lab.coordinator2?.isRunning == true)
        _ = try await lab.ssh("bob", ["release", "b2"], via: 1)
        // Back by themselves, no restart.
        var again: ProcessResult?
        for _ in 0..<50 {
            again = try await lab.ssh("bob", ["reserve", "b2", "--for", "30m"], via: 2)
            if again?.exitCode == 0 { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(again?.exitCode == 0, "\(String(describing: again))")
        let listed = try await lab.ssh("alice", ["reservations", "--json"], via: 1)
        #expect(listed.stdout.contains(#""board":"b1""#) && listed.stdout.contains(#""board":"b2""#), "\(listed)")
        await lab.stop()
        _ = await server.stop()
    }

    @Test func migrateStoreMovesASQLiteLabWhole() async throws {
        let lab = try await LabFixture()
        _ = try await lab.waitForBoards { rows in rows.count == 2 && rows.allSatisfy { $0["online"] as? Bool == true } }
        #expect(try await lab.ssh("alice", "reserve", "b1", "--for", "2h").exitCode == 0)
        #expect(try await lab.ssh("bob", "reserve", "b2", "--for", "1h").exitCode == 0)
        #expect(try await lab.ssh("bob", "power", "b2", "on").exitCode == 0)
        #expect(try await lab.ssh("bob", "release", "b2").exitCode == 0)
        await lab.stop()
        // What the SQLite lab holds, read from its files once it stopped.
        let sqlite = try ReservationStore(path: lab.folder.path("coordinator/coordinator.sqlite"))
        let sqliteEvents = try EventLog(path: lab.folder.path("coordinator/events.sqlite"), logger: .init(label: "test"))

        let server = try await SharedPostgres.server()
        let url = try await server.createDatabase("migrated\(UInt32.random(in: 0...UInt32.max))")
        let from = "sqlite:" + lab.folder.path("coordinator")
        let moved = try await RunningProcess.run(try Tools.coordinator(), ["migrate-store", "--from", from, "--to", url])
        #expect(moved.exitCode == 0 && moved.stdout.hasPrefix("migrate-store: ") && moved.stdout.contains("audit lines"), "\(moved)")
        let again = try await RunningProcess.run(try Tools.coordinator(), ["migrate-store", "--from", from, "--to", url])
        #expect(again.exitCode == 1 && again.stderr.contains("already holds") && again.stderr.contains("--force"), "\(again)")
        let forced = try await RunningProcess.run(try Tools.coordinator(), ["migrate-store", "--from", from, "--to", url, "--force"])
        #expect(forced.exitCode == 0, "\(forced)")

        // A coordinator on the PostgreSQL shows every line the SQLite lab had.
        let engine = try PostgresEngine(url: url)
        let store = try ReservationStore(engine: engine)
        #expect(try store.active(at: Int64(Date().timeIntervalSince1970)).map(\.board) == ["b1"])
        #expect(try store.active(at: 0) == sqlite.active(at: 0))
        let auditLines = try store.auditLog()
        #expect(auditLines == (try sqlite.auditLog()) && auditLines.count >= 4, "\(auditLines)")
        let eventLog = try EventLog(engine: engine, logger: .init(label: "test"))
        defer { eventLog.close() }
        let copied = eventLog.events(after: 0)
        #expect(copied == sqliteEvents.events(after: 0) && copied.count >= 5, "\(copied)")
        // New ids follow the copied ones.
        let next = try #require(eventLog.append("power", board: "b1", user: "alice"))
        #expect(next > eventLog.events(after: 0).dropLast().last?.id ?? 0)

        let bad = try await RunningProcess.run(try Tools.coordinator(), ["migrate-store", "--from", "sqlite:/nonexistent", "--to", url])
        #expect(bad.exitCode == 1 && bad.stderrLines.count == 1, "\(bad)")
    }

    @Test func checkConfigReachesTheStoreAndSaysItsSchema() async throws {
        let server = try await SharedPostgres.server()
        let url = try await server.createDatabase("check\(UInt32.random(in: 0...UInt32.max))")
        let folder = try TemporaryDirectory(prefix: "check-store")
        func checkConfig(_ url: String) async throws -> ProcessResult {
            try folder.createFile("coordinator.yaml", text: "coordinator:\n  data_dir: data\n  store: { url: \"\(url)\" }\n")
            return try await RunningProcess.run(try Tools.coordinator(), ["check-config", "--config", folder.path("coordinator.yaml")])
        }
        let fresh = try await checkConfig(url)
        #expect(fresh.exitCode == 0 && fresh.stdout.contains("answers; schema reservations 0/") && fresh.stdout.contains("(created at start)"),
                "\(fresh)")
        _ = try ReservationStore(engine: try PostgresEngine(url: url))
        let made = try await checkConfig(url)
        #expect(made.exitCode == 0 && made.stdout.contains("reservations \(StoreSchema.reservations.latest)/\(StoreSchema.reservations.latest)"),
                "\(made)")
        let unreachable = try await checkConfig("postgresql://postgres@127.0.0.1:1/nothing")
        #expect(unreachable.exitCode == 1 && unreachable.stderrLines.count == 1 && unreachable.stderr.contains("unreachable"), "\(unreachable)")
        let password = try await checkConfig("postgresql://postgres:secret@127.0.0.1/x")
        #expect(password.exitCode == 2 && password.stderr.contains("coordinator.yaml:3:") && password.stderr.contains("password_file"),
                "\(password)")
    }

    /// One coordinator syncs the calendars; killed, the other takes the
    /// sync over within two polls and carries on from the fake Google.
    @Test(.enabled(if: Tools.isInstalled("python3") && Tools.isInstalled("openssl"), "needs python3 and openssl"))
    func theCalendarLeaderKilledTheOtherTakesTheSyncOver() async throws {
        let fake = try await FakeGoogle()
        let (lab, _) = try await Self.twoCoordinators(users: ["alice", "bob"],
                                                      extraConfig: CalendarEndToEndTests.calendarBlock(fake, attendees: false))
        defer { Task { await lab.stop() } }
        let second = try #require(lab.coordinator2)
        let leads = "calendar: this coordinator syncs the calendars now"
        #expect(await eventually { lab.coordinator.stderr.contains(leads) != second.stderr.contains(leads) },
                "\(lab.coordinator.stderr.suffix(1000))\n\(second.stderr.suffix(1000))")
        let (leader, follower, followerVia) = lab.coordinator.stderr.contains(leads) ? (lab.coordinator, second, 2) : (second, lab.coordinator, 1)
        #expect(follower.stderr.contains("another coordinator syncs the calendars; following it"))

        // A booking made now reaches both coordinators through the leader's sync.
        try fake.put(CalendarEndToEndTests.calendars["b1"]!,
                     CalendarEndToEndTests.booking("bob1", by: "bob@example.com", from: CalendarEndToEndTests.now - 60,
                                                   to: CalendarEndToEndTests.now + 600))
        #expect(try await CalendarEndToEndTests.within { try await lab.ssh("bob", ["power", "b1", "on"], via: followerVia).exitCode == 0 })

        leader.signal(SIGKILL)
        let killed = ContinuousClock.now
        #expect(await eventually(timeout: .seconds(20)) { follower.stderr.contains(leads) }, "\(follower.stderr.suffix(1500))")
        let takeover = ContinuousClock.now - killed
        // poll is 1s: two polls, and slack for a loaded machine (the time is in the note).
        print("calendar takeover after \(takeover)")
        let requestsBefore = try fake.requests().count
        try fake.put(CalendarEndToEndTests.calendars["b2"]!,
                     CalendarEndToEndTests.booking("alice2", by: "alice@example.com", from: CalendarEndToEndTests.now - 60,
                                                   to: CalendarEndToEndTests.now + 600))
        #expect(try await CalendarEndToEndTests.within { try await lab.ssh("alice", ["power", "b2", "on"], via: followerVia).exitCode == 0 },
                "\(follower.stderr.suffix(1500))")
        #expect(try fake.requests().count > requestsBefore)
        await lab.stop()
    }
}

