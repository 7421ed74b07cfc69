import Foundation
import ProvisionerTesting
import Testing

/// An agent restarts (issue 20): the coordinator notices at once through
/// the agent's `watch`, not at its next health check (a minute here), and
/// tells the new agent who holds its boards, so the holder works on without
/// a wait and nobody else gets in meanwhile (the board is locked, not free).
@Suite(.enabled(if: Tools.isInstalled("ssh") && Tools.isInstalled("socat") && Tools.isInstalled("ssh-keygen"),
                "needs OpenSSH and socat"))
struct CoordinatorAgentRestartTests {
    @Test func aRestartedAgentHearsWhoHoldsItsBoardsAtOnceAndAStoppedOneIsShownOffline() async throws {
        let lab = try await LabFixture(healthInterval: "60s")
        _ = try await lab.waitForBoards { rows in rows.count == 2 && rows.allSatisfy { $0["online"] as? Bool == true } }
        #expect(try await lab.ssh("bob", "reserve", "b1", "--for", "1h").exitCode == 0)
        #expect(try await lab.ssh("bob", "power", "b1", "on").exitCode == 0)
        #expect(await eventually { lab.agents[0].stderr.contains("hold: b1 held by bob until") }, "\(lab.agents[0].stderr.suffix(800))")

        lab.agents[0].signal(SIGKILL)
        _ = await lab.agents[0].waitForExit(timeout: .seconds(10))
        let again = try await lab.startAgent(1)
        // The new agent starts with b1 locked and hears its holder within seconds.
        #expect(again.stderr.contains("ssh: listening on"))
        #expect(await eventually(timeout: .seconds(10)) { again.stderr.contains("hold: b1 held by bob until") },
                "the coordinator did not tell the new agent at once: \(again.stderr.suffix(1500))\n\(lab.coordinator.stderr.suffix(1500))")
        let power = try await lab.ssh("bob", "power", "b1", "status")
        #expect(power.exitCode == 0 && power.stdout == "b1: on\n", "the restart switched nothing: \(power)")
        let refused = try await lab.ssh("alice", "power", "b1", "off")
        #expect(refused.exitCode == 3 && refused.stderr.contains("held by bob"), "\(refused)")

        // Stopped for good: shown offline at once too, not a minute later.
        await again.terminate()
        _ = try await lab.waitForBoards(timeout: .seconds(10)) { rows in
            rows.first { $0["name"] as? String == "b1" }?["online"] as? Bool == false
        }
        let offline = try await lab.ssh("bob", "power", "b1", "on")
        #expect(offline.exitCode == 1 && offline.stderr.contains("offline"), "\(offline)")
        await lab.stop()
    }
}
