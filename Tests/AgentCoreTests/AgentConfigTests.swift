import AgentCore
import SystemSupport
import Testing

@Suite("AgentConfig: defaults and paths")
struct AgentConfigTests {
    static let minimal = """
        agent:
          name: solo
          data_dir: /srv/provisioner
        boards:
          - name: b1
            serial: { device: /dev/ttyUSB0 }
            power: { type: command, on: "relay 1", off: "relay 0" }
        """

    @Test func omittedBlocksTakeTheirDefaults() throws {
        let config = try AgentConfig(text: Self.minimal, file: "/etc/provisioner/agent.yaml")
        #expect(config.agent.ssh.listen == (try SocketAddress(parsing: "0.0.0.0:2223")))
        #expect(config.agent.ssh.hostKey == "/srv/provisioner/ssh_host_ed25519_key")
        #expect(config.agent.ssh.authorizedKeys == nil)
        #expect(config.agent.ssh.coordinatorKeys == nil)
        #expect(config.agent.tftp.listen == (try SocketAddress(parsing: "0.0.0.0:69")))
        #expect(config.agent.http.listen == (try SocketAddress(parsing: "0.0.0.0:8080")))
        // 0.0.0.0 is no address a client can use: the default names this host.
        #expect(config.agent.http.publicURL == "http://\(hostName()):8080")
    }

    @Test func omittedBoardBlocksTakeTheirDefaults() throws {
        let board = try #require(try AgentConfig(text: Self.minimal, file: "/etc/provisioner/agent.yaml").boards.first)
        #expect(board.serial.baud == 115200)
        #expect(board.network == nil)
        #expect(board.flash == nil)
        #expect(board.uboot.prompt == "=> ")
        #expect(board.uboot.interrupt == " ")
        #expect(board.uboot.boot == "booti")
        #expect(board.uboot.linuxConsole == nil)
        #expect(board.uboot.preboot.isEmpty)
        #expect(board.uboot.tftpBlockSize == 1468)
        #expect(board.uboot.tftpWindowSize == 16)
        guard case .command(let on, let off, let status, let timeout) = board.power else {
            Issue.record("expected a command switch, got \(board.power)")
            return
        }
        #expect(on == "relay 1")
        #expect(off == "relay 0")
        #expect(status == nil)
        #expect(timeout == 10)
    }

    @Test func noBoardsAtAll() throws {
        let config = try AgentConfig(text: "agent: { name: lonely, data_dir: /d }\n", file: "a.yaml")
        #expect(config.boards.isEmpty)
        #expect(config.agent.name == "lonely")
    }

    @Test func publicURLFollowsAnIPv6Listen() throws {
        let text = "agent:\n  name: six\n  data_dir: /d\n  http: { listen: \"[::1]:8081\" }\n"
        let config = try AgentConfig(text: text, file: "a.yaml")
        #expect(config.agent.http.publicURL == "http://[::1]:8081")
        #expect(config.agent.http.listen.family == .inet6)
    }

    @Test func publicURLLosesItsTrailingSlash() throws {
        let text = "agent:\n  name: a\n  data_dir: /d\n  http: { public_url: \"https://lab.example:8443/\" }\n"
        #expect(try AgentConfig(text: text, file: "a.yaml").agent.http.publicURL == "https://lab.example:8443")
    }

    @Test func networkHTTPURLDefaultsToThePublicURL() throws {
        let text = """
            agent: { name: a, data_dir: /d, http: { public_url: "http://10.0.2.2:8080" } }
            boards:
              - name: b
                serial: { device: /dev/ttyS0 }
                power: { type: command, on: x, off: y }
                network: { board_ip: 10.0.2.15, server_ip: 127.0.0.1 }
            """
        let network = try #require(try AgentConfig(text: text, file: "a.yaml").boards.first?.network)
        #expect(network.httpURL == "http://10.0.2.2:8080")
        #expect(network.netmask == "255.255.255.0")
        #expect(network.gateway == nil)
    }

    @Test func relativePathsResolveAgainstTheConfigFolder() throws {
        let text = """
            agent:
              name: lab
              data_dir: state
              ssh: { authorized_keys: keys/people, coordinator_keys: ../shared/coordinators }
            boards:
              - name: virt
                serial: { device: run/virt.pty, baud: 1500000 }
                power: { type: qemu, arch: x86, firmware: firmware/u-boot.rom, disk: disks/virt.img, forward: [22, 80] }
            """
        let config = try AgentConfig(text: text, file: "/srv/lab/agent.yaml")
        #expect(config.agent.dataDirectory == "/srv/lab/state")
        #expect(config.agent.ssh.hostKey == "/srv/lab/state/ssh_host_ed25519_key")
        #expect(config.agent.ssh.authorizedKeys == "/srv/lab/keys/people")
        #expect(config.agent.ssh.coordinatorKeys == "/srv/shared/coordinators")
        let board = try #require(config.boards.first)
        #expect(board.serial.device == "/srv/lab/run/virt.pty")
        #expect(board.serial.baud == 1500000)
        guard case .qemu(let qemu) = board.power else {
            Issue.record("expected a qemu board, got \(board.power)")
            return
        }
        #expect(qemu.arch == "x86")
        #expect(qemu.firmware == "/srv/lab/firmware/u-boot.rom")
        #expect(qemu.disk == "/srv/lab/disks/virt.img")
        #expect(qemu.forward == [22, 80])
        #expect(qemu.memory == "512M")
        #expect(qemu.net == "user")
    }

