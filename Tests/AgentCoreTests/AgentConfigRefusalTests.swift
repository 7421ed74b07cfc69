import AgentCore
import ProvisionerCore
import Testing

/// A valid config; each refusal test breaks one line of it (numbers on the left).
private let lines = [
    /* 1 */ "agent:",
    /* 2 */ "  name: bench-1",
    /* 3 */ "  data_dir: /var/lib/provisioner",
    /* 4 */ "  ssh:",
    /* 5 */ "    listen: \"0.0.0.0:2223\"",
    /* 6 */ "  tftp:",
    /* 7 */ "    listen: \"0.0.0.0:69\"",
    /* 8 */ "  http:",
    /* 9 */ "    listen: \"0.0.0.0:8080\"",
    /* 10 */ "boards:",
    /* 11 */ "  - name: board1",
    /* 12 */ "    serial: { device: /dev/ttyUSB0, baud: 115200 }",
    /* 13 */ "    power: { type: gpio, chip: gpiochip0, line: 17 }",
    /* 14 */ "    network:",
    /* 15 */ "      board_ip: 192.168.5.10",
    /* 16 */ "      server_ip: 192.168.5.1",
    /* 17 */ "    uboot:",
    /* 18 */ "      boot: booti",
    /* 19 */ "      tftp: { blocksize: 1468, windowsize: 16 }",
    /* 20 */ "  - name: board2",
    /* 21 */ "    serial: { device: /dev/ttyUSB1 }",
    /* 22 */ "    power:",
    /* 23 */ "      type: qemu",
    /* 24 */ "      arch: aarch64",
    /* 25 */ "      firmware: /usr/lib/u-boot/qemu_arm64/u-boot.bin",
]

private let file = "/etc/provisioner/agent.yaml"

/// The config with line `number` replaced by `text`.
private func replacing(_ number: Int, with text: String) -> String {
    var changed = lines
    changed[number - 1] = text
    return changed.joined(separator: "\n") + "\n"
}

/// The config with `text` as line 26.
private func appending(_ text: String) -> String {
    (lines + [text]).joined(separator: "\n") + "\n"
}

/// The refusal of `text`, checked to be at `line` and to name `field`.
private func refusal(_ text: String, line: Int, naming field: String,
                     sourceLocation: SourceLocation = #_sourceLocation) -> String? {
    let error = configError { _ = try AgentConfig(text: text, file: file) }
    #expect(error != nil, "the config was accepted", sourceLocation: sourceLocation)
    #expect(error?.file == file, sourceLocation: sourceLocation)
    #expect(error?.line == line, "\(error?.description ?? "")", sourceLocation: sourceLocation)
    #expect(error?.message.contains(field) == true, "\(error?.description ?? "") names \(field)", sourceLocation: sourceLocation)
    return error?.description
}

@Suite("AgentConfig: refusals, located")
struct AgentConfigRefusalTests {
    @Test func theBaseConfigIsValid() throws {
        let config = try AgentConfig(text: lines.joined(separator: "\n"), file: file)
        #expect(config.boards.map(\.name) == ["board1", "board2"])
    }

