import AgentCore
@testable import AgentShell
import Foundation
import ProvisionerCore
import ProvisionerTesting
import SystemSupport
import Testing

/// A lone agent (no coordinator_keys) is the smallest lab (DESIGN.md): its
/// SSH port offers `reserve`, `release`, `reservations` and `audit` too, and
/// its own reservations decide who may change a board.
@Suite(.enabled(if: Tools.isInstalled("ssh") && Tools.isInstalled("ssh-keygen")))
struct SSHReservationTests {
    func rows(_ stdout: String) -> [[String: Any]] {
        (try? JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [[String: Any]]) ?? []
    }

    @Test func aReservationDecidesWhoMayChangeTheBoardUntilItIsReleased() async throws {
        let fixture = try AgentSSHFixture(coordinator: false)
        let keys = fixture.keys
        let reserved = try await fixture.ssh(key: keys.alice, "reserve", "board1", "--for", "2h")
        #expect(reserved.exitCode == 0, "\(reserved)")
        let end = rows(try await fixture.ssh(key: keys.bob, "reservations", "--json").stdout)
        #expect(end.count == 1 && end.first?["board"] as? String == "board1" && end.first?["user"] as? String == "alice", "\(end)")
        // The same fields as the coordinator's.
        #expect(end.first?["source"] as? String == "local" && end.first?["start"] is String && end.first?["stale"] as? Bool == false,
                "\(end)")
        let table = try await fixture.ssh(key: keys.bob, "reservations").stdout
        #expect(table.hasPrefix("BOARD") && table.split(separator: "\n").first?.split(separator: " ").count == 5, "\(table)")
        let until = try #require(end.first?["end"] as? String)
        #expect(reserved.stdout == "board1: reserved by alice until \(until)\n")
        let untilSeconds = try #require(TimeText.parse(until))
        #expect(abs(Double(untilSeconds) - wallClock() - 7200) < 60)

        let bobPower = try await fixture.ssh(key: keys.bob, "power", "board1", "on")
        #expect(bobPower.exitCode == 3, "\(bobPower)")
        #expect(bobPower.stderrLines.count == 1 && bobPower.stderr.contains("held by alice"), "\(bobPower.stderr)")
        let bobReserve = try await fixture.ssh(key: keys.bob, "reserve", "board1")
        #expect(bobReserve.exitCode == 1)
        #expect(bobReserve.stderrLines == ["reserve: board1 is held by alice until \(until)"])
        let bobRelease = try await fixture.ssh(key: keys.bob, "release", "board1")
        #expect(bobRelease.exitCode == 3)
        #expect(bobRelease.stderrLines == ["release: board1 is held by alice, not you"])
        #expect(try await fixture.ssh(key: keys.bob, "power", "board2", "on").exitCode == 0, "board2 is free")

        #expect(try await fixture.ssh(key: keys.alice, "power", "board1", "on").exitCode == 0)
        #expect(fixture.board1.fakePower.current == .on)
        let boards = rows(try await fixture.ssh(key: keys.carol, "boards", "--json").stdout)
        #expect(boards.first { $0["name"] as? String == "board1" }?["holder"] as? String == "alice")

        // Reserving again moves the end (here: shorter).
        let shorter = try await fixture.ssh(key: keys.alice, "reserve", "board1", "--for", "30m")
        #expect(shorter.exitCode == 0, "\(shorter)")
        #expect(!shorter.stdout.contains(until), "\(shorter.stdout)")

        let released = try await fixture.ssh(key: keys.alice, "release", "board1")
        #expect(released.exitCode == 0)
        #expect(released.stdout == "board1: released\n")
        #expect(rows(try await fixture.ssh(key: keys.bob, "reservations", "--json").stdout).isEmpty)
        // The released board is powered off (once a second), as at the coordinator.
        #expect(await eventually { fixture.board1.fakePower.current == .off }, "powered off after the release")
        #expect(try await fixture.ssh(key: keys.bob, "power", "board1", "on").exitCode == 0, "free again")

