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
        let folder = try TemporaryDirectory(prefix: "agent-serve")
        for name in ["user", "stranger"] {
            let made = try await RunningProcess.run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "\(name)@test",
                                                                  "-f", folder.path(name)])
            #expect(made.exitCode == 0)
        }
        try FileManager.default.copyItem(atPath: folder.path("user.pub"), toPath: folder.path("authorized_keys"))
        let port = try freeTCPPort()
        try """
            agent:
              name: test
              data_dir: data
              ssh: { listen: "127.0.0.1:\(port)", authorized_keys: authorized_keys }
              tftp: { listen: "127.0.0.1:0" }
              http: { listen: "127.0.0.1:0" }
            boards:
              - name: arm1
                serial: { device: data/arm1.console }
                power: { type: qemu, arch: aarch64, firmware: /usr/lib/u-boot/qemu_arm64/u-boot.bin, memory: 256M }
            """.write(toFile: folder.path("agent.yaml"), atomically: true, encoding: .utf8)
        let agent = try RunningProcess(try Tools.agent(), ["serve", "--config", folder.path("agent.yaml")])
        try await agent.waitForLine(containing: "ssh: listening on", timeout: .seconds(20))

        func ssh(_ key: String, _ command: String...) async throws -> ProcessResult {
            try await RunningProcess.run("ssh", ["-p", "\(port)", "-i", folder.path(key), "-o", "BatchMode=yes",
                                                 "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                                                 "-o", "LogLevel=ERROR", "127.0.0.1"] + command, timeout: .seconds(30))
        }
        #expect(try await ssh("user", "whoami").stdout == "user\n")
        let on = try await ssh("user", "power", "arm1", "on")
        #expect(on.exitCode == 0 && on.stdout == "arm1: on\n", "\(on)")
        // The log holds U-Boot's boot from its first line on, timestamped.
        var log = ""
        for _ in 0..<150 where !log.contains("Hit any key to stop autoboot") {
            try await Task.sleep(for: .milliseconds(200))
            log = try await ssh("user", "log", "arm1").stdout
        }
        #expect(log.contains("U-Boot"), "\(log)")
        #expect(log.contains("Hit any key to stop autoboot"), "\(log)")
        #expect(log.split(separator: "\n").allSatisfy { $0.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "#, options: .regularExpression) != nil })
        #expect(try await ssh("user", "power", "arm1", "status").stdout == "arm1: on\n")

        let off = try await ssh("user", "power", "arm1", "off")
        #expect(off.exitCode == 0 && off.stdout == "arm1: off\n", "\(off)")
        #expect(try await ssh("user", "power", "arm1", "status").stdout == "arm1: off\n")

        let unknown = try await ssh("user", "power", "arm9", "on")
        #expect(unknown.exitCode == 1 && unknown.stderrLines.count == 1, "\(unknown)")
        let refused = try await ssh("stranger", "whoami")
        #expect(refused.exitCode == 255 && refused.stderr.contains("Permission denied"), "\(refused)")

        agent.signal(SIGTERM)
        #expect(await agent.waitForExit(timeout: .seconds(10)) == 0, "\(agent.stderr)")
    }
}

/// A TCP port nobody listens on right now (the kernel's pick, then released).
func freeTCPPort() throws -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw TestSetupError("no free TCP port") }
    return UInt16(bigEndian: address.sin_port)
}
