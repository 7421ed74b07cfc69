import ProvisionerCore

/// One board of `agent.yaml`: how to reach its console and power, its
/// network as the board sees it, and its U-Boot profile.
public struct BoardConfig: Sendable {
    public var name: String
    public var serial: Serial
    public var power: Power
    public var network: Network?
    public var uboot: UBootProfile
    public var flash: Flash?
    /// `power.cycle_delay`: how long `cycle` leaves the board off.
    public var cycleDelay: Double
    /// `jobs.on_failure`: power a board off when a job fails or is
    /// cancelled (`off`), or leave it as the job left it for a look at its
    /// console (`keep`, the default).
    public var powerOffOnJobFailure = false
    /// `tags`: what `reserve --tag` and `boards --tag` select by (`imx8mp`,
    /// `emmc`, `lab-a`), in the order given, each once.
    public var tags: [String] = []

    public struct Serial: Sendable {
        /// Prefer `/dev/serial/by-path/…` or `by-id/…`: reopened as named.
        public var device: String
        public var baud: Int
        /// Bytes of recent output replayed to a session when it attaches.
        public var scrollback: Int = 256 << 10
        /// The console log `DATA_DIR/logs/BOARD.log` is rotated past this size…
        public var logMaxSize: Int = 16 << 20
        /// …keeping this many older files (`BOARD.log.1` … `.N`).
        public var logKeep: Int = 5
    }

    public enum Power: Sendable {
        case gpio(chip: String, line: Int, activeLow: Bool)
        case command(on: String, off: String, status: String?, timeout: Double)
        case qemu(QEMU)
    }

    /// A virtual board (TESTING.md): QEMU with real U-Boot as firmware.
    public struct QEMU: Sendable {
        public var arch: String
        public var firmware: String
        public var memory: String
        public var disk: String?
        public var diskSize: String?
        public var net: String
        /// Board TCP ports reachable from the agent…
        public var forward: [Int]
        /// …on these agent ports of 127.0.0.1 (board port → agent port).
        public var forwardHostPorts: [Int: Int]
        public var extraArgs: [String]
    }

    /// Addresses as the board sees them.
    public struct Network: Sendable {
        public var boardIP: String
        public var serverIP: String
        public var netmask: String
        public var gateway: String?
        public var httpURL: String
    }

    public struct Flash: Sendable {
        /// The device the flasher writes a rootfs to, e.g. `/dev/mmcblk0`.
        public var target: String
        /// Where `--kernel` and `--dtb` go: a partition, or a file on a vfat
        /// or ext4 partition (`/dev/mmcblk0p1:/Image`).
        public var kernelTarget: String?
        public var dtbTarget: String?
        /// The folder under DATA_DIR/shared with the flasher's kernel and
        /// `initrd` (`images/build-flasher` makes it).
        public var flasher: String
        /// What the flashed system prints once it is up, e.g. `login:`.
        public var success: String?
        /// Power to success, at most.
        public var timeout: Double = 1800
    }

    init(_ value: ConfigValue, agentHTTP: String) throws {
        let board = try value.mapping()
        name = try AgentConfig.name(board.required("name"))

        let serialSection = try board.required("serial").mapping()
        serial = Serial(device: try serialSection.required("device").filePath(),
                        baud: try serialSection.optional("baud").map(Self.baud) ?? 115200)
        if let scrollback = serialSection.optional("scrollback") {
            serial.scrollback = try Self.byteSize(scrollback, in: 0...(64 << 20))
        }
        if let logValue = serialSection.optional("log") {
            let log = try logValue.mapping()
            if let size = log.optional("max_size") { serial.logMaxSize = try Self.byteSize(size, in: (64 << 10)...(1 << 40)) }
            if let keep = log.optional("keep") { serial.logKeep = try keep.int(in: 0...1000) }
            try log.finish()
        }
        try serialSection.finish()

        (power, cycleDelay) = try Self.power(board.required("power"))

        if let networkValue = board.optional("network") {
            let section = try networkValue.mapping()
            network = Network(boardIP: try AgentConfig.ipv4(section.required("board_ip")),
                              serverIP: try AgentConfig.ipv4(section.required("server_ip")),
                              netmask: try section.optional("netmask").map(AgentConfig.ipv4) ?? "255.255.255.0",
                              gateway: try section.optional("gateway").map(AgentConfig.ipv4),
                              httpURL: try section.optional("http_url").map(AgentConfig.httpURL) ?? agentHTTP)
            try section.finish()
        }

        let power = self.power
        if let profile = board.optional("uboot") {
            uboot = try UBootProfile(profile, power: power)
        } else {
            uboot = UBootProfile.builtIn(for: power)
        }

        if let jobsValue = board.optional("jobs") {
            let section = try jobsValue.mapping()
            if let value = section.optional("on_failure") { powerOffOnJobFailure = try value.choice(["keep", "off"]) == "off" }
            try section.finish()
        }

        if let tagsValue = board.optional("tags") {
            let items = try tagsValue.list()
            guard items.count <= 32 else { throw tagsValue.error("\(items.count) tags; 32 at most") }
            for item in items {
                let tag = try AgentConfig.name(item, what: "tag")
                guard !tags.contains(tag) else { throw item.error("the tag '\(tag)' is given twice") }
                tags.append(tag)
            }
        }

        if let flashValue = board.optional("flash") {
            let section = try flashValue.mapping()
            let defaultFlasher = uboot.boot == "zboot" ? "flasher-amd64" : "flasher-arm64"
            flash = Flash(target: try section.required("target").word(),
                          flasher: try section.optional("flasher")?.word() ?? defaultFlasher,
                          success: try section.optional("success")?.string())
            if let timeout = try section.optional("timeout")?.duration() { flash?.timeout = timeout }
            flash?.kernelTarget = try section.optional("kernel_target")?.word()
            flash?.dtbTarget = try section.optional("dtb_target")?.word()
            try section.finish()
        }
        try board.finish()
    }

