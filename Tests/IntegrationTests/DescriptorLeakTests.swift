import Foundation
import ProvisionerTesting
import Testing

/// Nothing the agent starts inherits its descriptors (issue 20): a QEMU
/// left running after the agent died held the agent's SSH listening
/// socket, and the next agent could not listen ("Address already in use").
/// And a restart leaves the boards alone: the next agent takes the running
/// QEMU over, its console carrying on, instead of power-cycling it.
@Suite(.enabled(if: Tools.isInstalled("qemu-system-aarch64") && Tools.isInstalled("ssh")
                && FileManager.default.fileExists(atPath: "/usr/lib/u-boot/qemu_arm64/u-boot.bin"),
                "needs qemu-system-aarch64, u-boot-qemu and OpenSSH"))
struct DescriptorLeakTests {
    /// What each descriptor of `pid` points at (`socket:[123]`, a path), by number.
    static func descriptors(of pid: Int32) -> [Int: String] {
        let folder = "/proc/\(pid)/fd"
        var result: [Int: String] = [:]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] {
            guard let number = Int(name), let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(folder)/\(name)")
            else { continue }
            result[number] = target
        }
        return result
    }

    /// The PIDs of `pid`'s children (every thread's).
    static func children(of pid: Int32) -> [Int32] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.flatMap { task in
            ((try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/children", encoding: .utf8)) ?? "")
                .split(separator: " ").compactMap { Int32($0) }
        }
    }

    @Test func childrenGetNoneOfTheAgentsDescriptorsAndAKilledAgentsBoardsAreTakenOverByTheNext() async throws {
        let notes = try TemporaryDirectory(prefix: "fd-leak")
        let agent = try await ServedAgent(prefix: "fd-leak-agent", boards: """
              - name: cmd1
                serial: { device: data/cmd1.console }
                power: { type: command, on: "sleep 60 >/dev/null 2>&1 & echo $! > \(notes.path("pid"))", off: "true" }
              - name: arm1
                serial: { device: data/arm1.console }
                power: { type: qemu, arch: aarch64, firmware: /usr/lib/u-boot/qemu_arm64/u-boot.bin, memory: 256M }
            """)
        let agentPID = agent.process.pid
        let agentTargets = Set(Self.descriptors(of: agentPID).values)
        #expect(agentTargets.contains { $0.hasPrefix("socket:") }, "the agent's own sockets: \(agentTargets)")

        // What the command starts has stdin, stdout and stderr, nothing else
        // (a child of its shell, which redirects none of the three).
        #expect(try await agent.ssh("power", "cmd1", "on").exitCode == 0)
        let sleeper = try #require(Int32(try String(contentsOfFile: notes.path("pid"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)))
        defer { kill(sleeper, SIGKILL) }
        let held = Self.descriptors(of: sleeper)
        #expect(held.keys.sorted() == [0, 1, 2], "\(held)")

        // QEMU: none of the agent's descriptors beyond the log it was given.
        let console = try await agent.powerOnAtThePrompt("arm1")
        defer { console.stop() }
        let qemu = try #require(Self.children(of: agentPID).first { pid in
            ((try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? "").hasPrefix("qemu-system")
        }, "no QEMU child of the agent")
        defer {
            kill(qemu, SIGKILL)
            var status: Int32 = 0
            for _ in 0..<100 where kill(qemu, 0) == 0 { usleep(20_000); _ = waitpid(qemu, &status, WNOHANG) }
        }
        let agentNow = Set(Self.descriptors(of: agentPID).values)
        let shared = Self.descriptors(of: qemu).filter { $0.key > 2 && agentNow.contains($0.value) && $0.value.hasPrefix("socket:") }
        #expect(shared.isEmpty, "QEMU holds the agent's sockets: \(shared)")

        // And every descriptor of the agent itself is close-on-exec.
        for (number, target) in Self.descriptors(of: agentPID) where number > 2 {
            let info = (try? String(contentsOfFile: "/proc/\(agentPID)/fdinfo/\(number)", encoding: .utf8)) ?? ""
            let flags = info.split(separator: "\n").first { $0.hasPrefix("flags:") }
                .flatMap { Int($0.dropFirst(6).trimmingCharacters(in: .whitespaces), radix: 8) }
            guard let flags else { continue }  // closed meanwhile
            #expect(flags & 0o2000000 != 0, "fd \(number) (\(target)) is not close-on-exec")
        }

        // The agent dies; QEMU runs on; a new agent listens on the same port.
        agent.process.signal(SIGKILL)
        _ = await agent.process.waitForExit(timeout: .seconds(10))
        #expect(kill(qemu, 0) == 0, "QEMU outlives the agent")
        let again = try RunningProcess(try Tools.agent(), ["serve", "--config", agent.folder.path("agent.yaml")])
        let listening = try? await again.waitForLine(containing: "ssh: listening on", timeout: .seconds(20))
        #expect(listening != nil, "\(again.stderr)")
        #expect(!again.stderr.contains("Address already in use"), "\(again.stderr)")

        // It took the running board over: on, the same QEMU, the console where it was.
        #expect(again.stderr.contains("power arm1: took over QEMU (pid \(qemu), running)"), "\(again.stderr.split(separator: "\n").filter { $0.contains("arm1") })")
        #expect(try await agent.ssh("power", "arm1", "status").stdout == "arm1: on\n")
        let resumed = try agent.console("arm1")
        defer { resumed.stop() }
        try await resumed.expect(#"\[provisioner\] arm1 console: "#)
        resumed.sendLine("setenv t still-42; printenv t")
        try await resumed.expect("t=still-42")
        #expect(kill(qemu, 0) == 0)
        // Off quits it.
        let off = try await agent.ssh("power", "arm1", "off")
        #expect(off.exitCode == 0 && off.stdout == "arm1: off\n", "\(off)")
        #expect(await eventually { kill(qemu, 0) != 0 }, "QEMU \(qemu) still runs")
        #expect(await again.terminate() == 0, "\(again.stderr)")
    }
}