    @Test func onStopIsKeepOrOff() throws {
        #expect(try AgentConfig(text: lines.joined(separator: "\n"), file: file).agent.onStop == .keep)
        #expect(try AgentConfig(text: replacing(3, with: "  data_dir: /d\n  on_stop: off"), file: file).agent.onStop == .off)
        #expect(try AgentConfig(text: replacing(3, with: "  data_dir: /d\n  on_stop: keep"), file: file).agent.onStop == .keep)
        #expect(refusal(replacing(3, with: "  data_dir: /d\n  on_stop: reboot"), line: 4, naming: "agent.on_stop")
            == "\(file):4: agent.on_stop: 'reboot' is not one of: keep, off")
    }

    @Test func unknownTopLevelKey() {
        #expect(refusal(appending("colour: blue"), line: 26, naming: "'colour'")
            == "\(file):26: unknown key 'colour' (known: agent, boards, web)")
    }

    @Test func unknownKeyInTheSecondBoardsPower() {
        #expect(refusal(appending("      speed: fast"), line: 26, naming: "boards[1].power")
            == "\(file):26: unknown key 'speed' in boards[1].power (known: arch, cycle_delay, disk, disk_size, extra_args, firmware, forward, memory, net, type)")
    }

    @Test func boardNameUsedTwice() {
        #expect(refusal(replacing(20, with: "  - name: board1"), line: 20, naming: "'board1'")
            == "\(file):20: boards[1]: board name 'board1' is used twice")
    }

    @Test func invalidBoardName() {
        #expect(refusal(replacing(11, with: "  - name: Board 1"), line: 11, naming: "boards[0].name")
            == "\(file):11: boards[0].name: 'Board 1' is not a valid name (lower-case letters, digits, '.', '_', '-'; 64 at most)")
    }

    @Test(arguments: ["Board1", "-b", ".b", "b/1", "b:1", String(repeating: "b", count: 65)])
    func otherInvalidNames(_ name: String) {
        #expect(refusal(replacing(11, with: "  - name: \"\(name)\""), line: 11, naming: "boards[0].name")
            == "\(file):11: boards[0].name: '\(name)' is not a valid name (lower-case letters, digits, '.', '_', '-'; 64 at most)")
    }

    @Test func longestValidName() throws {
        let name = "b-0_1." + String(repeating: "x", count: 58)
        let config = try AgentConfig(text: replacing(11, with: "  - name: \(name)"), file: file)
        #expect(config.boards.first?.name == name)
    }

    @Test func tagsAreKeptInTheirOrder() throws {
        let config = try AgentConfig(text: replacing(11, with: "  - name: board1\n    tags: [imx8mp, emmc, lab-a]"), file: file)
        #expect(config.boards.first?.tags == ["imx8mp", "emmc", "lab-a"])
        #expect(config.boards.last?.tags == [])
    }

    @Test func badTags() {
        #expect(refusal(replacing(11, with: "  - name: board1\n    tags: [imx8mp, \"i.MX 8\"]"), line: 12, naming: "boards[0].tags[1]")
            == "\(file):12: boards[0].tags[1]: 'i.MX 8' is not a valid tag (lower-case letters, digits, '.', '_', '-'; 64 at most)")
        #expect(refusal(replacing(11, with: "  - name: board1\n    tags: [emmc, emmc]"), line: 12, naming: "boards[0].tags[1]")
            == "\(file):12: boards[0].tags[1]: the tag 'emmc' is given twice")
        #expect(refusal(replacing(11, with: "  - name: board1\n    tags: emmc"), line: 12, naming: "boards[0].tags")
            != nil)
    }

    @Test func badBaudRate() {
        #expect(refusal(replacing(12, with: "    serial: { device: /dev/ttyUSB0, baud: 12345 }"), line: 12, naming: "boards[0].serial.baud")
            == "\(file):12: boards[0].serial.baud: 12345 is not a baud rate the serial driver knows (e.g. 115200, 1500000)")
    }

    @Test func listenWithoutPort() {
        #expect(refusal(replacing(5, with: "    listen: \"1.2.3.4\""), line: 5, naming: "agent.ssh.listen")
            == "\(file):5: agent.ssh.listen: '1.2.3.4' is not HOST:PORT (an IPv6 address goes in brackets: [::1]:69)")
    }

    @Test func listenWithPortOutOfRange() {
        #expect(refusal(replacing(7, with: "    listen: \"host:99999\""), line: 7, naming: "agent.tftp.listen")
            == "\(file):7: agent.tftp.listen: 'host:99999': the port must be a number from 0 to 65535")
    }

    @Test func listenIPv6WithoutColon() {
        #expect(refusal(replacing(9, with: "    listen: \"[::1]69\""), line: 9, naming: "agent.http.listen")
            == "\(file):9: agent.http.listen: '[::1]69' is not HOST:PORT (an IPv6 address goes in brackets: [::1]:69)")
    }

    @Test(arguments: ["192.168.5", "192.168.5.256", "::1", "localhost", "board.invalid", "0x7f.0.0.1", "010.1.1.1", "1.2.3.4 "])
    func badBoardIP(_ address: String) {
        #expect(refusal(replacing(15, with: "      board_ip: \"\(address)\""), line: 15, naming: "boards[0].network.board_ip")
            == "\(file):15: boards[0].network.board_ip: '\(address)' is not an IPv4 address")
    }

    @Test func unknownPowerType() {
        #expect(refusal(replacing(13, with: "    power: { type: relay, chip: gpiochip0, line: 17 }"), line: 13, naming: "boards[0].power.type")
            == "\(file):13: boards[0].power.type: 'relay' is not one of: gpio, command, qemu")
    }

    @Test func gpioLineThatIsNotANumber() {
        #expect(refusal(replacing(13, with: "    power: { type: gpio, chip: gpiochip0, line: x }"), line: 13, naming: "boards[0].power.line")
            == "\(file):13: boards[0].power.line: expected a whole number, got 'x'")
    }

    @Test func unknownQEMUArch() {
        #expect(refusal(replacing(24, with: "      arch: mips"), line: 24, naming: "boards[1].power.arch")
            == "\(file):24: boards[1].power.arch: 'mips' is not one of: aarch64, x86")
    }

    @Test func unknownUBootBootCommand() {
        #expect(refusal(replacing(18, with: "      boot: bootx"), line: 18, naming: "boards[0].uboot.boot")
            == "\(file):18: boards[0].uboot.boot: 'bootx' is not one of: booti, bootz, bootm, zboot")
    }

    @Test func tftpBlockSizeTooSmall() {
        #expect(refusal(replacing(19, with: "      tftp: { blocksize: 4, windowsize: 16 }"), line: 19, naming: "boards[0].uboot.tftp.blocksize")
            == "\(file):19: boards[0].uboot.tftp.blocksize: 4 is out of range (8–65464)")
    }

    @Test func missingRequiredAgentName() {
        #expect(refusal(replacing(2, with: "  # no name"), line: 3, naming: "'name'")
            == "\(file):3: agent: missing required key 'name'")
    }

    @Test func missingBoardPower() {
        #expect(refusal(replacing(13, with: "    # no power"), line: 11, naming: "'power'")
            == "\(file):11: boards[0]: missing required key 'power'")
    }

    @Test func publicURLThatIsNotHTTP() {
        #expect(refusal(replacing(9, with: "    public_url: \"ftp://lab\""), line: 9, naming: "agent.http.public_url")
            == "\(file):9: agent.http.public_url: 'ftp://lab' is not an http:// URL")
    }

    @Test func aNetbootStepWithABadRegularExpression() {
        let error = refusal(replacing(19, with: "      netboot: [ { send: boot, expect_regex: \"([unclosed\" } ]"), line: 19, naming: "expect_regex")
        #expect(error?.contains("is not a regular expression") == true, "\(error ?? "")")
    }

    @Test func aNetbootStepWithNothingToDo() {
        #expect(refusal(replacing(19, with: "      netboot: [ { timeout: 5s } ]"), line: 19, naming: "netboot")?
            .contains("a step needs send, expect, or both") == true)
    }

    @Test func anUnknownProfile() {
        #expect(refusal(replacing(18, with: "      profile: rpi4"), line: 18, naming: "profile") != nil)
    }
}
