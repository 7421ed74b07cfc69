import AgentCore
import Foundation
import ProvisionerTesting
import SystemSupport
import Testing

/// `hold`: the coordinator says who holds a board; the agent then lets only
/// that user change it, and shows the holder.
@Suite(.enabled(if: Tools.isInstalled("ssh") && Tools.isInstalled("ssh-keygen")))
struct SSHHoldTests {
    @Test func onlyTheHolderMayPowerTypeOrBootUntilTheBoardIsFree() async throws {
        let fixture = try AgentSSHFixture()
        let keys = fixture.keys
        let until = Int(wallClock()) + 3600

        let person = try await fixture.ssh(key: keys.alice, "hold", "board1", "alice", "\(until)")
        #expect(person.exitCode == 3)
        #expect(person.stderrLines == ["hold: only the coordinator says who holds a board"])

        let held = try await fixture.ssh(key: keys.coordinator, "hold", "board1", "bob-smith", "\(until)")
        #expect(held.exitCode == 0, "\(held.stderr)")
        #expect(held.stdout == "board1: held by bob-smith until \(isoTime(Double(until)))\n")

        let boards = try await fixture.ssh(key: keys.alice, "boards", "--json")
        let rows = try JSONSerialization.jsonObject(with: Data(boards.stdout.utf8)) as? [[String: Any]]
        #expect(rows?.first { $0["name"] as? String == "board1" }?["holder"] as? String == "bob-smith")
        #expect(rows?.first { $0["name"] as? String == "board2" }?["holder"] is NSNull)

        let alice = try await fixture.ssh(key: keys.alice, "power", "board1", "on")
        #expect(alice.exitCode == 3)
        #expect(alice.stderrLines == ["power: board1 is held by bob-smith until \(isoTime(Double(until)))"])
        let aliceNetboot = try await fixture.ssh(key: keys.alice, "netboot", "board1", "--kernel", "Image", "--wait", "x")
        #expect(aliceNetboot.exitCode == 3, "\(aliceNetboot)")
        #expect(try await fixture.ssh(key: keys.alice, "power", "board1", "status").exitCode == 0, "status only looks")
        #expect(try await fixture.ssh(key: keys.alice, "power", "board2", "on").exitCode == 0, "board2 is free")
        let bob = try await fixture.ssh(key: keys.bob, "power", "board1", "on")
        #expect(bob.exitCode == 0, "\(bob.stderr)")
        let viaCoordinator = try await fixture.ssh(key: keys.coordinator, "--as", "bob-smith", "power", "board1", "off")
        #expect(viaCoordinator.exitCode == 0, "\(viaCoordinator.stderr)")

        // A non-holder's console is read-only.
        let client = try fixture.terminal(key: keys.alice, "console", "board1")
        try await client.waitFor("held by bob-smith")
        client.type("reboot\r")
        try await client.waitFor("read-only")
        client.type([0x1D, UInt8(ascii: ".")])
        #expect(await client.waitForExit() == 0)
        #expect(fixture.board1.fakeConsole.typed.isEmpty)

        let freed = try await fixture.ssh(key: keys.coordinator, "hold", "board1", "--none")
        #expect(freed.stdout == "board1: free\n")
        #expect(try await fixture.ssh(key: keys.alice, "power", "board1", "on").exitCode == 0)
    }

