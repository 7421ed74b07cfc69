import Foundation
import ProvisionerTesting
import Testing

/// A stopped agent (SIGTERM) and its virtual board (issue 20): with
/// `on_stop: keep`, the default, QEMU runs on, the console session is told
/// why it ends, and the next agent takes the board over where it was — U-Boot
/// still at its prompt, no new banner; with `on_stop: off` the QEMU is gone.
@Suite(.serialized, .enabled(if: Tools.isInstalled("qemu-system-aarch64") && Tools.isInstalled("ssh")
                             && FileManager.default.fileExists(atPath: "/usr/lib/u-boot/qemu_arm64/u-boot.bin"),
                             "needs qemu-system-aarch64, u-boot-qemu and OpenSSH"))
struct VirtualBoardRestartTests {
    static let board = """
          - name: arm1
            serial: { device: data/arm1.console }
            power: { type: qemu, arch: aarch64, firmware: /usr/lib/u-boot/qemu_arm64/u-boot.bin, memory: 256M }
        """

    /// Powers arm1 on and stops U-Boot at its prompt, through a console
    /// that stays attached; returns the console and QEMU's PID.
    static func boardAtItsPrompt(_ agent: ServedAgent) async throws -> (ConsoleProcess, Int32) {
        let console = try await agent.powerOnAtThePrompt("arm1")
        let qemu = try #require(processIDs(withArgument: agent.dataPath("run/arm1.qmp")).first, "no QEMU for arm1")
        return (console, qemu)
    }

    /// Whether `pid` still runs (a zombie does not).
    static func runs(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let state = stat.split(separator: ")").last?.split(separator: " ").first else { return false }
        return state != "Z" && state != "X"
    }

    @Test func onStopKeepLeavesTheBoardRunningAndTheNextAgentCarriesOnAtItsPrompt() async throws {
        let agent = try await ServedAgent(prefix: "restart-keep", boards: Self.board)
        let (console, qemu) = try await Self.boardAtItsPrompt(agent)
        defer { console.stop(); kill(qemu, SIGKILL) }

        #expect(await agent.stop() == 0, "\(agent.process.stderr.suffix(800))")
        try await console.expect("the agent test is stopping \\(a restart or an upgrade\\): this session ends; the boards are left as they are")
        for _ in 0..<100 where console.isRunning { try await Task.sleep(for: .milliseconds(50)) }
        #expect(console.exitCode == 1, "\(console.transcript.suffix(300))")
        #expect(Self.runs(qemu), "QEMU was stopped with the agent")

        let again = try await agent.startAgain()
        #expect(again.stderr.contains("power arm1: took over QEMU (pid \(qemu), running)"), "\(again.stderr)")
        let status = try await agent.ssh("power", "arm1", "status")
        #expect(status.stdout == "arm1: on\n", "\(status)")
        let resumed = try agent.console("arm1")
        defer { resumed.stop() }
        try await resumed.expect(#"\[provisioner\] arm1 console: "#)
        resumed.sendLine("version")
        try await resumed.expect("U-Boot 2023.01")
        try await resumed.expect("=> ")
        #expect(!resumed.transcript.contains("Hit any key to stop autoboot"), "U-Boot started anew: \(resumed.transcript)")
        #expect(Self.runs(qemu))
        #expect(await again.terminate() == 0, "\(again.stderr.suffix(800))")
    }

    @Test func onStopOffEndsTheVirtualBoardWithTheAgent() async throws {
        let agent = try await ServedAgent(prefix: "restart-off", settings: "on_stop: off", boards: Self.board)
        let (console, qemu) = try await Self.boardAtItsPrompt(agent)
        defer { console.stop(); kill(qemu, SIGKILL) }

        #expect(await agent.stop() == 0, "\(agent.process.stderr.suffix(800))")
        try await console.expect("its boards are powered off \\(agent.on_stop: off\\)")
        #expect(await eventually { !Self.runs(qemu) }, "QEMU \(qemu) still runs")
        #expect(agent.process.stderr.contains("power arm1: off as the agent stops (agent.on_stop: off)"), "\(agent.process.stderr)")

        let again = try await agent.startAgain()
        let status = try await agent.ssh("power", "arm1", "status")
        #expect(status.stdout == "arm1: off\n", "\(status)")
        #expect(await again.terminate() == 0, "\(again.stderr.suffix(800))")
    }
}

extension ServedAgent {
    /// Attaches a console to virtual board `board`, powers it on and stops
    /// U-Boot at its prompt; the console stays attached (stop it when done).
    func powerOnAtThePrompt(_ board: String) async throws -> ConsoleProcess {
        let console = try self.console(board)
        try await console.expect("\\[provisioner\\] \(board) console: ")
        let on = try await ssh("power", board, "on")
        #expect(on.exitCode == 0, "\(on)")
        try await console.expect("Hit any key to stop autoboot", timeout: .seconds(60))
        console.send(" ")
        try await console.expect("=> ")
        return console
    }
}
