import AgentCore
import Foundation
import SystemSupport
import Testing

/// `examples/agent.yaml`, the commented example that documents every key.
private let examplePath = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("examples/agent.yaml").path

/// The example with its active `power:` block replaced by the commented-out
/// variant of `type`, uncommented as a user would.
private func exampleWithPower(_ type: String) throws -> String {
    var lines = try String(contentsOfFile: examplePath, encoding: .utf8)
        .split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    let start = try #require(lines.firstIndex { $0.hasPrefix("    # power: { type: \(type),") },
                             "the example documents power type \(type)")
    var variant: [String] = []
    for line in lines[start...] {
        variant.append("    " + line.dropFirst("    # ".count))
        if line.contains("}") { break }
    }
    let block = try #require(lines.firstIndex { $0.hasPrefix("    power:") })
    let end = lines[(block + 1)...].firstIndex { !$0.hasPrefix("      ") } ?? lines.endIndex
    lines.replaceSubrange(block..<end, with: variant)
    return lines.joined(separator: "\n")
}

@Suite("examples/agent.yaml")
struct AgentConfigExampleTests {
    @Test func exampleParsesWithTheDocumentedAgentSettings() throws {
        let config = try AgentConfig(file: examplePath)
        #expect(config.file == examplePath)
        #expect(config.agent.name == "bench-1")
        #expect(config.agent.dataDirectory == "/var/lib/provisioner")
        #expect(config.agent.ssh.listen == (try SocketAddress(parsing: "0.0.0.0:2223")))
        #expect(config.agent.ssh.hostKey == "/etc/provisioner/agent_host_key")
        #expect(config.agent.ssh.authorizedKeys == "/etc/provisioner/agent_authorized_keys")
        #expect(config.agent.ssh.coordinatorKeys == "/etc/provisioner/agent_coordinator_keys")
        #expect(config.agent.tftp.listen == (try SocketAddress(parsing: "0.0.0.0:69")))
        #expect(config.agent.http.listen == (try SocketAddress(parsing: "0.0.0.0:8080")))
        #expect(config.agent.http.publicURL == "http://192.168.5.1:8080")
    }

    @Test func exampleBoardHasTheDocumentedValues() throws {
        let config = try AgentConfig(file: examplePath)
        #expect(config.boards.map(\.name) == ["board1"])
        let board = try #require(config.boards.first)
        #expect(board.serial.device == "/dev/serial/by-path/platform-fd500000.pcie-pci-0000:01:00.0-usb-0:1.3:1.0-port0")
        #expect(board.serial.baud == 115200)
        guard case .gpio(let chip, let line, let activeLow) = board.power else {
            Issue.record("expected a gpio switch, got \(board.power)")
            return
        }
        #expect(chip == "gpiochip0")
        #expect(line == 17)
        #expect(activeLow)

        let network = try #require(board.network)
        #expect(network.boardIP == "192.168.5.10")
        #expect(network.serverIP == "192.168.5.1")
        #expect(network.netmask == "255.255.255.0")
        #expect(network.gateway == "192.168.5.1")
        #expect(network.httpURL == "http://192.168.5.1:8080")

        #expect(board.uboot.prompt == "=> ")
        #expect(board.uboot.interrupt == " ")
        #expect(board.uboot.boot == "booti")
        #expect(board.uboot.linuxConsole == "ttyAMA0")
        #expect(board.uboot.preboot == [])
        #expect(board.uboot.tftpBlockSize == 1468)
        #expect(board.uboot.tftpWindowSize == 16)
        #expect(board.flash?.target == "/dev/mmcblk0")
    }

    @Test func commentedCommandSwitchParses() throws {
        let config = try AgentConfig(text: try exampleWithPower("command"), file: examplePath)
        guard case .command(let on, let off, let status, let timeout) = config.boards.first?.power else {
            Issue.record("expected a command switch, got \(String(describing: config.boards.first?.power))")
            return
        }
        #expect(on == "usbrelay R1_1=1")
        #expect(off == "usbrelay R1_1=0")
        #expect(status == "usbrelay | grep -q R1_1=1")
        #expect(timeout == 10)
    }

    @Test func commentedQEMUBoardParses() throws {
        let config = try AgentConfig(text: try exampleWithPower("qemu"), file: examplePath)
        guard case .qemu(let qemu) = config.boards.first?.power else {
            Issue.record("expected a qemu board, got \(String(describing: config.boards.first?.power))")
            return
        }
        let examples = (examplePath as NSString).deletingLastPathComponent
        #expect(qemu.arch == "aarch64")
        #expect(qemu.firmware == "/usr/lib/u-boot/qemu_arm64/u-boot.bin")
        #expect(qemu.memory == "512M")
        #expect(qemu.disk == examples + "/board1.img")  // relative to the config's folder
        #expect(qemu.diskSize == "1G")
        #expect(qemu.net == "user")
        #expect(qemu.forward == [22])
        #expect(qemu.extraArgs == ["-cpu", "cortex-a57"])
    }
}