    /// Free is not locked: a coordinator's agent keeps its boards shut from
    /// its start until the coordinator's first `hold`, and whenever it says
    /// `hold --locked` (a stale calendar, a holder who is no user).
    @Test func aCoordinatorsAgentKeepsItsBoardsLockedUntilTheCoordinatorSpeaks() async throws {
        let fixture = try AgentSSHFixture(locked: true)
        let keys = fixture.keys
        let waiting = "waiting for the coordinator to say who holds it (the agent started)"

        let boards = try await fixture.ssh(key: keys.alice, "boards", "--json")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(boards.stdout.utf8)) as? [[String: Any]])
        #expect(rows.map { $0["locked"] as? String } == [waiting, waiting])
        #expect(rows.allSatisfy { $0["holder"] is NSNull && $0["v"] as? Int == 1 })
        let table = try await fixture.ssh(key: keys.alice, "boards")
        #expect(table.stdout.split(separator: "\n").dropFirst().allSatisfy { $0.contains("(locked)") }, "\(table.stdout)")

        for words in [["power", "board1", "on"], ["power", "board1", "cycle"], ["netboot", "board1", "--kernel", "Image"],
                      ["flash", "board1", "--rootfs", "root.img"]] {
            let refused = try await fixture.ssh(key: keys.alice, words)
            #expect(refused.exitCode == 3, "\(words): \(refused)")
            #expect(refused.stderrLines == ["\(words[0]): board1 is locked: \(waiting)"])
        }
        #expect(try await fixture.ssh(key: keys.alice, "power", "board1", "status").exitCode == 0, "status only looks")
        #expect(fixture.board1.fakePower.calls.allSatisfy { $0 == .status })

        // A console only watches.
        let client = try fixture.terminal(key: keys.alice, "console", "board1")
        try await client.waitFor("is locked (\(waiting)): read-only")
        client.type("reboot\r")
        try await client.waitFor("read-only")
        client.type([0x1D, UInt8(ascii: ".")])
        #expect(await client.waitForExit() == 0)
        #expect(fixture.board1.fakeConsole.typed.isEmpty)

        let reason = "the calendar of board2 cannot be read since 2026-12-01T10:00:00Z (HTTP 500)"
        // The coordinator quotes each word (OpenSSH joins them with spaces).
        let locked = try await fixture.ssh(key: keys.coordinator, "hold", "board2", "--locked", "'\(reason)'")
        #expect(locked.exitCode == 0 && locked.stdout == "board2: locked: \(reason)\n", "\(locked)")
        let freed = try await fixture.ssh(key: keys.coordinator, "hold", "board1", "--none")
        #expect(freed.stdout == "board1: free\n")
        #expect(try await fixture.ssh(key: keys.alice, "power", "board1", "on").exitCode == 0)
        let stillLocked = try await fixture.ssh(key: keys.alice, "power", "board2", "on")
        #expect(stillLocked.stderrLines == ["power: board2 is locked: \(reason)"])
        // An admin's --force, said by the coordinator, passes.
        let forced = try await fixture.ssh(key: keys.coordinator, "--as", "carol", "power", "--force", "board2", "on")
        #expect(forced.exitCode == 0, "\(forced)")

        for bad in [["hold", "board2", "--locked", ""], ["hold", "board2", "--none", "--locked", "x"],
                    ["hold", "board2", "alice", "1800000000", "--locked", "x"]] {
            let refused = try await fixture.ssh(key: keys.coordinator, bad)
            #expect(refused.exitCode == 2 && refused.stderrLines.count == 1, "\(bad): \(refused)")
        }
    }

    @Test func guestsOfTheHolderMayUseTheBoardToo() async throws {
        let fixture = try AgentSSHFixture()
        let keys = fixture.keys
        let until = Int(wallClock()) + 3600
        let held = try await fixture.ssh(key: keys.coordinator, "hold", "board1", "alice", "\(until)", "--guests", "bob-smith")
        #expect(held.stdout == "board1: held by alice with bob-smith until \(isoTime(Double(until)))\n", "\(held)")
        let boards = try await fixture.ssh(key: keys.alice, "boards", "--json")
        let rows = try JSONSerialization.jsonObject(with: Data(boards.stdout.utf8)) as? [[String: Any]]
        #expect(rows?.first { $0["name"] as? String == "board1" }?["guests"] as? [String] == ["bob-smith"])
        #expect(try await fixture.ssh(key: keys.bob, "power", "board1", "on").exitCode == 0)
        #expect(try await fixture.ssh(key: keys.alice, "power", "board1", "off").exitCode == 0)
        let stranger = try await fixture.ssh(key: keys.coordinator, "--as", "carol", "power", "board1", "on")
        #expect(stranger.exitCode == 3 && stranger.stderr.contains("held by alice"), "\(stranger)")
        let bad = try await fixture.ssh(key: keys.coordinator, "hold", "board1", "alice", "\(until)", "--guests", "Bob Smith")
        #expect(bad.exitCode == 2 && bad.stderrLines.count == 1, "\(bad)")
    }

    /// `watch` is the coordinator's: a person's key is refused in one line.
    @Test func onlyTheCoordinatorWatchesTheAgent() async throws {
        let fixture = try AgentSSHFixture()
        let refused = try await fixture.ssh(key: fixture.keys.alice, "watch")
        #expect(refused.exitCode == 3 && refused.stderrLines == ["watch: only the coordinator watches the agent"], "\(refused)")
        let extra = try await fixture.ssh(key: fixture.keys.coordinator, "watch", "now")
        #expect(extra.exitCode == 2 && extra.stderrLines.count == 1, "\(extra)")
    }

    @Test func aHoldingInThePastHoldsNothing() async throws {
        let fixture = try AgentSSHFixture()
        _ = try await fixture.ssh(key: fixture.keys.coordinator, "hold", "board1", "bob-smith", "2020-01-01T00:00:00Z")
        #expect(try await fixture.ssh(key: fixture.keys.alice, "power", "board1", "on").exitCode == 0)
        let bad = try await fixture.ssh(key: fixture.keys.coordinator, "hold", "board1", "bob-smith", "tomorrow")
        #expect(bad.exitCode == 2)
        // Numbers that would trap if converted unchecked: one usage line each, the agent lives on.
        for until in ["nan", "inf", "1e19", "1e300", "9223372036854775808", String(repeating: "9", count: 400)] {
            let refused = try await fixture.ssh(key: fixture.keys.coordinator, "hold", "board1", "bob-smith", until)
            #expect(refused.exitCode == 2 && refused.stderrLines == ["hold: '\(until)' is not a time (Unix seconds or 2026-12-01T18:00:00Z)"],
                    "\(until): \(refused)")
        }
        let negative = try await fixture.ssh(key: fixture.keys.coordinator, "hold", "board1", "bob-smith", "-1")
        #expect(negative.exitCode == 2 && negative.stderrLines.count == 1, "\(negative)")
        #expect(try await fixture.ssh(key: fixture.keys.alice, "whoami").stdout == "alice\n")
    }

    @Test(arguments: [0.0, 1_700_000_000, 1_709_164_800, 4_102_444_799])
    func isoTimesRoundTrip(seconds: Double) {
        #expect(parseISOTime(isoTime(seconds)) == seconds)
    }

    @Test func isoTimeIsUTC() {
        #expect(isoTime(1_709_164_800) == "2024-02-29T00:00:00Z")
        #expect(parseISOTime("2026-13-01T00:00:00Z") == nil)
        #expect(parseISOTime("2026-12-01 18:00:00Z") == nil)
    }
}
