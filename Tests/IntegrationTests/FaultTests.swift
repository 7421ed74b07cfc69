import Foundation
import ProvisionerTesting
import Testing

/// Faults a lab meets, end to end with the real agent (issue 15).
@Suite(.enabled(if: Tools.isInstalled("ssh") && Tools.isInstalled("socat"), "needs OpenSSH and socat"))
struct FaultTests {
    /// The USB serial adapter is pulled while a netboot waits for U-Boot:
    /// the job fails in its step, saying so, and its last console lines
    /// show the device going; the agent serves on.
    @Test func aSerialAdapterUnpluggedDuringANetbootFailsTheJobInItsStep() async throws {
        let pty = try TemporaryDirectory(prefix: "unplugged")
        let socat = try RunningProcess("socat", ["-d", "pty,link=\(pty.path("tty")),rawer", "pty,link=\(pty.path("board")),rawer"])
        defer { socat.signal(SIGKILL) }
        #expect(await eventually { FileManager.default.fileExists(atPath: pty.path("tty")) })
        let agent = try await ServedAgent(prefix: "fault-serial", boards: """
              - name: b1
                serial: { device: \(pty.path("tty")) }
                power: { type: command, on: "true", off: "true", cycle_delay: 100ms }
                network: { board_ip: 127.0.0.9, server_ip: 127.0.0.1 }
                uboot: { timeouts: { prompt: 4s } }
            """)
        let kernel = try TemporaryDirectory(prefix: "kernel")
        try kernel.createFile("Image", text: "not a kernel")
        let upload = try await RunningProcess.run("ssh", agent.sshArguments() + ["upload", "b1", "Image"], timeout: .seconds(30),
                                                  stdinPath: kernel.path("Image"))
        #expect(upload.exitCode == 0, "\(upload)")
        #expect(await eventually { agent.process.stderr.contains("console b1: opened") }, "\(agent.process.stderr)")
        let netboot = try RunningProcess("ssh", agent.sshArguments() + ["netboot", "b1", "--kernel", "Image", "--wait", "login:"])
        #expect(await eventually { FileManager.default.fileExists(atPath: agent.dataPath("jobs/b1.running")) }, "\(netboot.stderr)")
        socat.signal(SIGKILL)
        let status = await netboot.waitForExit(timeout: .seconds(30))
        #expect(status == 1, "\(netboot.stdout)\n\(netboot.stderr)")
        #expect(netboot.stderr.contains("step 'U-Boot prompt' failed"), "\(netboot.stderr)")
        #expect(netboot.stdout.contains("serial device \(pty.path("tty")) is gone"), "\(netboot.stdout)")
        let jobs = try await agent.ssh("jobs", "b1")
        #expect(jobs.exitCode == 0 && jobs.stdout.contains("U-Boot prompt"), "\(jobs)")
        #expect(try await agent.ssh("whoami").stdout == "user\n", "the agent serves on")
    }

    /// The agent is killed in the middle of an upload: nothing half-written
    /// is visible under the name, ever, and the next start removes the rest.
    @Test func anAgentKilledMidUploadLeavesNoPartialArtifact() async throws {
        let agent = try await ServedAgent(prefix: "fault-upload", boards: """
              - name: b1
                serial: { device: data/b1.console }
                power: { type: command, on: "true", off: "true" }
            """)
        let command = "head -c 1000000000 /dev/zero | ssh " + agent.sshArguments().map { "'\($0)'" }.joined(separator: " ") + " upload b1 big.img"
        let upload = try RunningProcess("sh", ["-c", command])
        defer { upload.signal(SIGKILL) }
        let folder = agent.dataPath("users/user")
        func temporaries() -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasPrefix(".upload-") }
        }
        #expect(await eventually(timeout: .seconds(20)) { !temporaries().isEmpty }, "no upload under way: \(upload.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder + "/big.img"), "visible before it is whole")
        agent.process.signal(SIGKILL)
        _ = await agent.process.waitForExit(timeout: .seconds(10))
        _ = await upload.waitForExit(timeout: .seconds(10))
        #expect(!FileManager.default.fileExists(atPath: folder + "/big.img"))

        let again = try await agent.startAgain()
        #expect(temporaries().isEmpty, "\(temporaries())")
        let files = try await agent.ssh("files", "b1")
        #expect(files.exitCode == 0 && !files.stdout.contains("big.img"), "\(files)")
        #expect(await again.terminate() == 0, "\(again.stderr)")
    }

    /// The disk under `data_dir` fills up in the middle of an upload (an
    /// 8 MiB tmpfs, a 20 MB upload): one line says so, nothing of it is left
    /// (no temp file, no name), and the agent serves on: an upload that fits
    /// goes through.
    @Test(.enabled(if: getuid() == 0 && Tools.isInstalled("unshare"), "needs root to mount a tmpfs"))
    func aFullDiskFailsTheUploadInOneLineAndLeavesNothing() async throws {
        let agent = try await ServedAgent(prefix: "fault-disk", boards: """
              - name: b1
                serial: { device: data/b1.console }
                power: { type: command, on: "true", off: "true" }
            """, dataSize: "8m")
        let folder = agent.dataPath("users/user")
        let command = "head -c 20000000 /dev/urandom | ssh " + agent.sshArguments().map { "'\($0)'" }.joined(separator: " ") + " upload b1 big.img"
        let upload = try await RunningProcess.run("sh", ["-c", command], timeout: .seconds(60))
        #expect(upload.exitCode == 1, "\(upload)")
        #expect(upload.stderr == "upload: the agent's disk is full: no room for '/u/user/big.img'\n", "\(upload.stderr)")
        let left = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        #expect(left.isEmpty, "left behind: \(left)")

        let file = try TemporaryDirectory(prefix: "payload")
        try file.createFile("kernel", text: "a kernel that fits\n")
        let small = try await RunningProcess.run("ssh", agent.sshArguments() + ["upload", "b1", "kernel"], timeout: .seconds(30),
                                                 stdinPath: file.path("kernel"))
        #expect(small.exitCode == 0, "the agent serves on: \(small)")
        let files = try await agent.ssh("files", "b1")
        #expect(files.stdout.contains("kernel") && !files.stdout.contains("big.img"), "\(files)")
        #expect(!agent.process.stderr.contains("Fatal error"), "\(agent.process.stderr)")
    }
}