        let audit = rows(try await fixture.ssh(key: keys.carol, "audit", "--json").stdout)
        let lines = audit.map { "\($0["user"] as? String ?? "?") \($0["action"] as? String ?? "?") \($0["board"] as? String ?? "-") \($0["detail"] as? String ?? "")" }
        let secondEnd = shorter.stdout.components(separatedBy: " until ").last?.trimmingCharacters(in: .newlines) ?? "?"
        // Refused commands and looking (status, lists) are not in it.
        #expect(lines == ["alice reserve board1 until \(until)", "bob-smith power board2 on", "alice power board1 on",
                          "alice reserve board1 until \(secondEnd)", "alice release board1 ",
                          "alice power board1 off (the reservation ended)", "bob-smith power board1 on"], "\(lines)")
    }

    /// At a reservation's end, as at the coordinator: the holder's console
    /// is warned first (the end is within 5 minutes), then cut with exit 3,
    /// and the board is powered off. A watcher's read-only console stays.
    @Test func theHoldersConsoleIsWarnedThenCutAtTheEnd() async throws {
        let fixture = try AgentSSHFixture(coordinator: false)
        let keys = fixture.keys
        let until = TimeText.format(Int64(wallClock()) + 6)
        let reserved = try await fixture.ssh(key: keys.alice, "reserve", "board1", "--until", until)
        #expect(reserved.exitCode == 0, "\(reserved)")
        #expect(try await fixture.ssh(key: keys.alice, "power", "board1", "on").exitCode == 0)
        let holder = try fixture.terminal(key: keys.alice, "console", "board1")
        let warning = "your reservation of board1 ends in 1 min (\(until)); then this session is closed. To extend: reserve board1 --for 1h"
        #expect(await eventually { holder.errorText.contains(warning) }, "\(holder.errorText)")
        #expect(holder.isRunning, "warned, not cut")
        let watcher = try fixture.terminal(key: keys.bob, "console", "board1")
        try await watcher.waitFor("held by alice")
        #expect(await holder.waitForExit() == 3)
        // (The client's last bytes may still be on their way to us.)
        #expect(await eventually { holder.errorText.hasSuffix("your reservation of board1 has ended: this session is closed\r\n") },
                "\(holder.errorText)")
        #expect(await eventually { fixture.board1.fakePower.current == .off }, "powered off at the end")
        // The watcher was never cut: it detaches itself.
        watcher.type([0x1D, UInt8(ascii: ".")])
        #expect(await watcher.waitForExit() == 0)
    }

    @Test(arguments: [
        (["reserve"], 2, "reserve: name a BOARD, or give --tag"),
        (["reserve", "board9"], 1, "reserve: no board 'board9'"),
        (["reserve", "board1", "--for", "10s"], 2, "not a duration of a minute or more"),
        (["reserve", "board1", "--for", "soon"], 2, "not a duration"),
        (["reserve", "board1", "--for", "40d"], 2, "at most 30 days"),
        // Numbers that would trap if converted before they are bounded.
        (["reserve", "board1", "--for", "1e19"], 2, "at most 30 days"),
        (["reserve", "board1", "--for", "1e300"], 2, "at most 30 days"),
        (["reserve", "board1", "--for", "9223372036854775807"], 2, "at most 30 days"),
        (["reserve", "board1", "--for", "1e15d"], 2, "at most 30 days"),
        (["reserve", "board1", "--for", String(repeating: "9", count: 400)], 2, "not a duration"),
        (["reserve", "board1", "--for", "nan"], 2, "not a duration"),
        (["reserve", "board1", "--for", "inf"], 2, "not a duration"),
        (["reserve", "board1", "--for", "-1"], 2, "missing value for '--for <DURATION>'"),
        (["reserve", "board1", "--for", "1e-300"], 2, "not a duration"),
        (["reserve", "board1", "--until", "2020-01-01T00:00"], 2, "is not in the future"),
        (["reserve", "board1", "--until", "tomorrow"], 2, "is not a time"),
        (["reserve", "board1", "--for", "1h", "--until", "2099-01-01T00:00"], 2, "once"),
        (["reserve", "board1", "--force"], 2, "unknown option '--force'"),
        (["release"], 2, "usage: release BOARD"),
        (["release", "board2"], 1, "release: board2 is not reserved"),
        (["reservations", "all"], 2, "unexpected argument 'all'"),
        (["audit", "--csv"], 2, "unknown option '--csv'"),
    ])
    func badRequestsAreOneLineAndChangeNothing(_ words: [String], _ status: Int32, _ message: String) async throws {
        let fixture = try AgentSSHFixture(coordinator: false)
        let result = try await RunningProcess.run("ssh", fixture.sshArguments(key: fixture.keys.alice, words), timeout: .seconds(30))
        #expect(result.exitCode == status, "\(result)")
        #expect(result.stderrLines.count == 1 && result.stderr.contains(message), "\(result.stderr)")
        #expect(rows(try await fixture.ssh(key: fixture.keys.bob, "reservations", "--json").stdout).isEmpty)
    }

    /// On a coordinator's agent the coordinator keeps reservations: `reserve`
    /// points there, and `reservations` lists what it said with `hold`.
    @Test func aCoordinatorsAgentReservesAtTheCoordinator() async throws {
        let fixture = try AgentSSHFixture()
        let refused = try await fixture.ssh(key: fixture.keys.alice, "reserve", "board1")
        #expect(refused.exitCode == 1)
        #expect(refused.stderrLines == ["reserve: this agent's boards are reserved at its coordinator (ssh LAB reserve …)"])
        #expect(try await fixture.ssh(key: fixture.keys.alice, "audit").exitCode == 1)
        let until = Int(wallClock()) + 3600
        _ = try await fixture.ssh(key: fixture.keys.coordinator, "hold", "board2", "bob-smith", "\(until)", "--guests", "alice")
        let listed = rows(try await fixture.ssh(key: fixture.keys.alice, "reservations", "--json").stdout)
        #expect(listed.count == 1, "\(listed)")
        #expect(listed.first?["board"] as? String == "board2" && listed.first?["user"] as? String == "bob-smith")
        #expect(listed.first?["guests"] as? [String] == ["alice"])
        #expect(listed.first?["source"] as? String == "coordinator" && listed.first?["start"] == nil, "\(listed)")
        let table = try await fixture.ssh(key: fixture.keys.alice, "reservations")
        #expect(table.stdout.contains("bob-smith (with alice)"), "\(table.stdout)")
        // The coordinator's columns; the agent does not know when the reservation began.
        let lines = table.stdout.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true) }
        #expect(lines.first == ["BOARD", "USER", "START", "END", "SOURCE"], "\(table.stdout)")
        #expect(lines.last?.last == "coordinator" && lines.last?.contains("-") == true, "\(table.stdout)")
    }

    /// The reservations are in DATA_DIR/reservations.sqlite: an agent
    /// started again knows who holds what, and a reservation that ran out
    /// while it was down holds nothing.
    @Test func reservationsOutliveARestart() throws {
        let directory = try TemporaryDirectory(prefix: "agent-reservations")
        let path = directory.path("reservations.sqlite")
        let first = BoardHolders(clock: wallClock)
        let before = try LocalReservations(path: path, holders: first)
        let now = Int64(wallClock())
        _ = try before.service.store.reserve(board: "board1", user: "alice", start: now, end: now + 600)
        _ = try before.service.store.reserve(board: "board2", user: "bob", start: now, end: now + 1)
        let later = BoardHolders(clock: { wallClock() + 5 })
        _ = try LocalReservations(path: path, holders: later, clock: { wallClock() + 5 })
        #expect(later.holding(of: "board1")?.user == "alice")
        #expect(later.holding(of: "board2") == nil)
        #expect(!later.allows("bob", on: "board1"))
    }
}
