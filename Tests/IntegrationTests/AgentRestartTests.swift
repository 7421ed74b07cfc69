import Foundation
import ProvisionerTesting
import Testing

/// An agent restart leaves the boards alone (issue 20), with a `command`
/// switch whose scripts write down every call: the relay is asked its
/// status and never switched, a job it died in is shown interrupted, and
/// `agent.on_stop` decides what SIGTERM does.
@Suite(.enabled(if: Tools.isInstalled("ssh"), "needs OpenSSH"))
struct AgentRestartTests {
    /// A relay as a file: `on` makes it, `off` removes it, `status` tests
    /// it; each call appends its name to `calls`.
    final class Relay: Sendable {
        let folder: TemporaryDirectory
        init() throws { folder = try TemporaryDirectory(prefix: "relay") }
        var board: String {
            let state = folder.path("on"), calls = folder.path("calls")
            return """
                  - name: b1
                    serial: { device: data/b1.console }
                    power: { type: command, on: "echo on >> \(calls); touch \(state)", off: "echo off >> \(calls); rm -f \(state)",
                             status: "echo status >> \(calls); test -e \(state)" }
                    network: { board_ip: 127.0.0.9, server_ip: 127.0.0.1 }
                """
        }
        var calls: [String] {
            ((try? String(contentsOfFile: folder.path("calls"), encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }
    }

    @Test func aKilledAgentsSuccessorAsksTheRelayAndRecordsTheJobItDiedIn() async throws {
        let relay = try Relay()
        let agent = try await ServedAgent(prefix: "agent-restart", boards: relay.board)
        let on = try await agent.ssh("power", "b1", "on")
        #expect(on.exitCode == 0 && on.stdout == "b1: on\n", "\(on)")
        // A netboot waits for a U-Boot that never answers on this console.
        let kernel = try TemporaryDirectory(prefix: "kernel")
        try kernel.createFile("Image", text: "not a kernel")
        let upload = try await RunningProcess.run("ssh", agent.sshArguments() + ["upload", "b1", "Image"], timeout: .seconds(30),
                                                  stdinPath: kernel.path("Image"))
        #expect(upload.exitCode == 0, "\(upload)")
        let netboot = try RunningProcess("ssh", agent.sshArguments() + ["netboot", "b1", "--kernel", "Image", "--wait", "login:"])
        #expect(await eventually { FileManager.default.fileExists(atPath: agent.dataPath("jobs/b1.running")) }, "\(netboot.stderr)")
        // The job cycles the relay (off, on), then waits for U-Boot.
        #expect(await eventually { relay.calls.filter { $0 != "status" } == ["on", "off", "on"] }, "\(relay.calls)")
        let before = relay.calls

        agent.process.signal(SIGKILL)
        _ = await agent.process.waitForExit(timeout: .seconds(10))
        _ = await netboot.waitForExit(timeout: .seconds(10))
        #expect(netboot.exitCode != 0)
        let again = try await agent.startAgain()
        #expect(again.stderr.contains("jobs: a job on b1 was running when the agent stopped: recorded as interrupted"), "\(again.stderr)")
        let status = try await agent.ssh("power", "b1", "status")
        #expect(status.stdout == "b1: on\n", "\(status)")
        #expect(relay.calls.dropFirst(before.count).allSatisfy { $0 == "status" }, "switched by the restart: \(relay.calls)")
        #expect(relay.calls.filter { $0 != "status" } == ["on", "off", "on"], "\(relay.calls)")

        let jobs = try await agent.ssh("jobs", "b1", "--json")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(jobs.stdout.utf8)) as? [[String: Any]], "\(jobs)")
        #expect(rows.count == 1)
        #expect(rows.first?["kind"] as? String == "netboot" && rows.first?["result"] as? String == "interrupted", "\(jobs.stdout)")
        #expect(rows.first?["error"] as? String == "agent: stopped while the job ran")
        #expect(await again.terminate() == 0, "\(again.stderr)")
        #expect(!relay.calls.dropFirst(before.count).contains("off"), "on_stop keep (the default) leaves the relay on: \(relay.calls)")
    }

    /// The temp files of uploads a dead agent was writing are removed at the
    /// next start, and only they: nothing half-written lingers, nothing
    /// finished goes.
    @Test func uploadsTheLastRunLeftUnfinishedAreRemovedAtTheNextStart() async throws {
        let relay = try Relay()
        let agent = try await ServedAgent(prefix: "agent-uploads", boards: relay.board)
        let file = try TemporaryDirectory(prefix: "payload")
        try file.createFile("kernel", text: "a kernel\n")
        let upload = try await RunningProcess.run("ssh", agent.sshArguments() + ["upload", "b1", "sub/kernel"], timeout: .seconds(30),
                                                  stdinPath: file.path("kernel"))
        #expect(upload.exitCode == 0, "\(upload)")
        agent.process.signal(SIGKILL)
        _ = await agent.process.waitForExit(timeout: .seconds(10))
        for left in ["users/user/.upload-0123456789abcdef", "users/user/sub/.upload-fedcba9876543210"] {
            try Data("half".utf8).write(to: URL(fileURLWithPath: agent.dataPath(left)))
        }
        let again = try await agent.startAgain()
        #expect(again.stderr.contains("artifacts: removed 2 uploads that the last run of the agent left unfinished"), "\(again.stderr)")
        #expect(!FileManager.default.fileExists(atPath: agent.dataPath("users/user/.upload-0123456789abcdef")))
        #expect(!FileManager.default.fileExists(atPath: agent.dataPath("users/user/sub/.upload-fedcba9876543210")))
        #expect(FileManager.default.contents(atPath: agent.dataPath("users/user/sub/kernel")) == Data("a kernel\n".utf8))
        #expect(await again.terminate() == 0, "\(again.stderr)")
    }

    /// SIGTERM with `on_stop: off`: the sessions are told why they end,
    /// and every board is powered off.
    @Test func onStopOffPowersTheBoardsOffAndTellsTheSessionsWhy() async throws {
        let relay = try Relay()
        let agent = try await ServedAgent(prefix: "agent-on-stop", settings: "on_stop: off", boards: relay.board)
        #expect(try await agent.ssh("power", "b1", "on").stdout == "b1: on\n")
        let shell = try ConsoleProcess("ssh", agent.sshArguments(terminal: true), terminal: true)
        defer { shell.stop() }
        try await shell.expect("user@test> ")
        #expect(await agent.stop() == 0, "\(agent.process.stderr)")
        #expect(relay.calls.last == "off", "\(relay.calls)")
        #expect(agent.process.stderr.contains("power b1: off as the agent stops (agent.on_stop: off)"), "\(agent.process.stderr)")
        try await shell.expect("the agent test is stopping \\(a restart or an upgrade\\): this session ends; its boards are powered off")
        for _ in 0..<100 where shell.isRunning { try await Task.sleep(for: .milliseconds(50)) }
        #expect(shell.exitCode == 1, "\(shell.transcript.suffix(300))")
    }
}