    static let baudRates = [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 500000,
                            576000, 921600, 1000000, 1152000, 1500000, 2000000, 2500000, 3000000, 3500000, 4000000]

    static func baud(_ value: ConfigValue) throws -> Int {
        let rate = try value.int(in: 1...4_000_000)
        guard baudRates.contains(rate) else {
            throw value.error("\(rate) is not a baud rate the serial driver knows (e.g. 115200, 1500000)")
        }
        return rate
    }

    /// A size in bytes: `4096`, `256K`, `16M`, `1G` (or `KiB`, `MiB`, `GiB`; powers of 1024).
    static func byteSize(_ value: ConfigValue, in range: ClosedRange<Int>) throws -> Int {
        let text = try value.word()
        guard let size = parseByteSize(text) else {
            throw value.error("'\(text)' is not a size (use e.g. 4096, 256K, 16M, 1G)")
        }
        guard range.contains(size) else {
            throw value.error("\(text) is out of range (\(range.lowerBound)–\(range.upperBound) bytes)")
        }
        return size
    }

    static func power(_ value: ConfigValue) throws -> (Power, cycleDelay: Double) {
        let section = try value.mapping()
        let type = try section.required("type").choice(["gpio", "command", "qemu"])
        let cycleDelay = try section.optional("cycle_delay")?.duration() ?? 1
        let power: Power
        switch type {
        case "gpio":
            power = .gpio(chip: try section.required("chip").word(),
                          line: try section.required("line").int(in: 0...65535),
                          activeLow: try section.optional("active_low")?.bool() ?? false)
        case "command":
            power = .command(on: try section.required("on").word(), off: try section.required("off").word(),
                             status: try section.optional("status")?.word(),
                             timeout: try section.optional("timeout")?.duration() ?? 10)
        default:
            let net = try section.optional("net")?.choice(["user", "tap"]) ?? "user"
            var forward: [Int] = []
            var hostPorts: [Int: Int] = [:]
            for item in try section.optional("forward")?.list() ?? [] {
                // `22` (the same port on the agent) or "2201:22" (agent port 2201 to the board's 22).
                if let text = try? item.string(), text.contains(":") {
                    let parts = text.split(separator: ":").map { Int($0) }
                    guard parts.count == 2, let host = parts[0], let port = parts[1],
                          (1...65535).contains(host), (1...65535).contains(port) else {
                        throw item.error("'\(text)' is not a port or AGENT_PORT:BOARD_PORT")
                    }
                    forward.append(port)
                    hostPorts[port] = host
                } else {
                    let port = try item.int(in: 1...65535)
                    forward.append(port)
                    hostPorts[port] = port
                }
            }
            power = .qemu(QEMU(arch: try section.required("arch").choice(["aarch64", "x86"]),
                               firmware: try section.required("firmware").filePath(),
                               memory: try section.optional("memory")?.word() ?? "512M",
                               disk: try section.optional("disk")?.filePath(),
                               diskSize: try section.optional("disk_size").map { value in
                                   _ = try Self.byteSize(value, in: (1 << 20)...(1 << 50))
                                   return try value.word()
                               },
                               net: net, forward: forward, forwardHostPorts: hostPorts,
                               extraArgs: try section.optional("extra_args")?.strings() ?? []))
        }
        try section.finish()
        return (power, cycleDelay)
    }
}

/// Parses `4096`, `256K`, `16M`, `1G`, `2T` (also `KiB`, `MiB`, … and `KB`, `MB`, …: all
/// powers of 1024), in bytes; nil when it is not a size.
public func parseByteSize(_ text: String) -> Int? {
    let units: [(String, Int)] = [("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30), ("T", 1 << 40)]
    var number = Substring(text)
    var scale = 1
    for suffix in ["iB", "B"] where number.hasSuffix(suffix) {
        number = number.dropLast(suffix.count)
        break
    }
    for (unit, unitScale) in units where number.uppercased().hasSuffix(unit) {
        number = number.dropLast()
        scale = unitScale
        break
    }
    guard let value = Int(number), value >= 0, !number.hasPrefix("+") else { return nil }
    let (bytes, overflow) = value.multipliedReportingOverflow(by: scale)
    return overflow ? nil : bytes
}


extension BoardConfig {
    /// Where the agent reaches the board's TCP `port` (`ssh -J`): a virtual
    /// board on QEMU's user network through its `forward` port on 127.0.0.1,
    /// any other board at its `network.board_ip`. Nil with the reason when
    /// the config gives no way there.
    public func tcpAddress(port: Int) -> Result<(host: String, port: Int), TCPAddressError> {
        if case .qemu(let qemu) = power, qemu.net == "user" {
            guard let hostPort = qemu.forwardHostPorts[port] else {
                let listed = qemu.forward.isEmpty ? "power.forward lists none" : "power.forward: " + qemu.forward.map(String.init).joined(separator: ", ")
                return .failure(TCPAddressError(description: "port \(port) of \(name) is not forwarded (\(listed))"))
            }
            return .success(("127.0.0.1", hostPort))
        }
        guard let network else {
            return .failure(TCPAddressError(description: "\(name) has no network.board_ip in the agent's config"))
        }
        return .success((network.boardIP, port))
    }
}

public struct TCPAddressError: Error, CustomStringConvertible, Sendable {
    public let description: String
}
