import Foundation
import ProvisionerTesting
import Testing

/// `ssh -J lab root@BOARD` and the job commands through the coordinator,
/// with OpenSSH, the real coordinator and agents (LabFixture). The board's
/// "sshd" is socat echoing on 127.0.0.1 (b1's board_ip in the fixture).
@Suite(.enabled(if: Tools.isInstalled("ssh") && Tools.isInstalled("socat") && Tools.isInstalled("ssh-keygen"),
                "needs OpenSSH and socat"))
struct CoordinatorTunnelTests {
    @Test func aTunnelReachesTheBoardsPortForItsHolderOnly() async throws {
        let echoPort = try freeTCPPort()
        let echo = try RunningProcess("socat", ["TCP-LISTEN:\(echoPort),bind=127.0.0.1,fork,reuseaddr", "EXEC:cat"])
        let lab = try await LabFixture()
        _ = try await lab.waitForBoards { $0.count == 2 && $0.allSatisfy { $0["online"] as? Bool == true } }
        let message = "hello through two hops\n" + String(repeating: "0123456789abcdef", count: 64 << 10) + "\nend\n"
        let input = try lab.folder.createFile("tunnel-input", text: message)

        let unreserved = try await lab.tunnel("bob", to: "b1:\(echoPort)", stdinPath: input)
        #expect(unreserved.exitCode == 255 && unreserved.stdout.isEmpty, "\(unreserved)")
        #expect(unreserved.stderr.contains("forwarding failed"), "\(unreserved)")
        #expect(lab.coordinator.stderr.contains("tunnel: refused bob"), "\(lab.coordinator.stderr.suffix(800))")

        #expect(try await lab.ssh("bob", "reserve", "b1", "--for", "1h").exitCode == 0)
        let through = try await lab.tunnel("bob", to: "b1:\(echoPort)", stdinPath: input)
        #expect(through.exitCode == 0, "\(through)\n\(lab.coordinator.stderr.suffix(1500))\n\(lab.agents[0].stderr.suffix(1500))")
        #expect(through.stdout == message, "\(through.stdout.count) of \(message.count) bytes came back")

        // Someone else, and a board or port that is not there: refused.
        #expect(try await lab.tunnel("alice", to: "b1:\(echoPort)", stdinPath: input).exitCode == 255)
        #expect(try await lab.tunnel("bob", to: "nope:22", stdinPath: input).exitCode == 255)
        let closedPort = try freeTCPPort()
        let nothing = try await lab.tunnel("bob", to: "b1:\(closedPort)", stdinPath: input)
        #expect(nothing.stdout.isEmpty, "\(nothing)")
        #expect(await eventually { lab.coordinator.stderr.contains("Connection refused") }, "\(lab.coordinator.stderr.suffix(1500))")

        let audit = try await lab.ssh("alice", "audit", "--json")
        #expect(audit.stdout.contains("\"action\":\"tunnel\""), "\(audit)")
        await lab.stop()
        await echo.terminate()
    }

    @Test func flashNeedsTheReservationAndJobsListThroughTheCoordinator() async throws {
        let lab = try await LabFixture()
        _ = try await lab.waitForBoards { $0.count == 2 && $0.allSatisfy { $0["online"] as? Bool == true } }
        let unreserved = try await lab.ssh("bob", "flash", "b2", "--rootfs", "rootfs.img")
        #expect(unreserved.exitCode == 3 && unreserved.stderr.contains("needs a reservation of b2"), "\(unreserved)")

        #expect(try await lab.ssh("bob", "reserve", "b2", "--for", "1h").exitCode == 0)
        // The agent refuses before powering anything: b2 has no flash section.
        let flash = try await lab.ssh("bob", "flash", "b2", "--rootfs", "rootfs.img")
        #expect(flash.exitCode != 0 && flash.stderrLines.count == 1 && flash.stderr.hasPrefix("flash: "), "\(flash)")
        #expect(!FileManager.default.fileExists(atPath: lab.folder.path("agent2/power-on")))

        let jobs = try await lab.ssh("alice", "jobs", "b2", "--json")
        #expect(jobs.exitCode == 0 && jobs.stdout == "[]\n", "\(jobs)")
        let audit = try await lab.ssh("alice", "audit", "--json")
        #expect(audit.stdout.contains("\"action\":\"flash\""), "\(audit)")
        await lab.stop()
    }
}

/// A reservation running out, as its holder meets it.
@Suite(.enabled(if: Tools.isInstalled("ssh") && Tools.isInstalled("socat") && Tools.isInstalled("ssh-keygen"),
                "needs OpenSSH and socat"))
struct ReservationEndTests {
    @Test func theHolderIsWarnedThenCutAndTheBoardPoweredOff() async throws {
        let lab = try await LabFixture()
        _ = try await lab.waitForBoards { $0.count == 2 && $0.allSatisfy { $0["online"] as? Bool == true } }
        let formatter = ISO8601DateFormatter()
        let end = formatter.string(from: Date().addingTimeInterval(15))
        let reserved = try await lab.ssh("alice", "reserve", "b1", "--until", end)
        #expect(reserved.exitCode == 0, "\(reserved)")
        #expect(try await lab.ssh("alice", "power", "b1", "on").exitCode == 0)
        let watcher = try ConsoleProcess("ssh", lab.sshArguments(as: "bob", login: "b1", terminal: true), terminal: true)
        try await watcher.expect("watching read-only")

        // Under 5 minutes left: the holder's console is warned at once.
        let holder = try ConsoleProcess("ssh", lab.sshArguments(as: "alice", login: "b1", terminal: true), terminal: true)
        try await holder.expect("b1 console")
        try await holder.expect("your reservation of b1 ends in 1 min", timeout: .seconds(5))
        try await holder.expect("reserve b1 --for 1h")
        // At the end: cut (exit 3), the board powered off, power refused.
        try await holder.expect("your reservation of b1 has ended: this session is closed", timeout: .seconds(25))
        #expect(await eventually(timeout: .seconds(5)) { holder.exitCode != nil })
        #expect(holder.exitCode == 3, "\(holder.transcript.suffix(500))")
        #expect(await eventually(timeout: .seconds(10)) { !FileManager.default.fileExists(atPath: lab.folder.path("agent1/power-on")) },
                "\(lab.coordinator.stderr.suffix(1500))")
        let power = try await lab.ssh("alice", "power", "b1", "on")
        #expect(power.exitCode == 3, "\(power)")
        // A read-only watcher lives on no reservation: it stays.
        #expect(watcher.isRunning)
        watcher.send("\u{1D}.")
        try await watcher.expect("detached from b1")
        let audit = try await lab.ssh("alice", "audit", "--json")
        #expect(audit.stdout.contains("off (the reservation ended)"), "\(audit)")
        holder.stop()
        await lab.stop()
    }
}
