import Foundation
import ProvisionerTesting
import Testing

/// The agent daemon as a user meets it: `provisioner-agent serve` with a
/// virtual board (QEMU + real U-Boot), driven with the real OpenSSH client.
@Suite(.enabled(if: Tools.isInstalled("qemu-system-aarch64") && Tools.isInstalled("ssh")
                && FileManager.default.fileExists(atPath: "/usr/lib/u-boot/qemu_arm64/u-boot.bin"),
                "needs qemu-system-aarch64, u-boot-qemu and OpenSSH"))
struct AgentServeTests {
    @Test func powerLogAndKeysThroughTheSSHPort() async throws {
        let agent = try await ServedAgent(prefix: "agent-serve", boards: """
              - name: arm1
                serial: { device: data/arm1.console }
                power: { type: qemu, arch: aarch64, firmware: /usr/lib/u-boot/qemu_arm64/u-boot.bin, memory: 256M }
            """)
        try await agent.makeKey("stranger")
        #expect(try await agent.ssh("whoami").stdout == "user\n")
        let on = try await agent.ssh("power", "arm1", "on")
        #expect(on.exitCode == 0 && on.stdout == "arm1: on\n", "\(on)")
        // The log holds U-Boot's boot from its first line on, timestamped.
        var log = ""
        for _ in 0..<150 where !log.contains("Hit any key to stop autoboot") {
            try await Task.sleep(for: .milliseconds(200))
            log = try await agent.ssh("log", "arm1").stdout
        }
        #expect(log.contains("U-Boot"), "\(log)")
        #expect(log.contains("Hit any key to stop autoboot"), "\(log)")
        #expect(log.split(separator: "\n").allSatisfy { $0.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "#, options: .regularExpression) != nil })
        #expect(try await agent.ssh("power", "arm1", "status").stdout == "arm1: on\n")

        let off = try await agent.ssh("power", "arm1", "off")
        #expect(off.exitCode == 0 && off.stdout == "arm1: off\n", "\(off)")
        #expect(try await agent.ssh("power", "arm1", "status").stdout == "arm1: off\n")

        let unknown = try await agent.ssh("power", "arm9", "on")
        #expect(unknown.exitCode == 1 && unknown.stderrLines.count == 1, "\(unknown)")
        let refused = try await agent.ssh(as: "stranger", "whoami")
        #expect(refused.exitCode == 255 && refused.stderr.contains("Permission denied"), "\(refused)")

        #expect(await agent.stop() == 0, "\(agent.process.stderr)")
    }
}
