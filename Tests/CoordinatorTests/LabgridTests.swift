import Foundation
import ProvisionerTesting
import Testing

/// A labgrid user (issue 19): labgrid from PyPI (scripts/setup puts it in
/// .cache/tools-venv) drives a lab board through the real coordinator and
/// agents, a QEMU arm64 board with Debian's U-Boot, with labgrid's own
/// drivers and nothing of ours: `ExternalConsoleDriver` on `ssh -tt b1@lab`,
/// `ExternalPowerDriver` on `ssh lab power b1 on|off|cycle`, `UBootDriver`
/// and `UBootStrategy`. The environment file and the ssh Host entry are the
/// ones docs/labgrid.md shows; the labgrid side is Tests/Peers/labgrid_uboot.py,
/// which prints `ok: …` for each check.
@Suite(.serialized, .enabled(if: Tools.isInstalled("ssh") && LabFixture.canRunVirtualBoards && PeerTools.hasLabgrid,
                             "needs OpenSSH, QEMU, u-boot-qemu and labgrid in .cache/tools-venv (scripts/setup)"))
struct LabgridTests {
    static let steps = ["raises: exit 3", "stopped autoboot at U-Boot's prompt",
                        "run('version'): exit 0, 'U-Boot 20", "exit 1, U-Boot's own status", "labgrid_probe=reached-over-ssh",
                        "the lab says 'b1: off'", "release b1"]

    @Test func labgridsDriversReachUBootThroughTheLabAndRunACommand() async throws {
        let lab = try await LabFixture(virtualBoards: true)
        defer { Task { await lab.stop() } }
        _ = try await lab.waitForBoards { $0.count == 2 && $0.allSatisfy { $0["online"] as? Bool == true } }
        // b1 is the one board with the tag emmc.
        let labgrid = try await Self.runLabgrid(in: lab, ["--replay-probe", "--tag", "emmc"])
        for step in Self.steps + ["reserve --tag emmc --for 1h --wait: b1"] {
            #expect(labgrid.stdout.contains("ok: ") && labgrid.stdout.contains(step), "missing: \(step)")
        }
        // Opened with the board off, the console replays nothing of the
        // last boot (each power action starts the scrollback afresh), so
        // labgrid's UBootDriver never takes an old U-Boot prompt for the
        // new boot's.
        #expect(labgrid.stdout.contains("replay: no stale U-Boot prompt"), "\(labgrid.stdout)")
        // The lab knows who did it: labgrid's power commands ran as bob.
        let audit = try await lab.ssh("alice", "audit")
        #expect(audit.stdout.contains("bob") && audit.stdout.contains("power") && audit.stdout.contains("cycle"), "\(audit)")
        await lab.stop()
    }

    /// A second boot after `transition('off')` meets the live prompt of a
    /// fresh U-Boot, and the same environment file works under labgrid's
    /// pytest plugin.
    @Test func everyTransitionMeetsTheLivePrompt() async throws {
        let lab = try await LabFixture(virtualBoards: true)
        defer { Task { await lab.stop() } }
        let agent = lab.agents[0]
        _ = try await lab.waitForBoards { $0.count == 2 && $0.allSatisfy { $0["online"] as? Bool == true } }

        let labgrid = try await Self.runLabgrid(in: lab, ["--replay-probe", "--second-boot"], agentLog: agent)
        for step in Self.steps + ["reserve b1 --for 1h: b1: reserved by bob", "a second transition('uboot')", "reached a fresh U-Boot"] {
            #expect(labgrid.stdout.contains("ok: ") && labgrid.stdout.contains(step), "missing: \(step)")
        }
        #expect(labgrid.stdout.contains("replay: no stale U-Boot prompt"), "\(labgrid.stdout)")

        // The same environment file under labgrid's pytest plugin, the way
        // most labgrid users run their tests, with b1 held again.
        #expect(try await lab.ssh("bob", "reserve", "b1", "--for", "1h").exitCode == 0)
        let pytest = try await RunningProcess.run(PeerTools.python, ["-m", "pytest", "-s", "-q", "-p", "no:cacheprovider",
                                                                     "--rootdir", lab.folder.path, "--lg-env", lab.folder.path("env.yaml"),
                                                                     PeerTools.script("test_labgrid_uboot.py")],
                                                  timeout: .seconds(300), workingDirectory: lab.folder.path,
                                                  environment: Self.labgridEnvironment)
        print(pytest.stdout.split(separator: "\n").filter { $0.hasPrefix("ok: ") }.joined(separator: "\n"))
        #expect(pytest.exitCode == 0, "\(pytest)\n\(agent.stderr.suffix(2000))")
        #expect(pytest.stdout.contains("ok: pytest --lg-env: UBootDriver.run_check('version'): 'U-Boot 20"), "\(pytest)")
        #expect(try await lab.ssh("bob", "release", "b1").exitCode == 0)
        await lab.stop()
    }

