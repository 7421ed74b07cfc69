import Foundation
import ProvisionerTesting
import Testing

/// `events` on a lone agent: what changed, one JSON object a line, with
/// ids that `--since` resumes after, and `--follow` as it happens.
@Suite(.enabled(if: Tools.isInstalled("ssh"), "needs OpenSSH"))
struct EventsTests {
    static let boards = """
          - name: b1
            serial: { device: data/b1.console }
            power: { type: command, on: "true", off: "true" }
            tags: [imx8mp]
        """

    static func parse(_ text: String) -> [[String: Any]] {
        text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    @Test func changesAreEventsAndSinceResumesWithoutGapsOrDuplicates() async throws {
        let agent = try await ServedAgent(prefix: "events", users: ["alice", "bob"], boards: Self.boards)
        let follower = try RunningProcess("ssh", agent.sshArguments(as: "bob") + ["events", "--since", "0", "--follow", "--json"])
        defer { follower.signal(SIGKILL) }
        #expect(try await agent.ssh(as: "alice", "reserve", "b1", "--for", "1h").exitCode == 0)
        #expect(try await agent.ssh(as: "alice", "power", "b1", "on").exitCode == 0)
        #expect(await eventually { Self.parse(follower.stdout).contains { $0["type"] as? String == "state" } }, "\(follower.stdout)")
        let followed = Self.parse(follower.stdout)
        #expect(followed.map { $0["type"] as? String } == ["reservation.start", "power", "state"], "\(follower.stdout)")
        #expect(followed.last?["state"] as? String == "unknown", "powered on, not yet known to be in U-Boot: \(followed)")
        let power = try #require(followed.first { $0["type"] as? String == "power" })
        #expect(power["board"] as? String == "b1" && power["user"] as? String == "alice" && power["action"] as? String == "on")
        #expect(power["agent"] as? String == "test" && (power["time"] as? String)?.hasSuffix("Z") == true && power["v"] as? Int == 1)
        // The follower is killed; what happened meanwhile comes with --since, once each.
        follower.signal(SIGKILL)
        _ = await follower.waitForExit(timeout: .seconds(5))
        let lastSeen = try #require(followed.compactMap { $0["id"] as? Int }.max())
        #expect(try await agent.ssh(as: "alice", "power", "b1", "off").exitCode == 0)
        #expect(try await agent.ssh(as: "alice", "release", "b1").exitCode == 0)
        let resumed = Self.parse(try await agent.ssh(as: "bob", "events", "--since", "\(lastSeen)", "--json").stdout)
        #expect(resumed.map { $0["type"] as? String } == ["power", "state", "reservation.end"], "\(resumed)")
        #expect(resumed.count == 3 && resumed[1]["state"] as? String == "off", "\(resumed)")
        let ids = resumed.compactMap { $0["id"] as? Int }
        #expect(ids.count == 3 && ids.first! > lastSeen && ids == ids.sorted(), "increasing, after \(lastSeen): \(ids)")
        let everything = Self.parse(try await agent.ssh(as: "bob", "events", "--json").stdout)
        #expect(everything.compactMap { $0["id"] as? Int } == Array(Set(everything.compactMap { $0["id"] as? Int })).sorted())
        let text = try await agent.ssh(as: "bob", "events", "--board", "b1")
        #expect(text.stdout.contains("  power  b1  alice  action=on"), "\(text.stdout)")
        let bad = try await agent.ssh(as: "bob", "events", "--since", "yesterday")
        #expect(bad.exitCode == 2 && bad.stderr.hasPrefix("events: --since wants an event id"), "\(bad)")
    }

    @Test func consolesAndTheQueueAreEventsToo() async throws {
        let agent = try await ServedAgent(prefix: "events-queue", users: ["alice", "bob"], boards: Self.boards)
        let console = try agent.console("b1", readOnly: true, as: "bob")
        _ = try await console.expect("read-only")
        console.send("\u{1d}.")
        #expect(await eventually { !console.isRunning }, "the console detached")
        #expect(try await agent.ssh(as: "alice", "reserve", "b1").exitCode == 0)
        let waiter = try RunningProcess("ssh", agent.sshArguments(as: "bob") + ["reserve", "--tag", "imx8mp", "--wait"])
        defer { waiter.signal(SIGKILL) }
        try await waiter.waitForLine(containing: "number 1 in the queue")
        #expect(try await agent.ssh(as: "alice", "release", "b1").exitCode == 0)
        #expect(await waiter.waitForExit(timeout: .seconds(5)) == 0)
        let types = Self.parse(try await agent.ssh(as: "bob", "events", "--json").stdout).compactMap { $0["type"] as? String }
        #expect(types == ["console.attach", "console.detach", "reservation.start", "queue.join", "reservation.end",
                          "reservation.start", "queue.allocate"], "\(types)")
    }
}
