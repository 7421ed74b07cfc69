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
        // A port nobody listens on: the open is refused (the agent looked first), with the reason in the log.
        let nothing = try await lab.tunnel("bob", to: "b1:\(closedPort)", stdinPath: input)
        #expect(nothing.exitCode == 255 && nothing.stdout.isEmpty && nothing.stderr.contains("forwarding failed"), "\(nothing)")
        #expect(await eventually { lab.coordinator.stderr.contains("tunnel: refused bob") && lab.coordinator.stderr.contains("Connection refused") },
                "\(lab.coordinator.stderr.suffix(1500))")

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
        // The agent's banner and the coordinator's warning, in either order:
        // the warning is sent the moment the session is routed.
        #expect(await eventually(timeout: .seconds(5)) {
            holder.transcript.contains("b1 console") && holder.transcript.contains("your reservation of b1 ends in 1 min")
        }, "\(holder.transcript)")
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

/// `ssh -J lab root@BOARD` as a person types it: the real OpenSSH client
/// jumps through the coordinator and the agent to a real sshd standing in
/// for the board's (on 127.0.0.1, b1's board_ip, on a port of its own).
@Suite(.enabled(if: Tools.isInstalled("ssh") && Tools.isInstalled("socat") && FileManager.default.isExecutableFile(atPath: "/usr/sbin/sshd"),
                "needs OpenSSH's client and server, and socat"))
struct JumpHostTests {
    @Test func sshDashJReachesTheBoardsSSHDaemonForTheHolder() async throws {
        let lab = try await LabFixture()
        let folder = lab.folder
        let sshdPort = try freeTCPPort()
        _ = try await RunningProcess.run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", folder.path("board_host_key")])
        let alicePublic = try String(contentsOfFile: folder.path("alice.pub"), encoding: .utf8)
        try folder.createFile("board_authorized_keys", text: alicePublic)
        try folder.createFile("sshd_config", text: """
            ListenAddress 127.0.0.1:\(sshdPort)
            HostKey \(folder.path("board_host_key"))
            AuthorizedKeysFile \(folder.path("board_authorized_keys"))
            PermitRootLogin prohibit-password
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            StrictModes no
            UsePAM no
            PidFile none

            """)
        // Not through Foundation's Process: sshd closes every descriptor it
        // inherits, and Foundation takes that for its exit and blocks reaping it.
        // sshd refuses to start without its privilege-separation folder
        // (scripts/setup makes it; /run is new after each boot).
        if !FileManager.default.fileExists(atPath: "/run/sshd") {
            try FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o755])
        }
        let sshd = try ConsoleProcess("/usr/sbin/sshd", ["-D", "-e", "-f", folder.path("sshd_config")])
        defer { sshd.stop() }
        let options = """
              IdentityFile \(folder.path("alice"))
              IdentitiesOnly yes
              StrictHostKeyChecking no
              UserKnownHostsFile /dev/null
              BatchMode yes
              LogLevel ERROR
            """
        try folder.createFile("ssh_config", text: """
            Host lab
              HostName 127.0.0.1
              Port \(lab.port)
            \(options)
            Host b1
              Port \(sshdPort)
              User root
            \(options)

            """)
        _ = try await lab.waitForBoards { $0.count == 2 && $0.allSatisfy { $0["online"] as? Bool == true } }
        let jump = ["-F", folder.path("ssh_config"), "-J", "lab", "b1", "echo", "hello from the board sshd"]

        let unreserved = try await RunningProcess.run("ssh", jump, timeout: .seconds(30))
        #expect(unreserved.exitCode == 255 && !unreserved.stdout.contains("hello"), "\(unreserved)")

        #expect(try await lab.ssh("alice", "reserve", "b1", "--for", "1h").exitCode == 0)
        let jumped = try await RunningProcess.run("ssh", jump, timeout: .seconds(30))
        #expect(jumped.exitCode == 0 && jumped.stdout == "hello from the board sshd\n",
                "\(jumped)\n\(lab.coordinator.stderr.suffix(1000))\n\(sshd.transcript.suffix(1000))")
        await lab.stop()
    }
}