    @Test func aBoardsTCPPortIsReachedThroughItsForwardOrItsAddress() throws {
        let text = """
            agent: { name: a, data_dir: /d }
            boards:
              - name: virt
                serial: { device: /dev/null }
                power: { type: qemu, arch: x86, firmware: /f, forward: [22, "8022:80"] }
              - name: real
                serial: { device: /dev/null }
                power: { type: command, on: x, off: y }
                network: { board_ip: 192.168.5.10, server_ip: 192.168.5.1 }
              - name: bare
                serial: { device: /dev/null }
                power: { type: command, on: x, off: y }
            """
        let boards = try AgentConfig(text: text, file: "/x/agent.yaml").boards
        #expect(try boards[0].tcpAddress(port: 22).get() == ("127.0.0.1", 22))
        #expect(try boards[0].tcpAddress(port: 80).get() == ("127.0.0.1", 8022))
        #expect(throws: TCPAddressError.self) { try boards[0].tcpAddress(port: 443).get() }
        if case .failure(let error) = boards[0].tcpAddress(port: 443) {
            #expect(error.description == "port 443 of virt is not forwarded (power.forward: 22, 80)")
        }
        #expect(try boards[1].tcpAddress(port: 22).get() == ("192.168.5.10", 22))
        if case .failure(let error) = boards[2].tcpAddress(port: 22) {
            #expect(error.description == "bare has no network.board_ip in the agent's config")
        } else {
            Issue.record("a board without a network has no address")
        }
    }

    @Test func uBootProfileFields() throws {
        let text = """
            agent: { name: a, data_dir: /d }
            boards:
              - name: x86
                serial: { device: /dev/ttyS0 }
                power: { type: command, on: x, off: y, status: z, timeout: 500ms }
                uboot:
                  prompt: "=> "
                  interrupt: "stop"
                  boot: zboot
                  preboot: ["pci enum", "virtio scan"]
                  tftp: { blocksize: 512, windowsize: 32 }
            """
        let board = try #require(try AgentConfig(text: text, file: "a.yaml").boards.first)
        #expect(board.uboot.interrupt == "stop")
        #expect(board.uboot.boot == "zboot")
        #expect(board.uboot.preboot == ["pci enum", "virtio scan"])
        #expect(board.uboot.tftpBlockSize == 512)
        #expect(board.uboot.tftpWindowSize == 32)
        guard case .command(_, _, let status, let timeout) = board.power else {
            Issue.record("expected a command switch")
            return
        }
        #expect(status == "z")
        #expect(timeout == 0.5)
    }

    @Test func builtInProfilesAndScriptedNetbootSteps() throws {
        let text = """
            agent: { name: a, data_dir: /d }
            boards:
              - name: arm
                serial: { device: /dev/ttyS0 }
                power: { type: qemu, arch: aarch64, firmware: /u-boot.bin }
              - name: pc
                serial: { device: /dev/ttyS1 }
                power: { type: qemu, arch: x86, firmware: /u-boot.rom }
              - name: custom
                serial: { device: /dev/ttyS2 }
                power: { type: command, on: x, off: y }
                uboot:
                  profile: qemu-arm64
                  linux_console: ttyS0
                  env: ["loadaddr=0x82000000"]
                  netboot:
                    - { send: "tftpboot ${loadaddr} {kernel}", expect: "Bytes transferred", timeout: 2m }
                    - { send: "setenv bootargs '{bootargs}'" }
                    - { send: "bootm ${loadaddr}", expect_regex: "Starting kernel|Uncompressing", fail: ["Bad Data CRC"] }
            """
        let boards = try AgentConfig(text: text, file: "a.yaml").boards
        #expect(boards[0].uboot.base == "qemu-arm64")
        #expect(boards[0].uboot.builtInFDT == "${fdtcontroladdr}")
        #expect(boards[1].uboot.base == "qemu-x86" && boards[1].uboot.boot == "zboot")
        #expect(boards[1].uboot.preboot == ["pci enum", "virtio scan"])
        #expect(boards[1].uboot.environment.map(\.name) == ["ramdisk_addr_r"])
        let custom = boards[2].uboot
        #expect(custom.base == "qemu-arm64" && custom.linuxConsole == "ttyS0" && custom.builtInFDT == "${fdtcontroladdr}")
        #expect(custom.environment.map(\.value) == ["0x82000000"])
        let steps = try #require(custom.netbootSteps)
        #expect(steps.count == 3)
        #expect(steps[0].timeout == 120 && steps[0].placeholders == ["kernel"])
        #expect(steps[1].expect == nil && steps[1].placeholders == ["bootargs"])
        #expect(steps[2].expectIsRegex && steps[2].fail == ["Bad Data CRC"])
    }
}