    /// The board's name for the environment file's `!template`s; no
    /// `__pycache__` left in Tests/Peers by pytest's import of the test file.
    static let labgridEnvironment = ProcessInfo.processInfo.environment.merging(["LG_BOARD": "b1", "PYTHONDONTWRITEBYTECODE": "1"]) { $1 }

    /// Writes what a labgrid user writes, a Host entry for the lab and
    /// labgrid's environment file (docs/labgrid.md), and runs the labgrid
    /// side as bob. `-F` only because the test's ssh config is not in ~/.ssh.
    static func runLabgrid(in lab: LabFixture, _ options: [String], agentLog: RunningProcess? = nil) async throws -> ProcessResult {
        let sshConfig = lab.folder.path("ssh_config")
        try lab.folder.createFile("ssh_config", text: """
            Host lab
                HostName 127.0.0.1
                Port \(lab.port)
                IdentityFile \(lab.folder.path("bob"))
                IdentitiesOnly yes
                BatchMode yes
                EscapeChar none
                StrictHostKeyChecking no
                UserKnownHostsFile /dev/null
                LogLevel ERROR

            """)
        let ssh = "ssh -F \(sshConfig)"
        // The board's name comes from $LG_BOARD (labgrid maps LG_* variables
        // into !template strings), as after `export LG_BOARD=$(ssh lab reserve --tag …)`.
        try lab.folder.createFile("env.yaml", text: """
            targets:
              main:
                drivers:
                  ExternalConsoleDriver:
                    cmd: !template '\(ssh) -tt ${LG_BOARD}@lab'
                  ExternalPowerDriver:
                    cmd_on: !template '\(ssh) lab power ${LG_BOARD} on'
                    cmd_off: !template '\(ssh) lab power ${LG_BOARD} off'
                    cmd_cycle: !template '\(ssh) lab power ${LG_BOARD} cycle'
                  UBootDriver:
                    prompt: '=> '
                  ShellDriver:
                    prompt: 'root@[\\w-]+:[^ ]+ '
                    login_prompt: ' login: '
                    username: 'root'
                  UBootStrategy: {}

            """)
        let log = lab.folder.path("labgrid.log")
        let started = ContinuousClock.now
        let labgrid = try await RunningProcess.run(PeerTools.python, [PeerTools.script("labgrid_uboot.py"),
                                                                      "--env", lab.folder.path("env.yaml"), "--board", "b1",
                                                                      "--ssh-config", sshConfig, "--log", log] + options,
                                                   timeout: .seconds(300), workingDirectory: lab.folder.path,
                                                   environment: Self.labgridEnvironment)
        print(labgrid.stdout + "labgrid took \(ContinuousClock.now - started)")
        if labgrid.exitCode != 0 {
            let console = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            Issue.record("""
                \(labgrid)
                --- labgrid's log (end):
                \(console.suffix(4000))
                --- coordinator:
                \(lab.coordinator.stderr.suffix(2000))
                --- bench-1:
                \((agentLog ?? lab.agents[0]).stderr.suffix(2000))
                """)
        }
        return labgrid
    }
}
