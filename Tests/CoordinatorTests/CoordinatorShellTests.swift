import Foundation
import ProvisionerTesting
import Testing

/// The front door's own behaviour with OpenSSH: the lab shell on a
/// terminal and on a pipe, the key types people use, and an agent whose
/// host key is not the one pinned.
@Suite(.enabled(if: Tools.isInstalled("ssh") && Tools.isInstalled("socat") && Tools.isInstalled("ssh-keygen"),
                "needs OpenSSH and socat"))
struct CoordinatorShellTests {
    @Test func theLabShellHasAPromptLineEditingAndHelp() async throws {
        let lab = try await LabFixture()
        _ = try await lab.waitForBoards { $0.count == 2 }
        let shell = try ConsoleProcess("ssh", lab.sshArguments(as: "bob", terminal: true), terminal: true)
        try await shell.expect("bob@lab> ")
        // A typo fixed with backspace runs the fixed command.
        shell.send("whoamx\u{7f}i\r")
        try await shell.expect("\r\nbob\r\n")
        try await shell.expect("bob@lab> ")
        shell.send("help\r")
        try await shell.expect("Commands:")
        try await shell.expect("flash BOARD")
        try await shell.expect("bob@lab> ")
        // Ctrl-C drops the line; an unknown command is one line, and the shell stays.
        shell.send("power b1 on\u{03}")
        try await shell.expect("\\^C")
        shell.send("frobnicate\r")
        try await shell.expect("unknown command 'frobnicate'")
        shell.send("boards\r")
        try await shell.expect("b1 +bench-1 +yes")
        shell.send("exit\r")
        #expect(await eventually { shell.exitCode != nil })
        #expect(shell.exitCode == 0, "\(shell.transcript.suffix(500))")
        #expect(!FileManager.default.fileExists(atPath: lab.folder.path("agent1/power-on")), "Ctrl-C ran the line")

        // On a pipe: one command a line, no prompt.
        let script = try lab.folder.createFile("script", text: "whoami\nreserve b2 --for 1h\npower b2 status\n")
        let piped = try await RunningProcess.run("ssh", ["-T"] + lab.sshArguments(as: "bob"), timeout: .seconds(30), stdinPath: script)
        #expect(piped.exitCode == 0, "\(piped)")
        #expect(piped.stdout.hasPrefix("bob\nb2: reserved by bob until "), "\(piped)")
        #expect(piped.stdout.hasSuffix("b2: off\n") && !piped.stdout.contains("lab>"), "\(piped)")
        await lab.stop()
    }

    @Test func sigtermWithAShellOpenStopsTheCoordinatorWithExitZero() async throws {
        let lab = try await LabFixture()
        _ = try await lab.waitForBoards { $0.count == 2 }
        let shell = try ConsoleProcess("ssh", lab.sshArguments(as: "bob", terminal: true), terminal: true)
        try await shell.expect("bob@lab> ")
        lab.coordinator.signal(SIGTERM)
        #expect(await lab.coordinator.waitForExit(timeout: .seconds(10)) == 0, "\(lab.coordinator.stderr.suffix(1500))")
        let log = lab.coordinator.stderr
        #expect(log.contains("coordinator: signal 15, stopping") && log.contains("coordinator: stopped"), "\(log.suffix(1500))")
        #expect(!log.contains("did not stop"), "\(log.suffix(1500))")
        #expect(await eventually { !shell.isRunning }, "\(shell.transcript.suffix(400))")
        await lab.stop()
    }

    @Test func rsaEcdsaAndEd25519KeysAreKnownWhenListed() async throws {
        let lab = try await LabFixture(users: ["alice", "bob", "carol"], keyTypes: ["bob": "rsa", "carol": "ecdsa"])
        for user in lab.users {
            let whoami = try await lab.ssh(user, "whoami")
            #expect(whoami.exitCode == 0 && whoami.stdout.hasPrefix(user), "\(user): \(whoami)")
        }
        // RSA signs with rsa-sha2-256/512 only (OpenSSH 9 offers no ssh-rsa): refused when that is all it may use.
        let sha1 = try await RunningProcess.run("ssh", ["-o", "PubkeyAcceptedAlgorithms=ssh-rsa"] + lab.sshArguments(as: "bob") + ["whoami"],
                                                timeout: .seconds(30))
        #expect(sha1.exitCode == 255 && sha1.stderr.contains("Permission denied"), "\(sha1)")
        await lab.stop()
    }

    @Test func anAgentShowingAnotherHostKeyIsNotUsed() async throws {
        let impostor = "SHA256:" + String(repeating: "A", count: 43)
        let lab = try await LabFixture(agent2Pin: impostor)
        let rows = try await lab.waitForBoards { $0.contains { $0["name"] as? String == "b1" && $0["online"] as? Bool == true } }
        #expect(!rows.contains { $0["name"] as? String == "b2" }, "\(rows)")
        #expect(await eventually { lab.coordinator.stderr.contains("host key mismatch") }, "\(lab.coordinator.stderr.suffix(1500))")
        let routed = try await lab.ssh("alice", "power", "b2", "status")
        #expect(routed.exitCode == 1 && routed.stderrLines.count == 1 && routed.stderr.contains("no board 'b2'"), "\(routed)")
        await lab.stop()
    }
}
