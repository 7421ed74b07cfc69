import Foundation
import ProvisionerTesting
import Testing

/// A board's console as a user meets it: `ssh -tt -p PORT 127.0.0.1 console
/// BOARD [--ro]` (the real OpenSSH client on a pseudo-terminal) against
/// `provisioner-agent serve` with a virtual board running real U-Boot.
@Suite(.serialized,
       .enabled(if: Tools.isInstalled("qemu-system-aarch64") && Tools.isInstalled("ssh")
                && FileManager.default.fileExists(atPath: "/usr/lib/u-boot/qemu_arm64/u-boot.bin"),
                "needs qemu-system-aarch64, u-boot-qemu and OpenSSH"))
struct AgentConsoleTests {
    @Test func typingAKeyStopsAutobootAndUBootAnswers() async throws {
        try await withBoard { agent in
            let console = try agent.console("arm1")
            try await console.expect(#"\[provisioner\] arm1 console: Ctrl-\] opens the menu"#)
            try await powerOnAndStopAutoboot(agent, console)
            console.sendLine("printenv bootcmd")
            try await console.expect(#"\nbootcmd=\S"#)
            try await console.expect("=> ")
        }
    }

    @Test func sessionsShareTheOutputAndAReadOnlySessionCannotType() async throws {
        try await withBoard { agent in
            let first = try agent.console("arm1")
            let second = try agent.console("arm1")
            let watcher = try agent.console("arm1", readOnly: true)
            try await second.expect(#"\[provisioner\] arm1 console: "#)
            try await watcher.expect(#"\[provisioner\] arm1 console, read-only: "#)
            try await powerOnAndStopAutoboot(agent, first)

            first.sendLine("printenv bootcmd")
            let answer = try await first.expect(#"\n(bootcmd=[^\r\n]+)"#)[1]
            let sameLine = NSRegularExpression.escapedPattern(for: answer)
            try await second.expect(sameLine)
            try await watcher.expect(sameLine)

            // What the read-only session types is refused where the agent gets
            // it; a line typed in a writing session after that reaches U-Boot,
            // so the refused line would have come first.
            watcher.sendLine("echo typed-read-only")
            try await watcher.expect(#"\[provisioner\] read-only: what you type is not sent"#)
            first.sendLine("echo typed-by-the-first")
            try await first.expect(#"\ntyped-by-the-first\r?\n"#)
            try await second.expect(#"\ntyped-by-the-first\r?\n"#)
            try await watcher.expect(#"\ntyped-by-the-first\r?\n"#)
            for session in [first, second, watcher] {
                #expect(!session.transcript.contains("typed-read-only\r"), "\(session.transcript.suffix(600))")
            }
            let log = try await agent.ssh("log", "arm1").stdout
            #expect(log.contains("typed-by-the-first"), "\(log.suffix(600))")
            #expect(!log.contains("typed-read-only"), "\(log.suffix(600))")
        }
    }

    @Test func aSessionStaysAttachedWhileTheBoardGoesAndComesBack() async throws {
        try await withBoard { agent in
            let console = try agent.console("arm1")
            try await powerOnAndStopAutoboot(agent, console)
            let qemu = processes(withArgument: agent.dataPath("run/arm1.qmp"))
            try #require(qemu.count == 1, "QEMU processes: \(qemu)")
            kill(qemu[0], SIGKILL)
            try await console.expect(#"\[provisioner\] serial device \S+ is gone"#)

            let on = try await agent.ssh("power", "arm1", "on")
            #expect(on.exitCode == 0 && on.stdout == "arm1: on\n", "\(on)")
            try await console.expect(#"\[provisioner\] serial device \S+ is back"#)
            try await console.expect(#"U-Boot 20\d\d"#)
            try await console.expect("Hit any key to stop autoboot")
        }
    }

    // MARK: Helpers

    /// An agent with one virtual arm64 board; afterwards the board is powered
    /// off (and its QEMU killed if that failed) and the agent stopped.
    private func withBoard(_ body: (ServedAgent) async throws -> Void) async throws {
        let agent = try await ServedAgent(prefix: "agent-console", boards: """
              - name: arm1
                serial: { device: data/arm1.console }
                power: { type: qemu, arch: aarch64, firmware: /usr/lib/u-boot/qemu_arm64/u-boot.bin, memory: 256M }
            """)
        var failure: (any Error)?
        do { try await body(agent) } catch { failure = error }
        _ = try? await agent.ssh("power", "arm1", "off")
        for pid in processes(withArgument: agent.dataPath("run/arm1.qmp")) { kill(pid, SIGKILL) }
        #expect(await agent.stop() == 0, "\(agent.process.stderr)")
        if let failure { throw failure }
    }

    /// Powers the board on with `power arm1 on` while `console` is attached,
    /// waits for U-Boot's countdown there and types a key to stop it.
    private func powerOnAndStopAutoboot(_ agent: ServedAgent, _ console: ConsoleProcess) async throws {
        let on = try await agent.ssh("power", "arm1", "on")
        #expect(on.exitCode == 0 && on.stdout == "arm1: on\n", "\(on)")
        try await console.expect(#"U-Boot 20\d\d"#)
        try await console.expect("Hit any key to stop autoboot")
        console.send(" ")
        try await console.expect("=> ")
    }

    /// The processes that have `text` in one of their command-line arguments.
    private func processes(withArgument text: String) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry -> pid_t? in
            guard let pid = pid_t(entry),
                  let commandLine = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { return nil }
            let arguments = commandLine.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            return arguments.contains { $0.contains(text) } ? pid : nil
        }
    }
}
