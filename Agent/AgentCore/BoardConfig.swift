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

    public struct Serial: Sendable {
        /// Prefer `/dev/serial/by-path/…` or `by-id/…`: reopened as named.
        public var device: String
        public var baud: Int
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
        public var forward: [Int]
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
        public var target: String
    }

    init(_ value: ConfigValue, agentHTTP: String) throws {
        let board = try value.mapping()
        name = try AgentConfig.name(board.required("name"))

        let serialSection = try board.required("serial").mapping()
        serial = Serial(device: try serialSection.required("device").filePath(),
                        baud: try serialSection.optional("baud").map(Self.baud) ?? 115200)
        try serialSection.finish()

        power = try Self.power(board.required("power"))

        if let networkValue = board.optional("network") {
            let section = try networkValue.mapping()
            network = Network(boardIP: try AgentConfig.ipv4(section.required("board_ip")),
                              serverIP: try AgentConfig.ipv4(section.required("server_ip")),
                              netmask: try section.optional("netmask").map(AgentConfig.ipv4) ?? "255.255.255.0",
                              gateway: try section.optional("gateway").map(AgentConfig.ipv4),
                              httpURL: try section.optional("http_url").map(AgentConfig.httpURL) ?? agentHTTP)
            try section.finish()
        }

        uboot = try board.optional("uboot").map(UBootProfile.init) ?? UBootProfile()

        if let flashValue = board.optional("flash") {
            let section = try flashValue.mapping()
            flash = Flash(target: try section.required("target").word())
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

    static func power(_ value: ConfigValue) throws -> Power {
        let section = try value.mapping()
        let type = try section.required("type").choice(["gpio", "command", "qemu"])
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
            for port in try section.optional("forward")?.list() ?? [] { forward.append(try port.int(in: 1...65535)) }
            power = .qemu(QEMU(arch: try section.required("arch").choice(["aarch64", "x86"]),
                               firmware: try section.required("firmware").filePath(),
                               memory: try section.optional("memory")?.word() ?? "512M",
                               disk: try section.optional("disk")?.filePath(),
                               diskSize: try section.optional("disk_size")?.word(),
                               net: net, forward: forward,
                               extraArgs: try section.optional("extra_args")?.strings() ?? []))
        }
        try section.finish()
        return power
    }
}

/// How to drive a board's U-Boot: data, not code (DESIGN.md, board profiles).
public struct UBootProfile: Sendable {
    public var prompt = "=> "
    /// What stops autoboot: a key, or a stop string such as `autoboot.stop_str`.
    public var interrupt = " "
    public var boot = "booti"
    public var linuxConsole: String?
    public var preboot: [String] = []
    public var tftpBlockSize = 1468
    public var tftpWindowSize = 16

    public init() {}

    init(_ value: ConfigValue) throws {
        let section = try value.mapping()
        if let prompt = section.optional("prompt") { self.prompt = try prompt.word() }
        if let interrupt = section.optional("interrupt") { self.interrupt = try interrupt.string() }
        if let boot = section.optional("boot") { self.boot = try boot.choice(["booti", "bootz", "bootm", "zboot"]) }
        linuxConsole = try section.optional("linux_console")?.word()
        if let preboot = section.optional("preboot") { self.preboot = try preboot.strings() }
        if let tftp = section.optional("tftp") {
            let tuning = try tftp.mapping()
            if let size = tuning.optional("blocksize") { tftpBlockSize = try size.int(in: 8...65464) }
            if let window = tuning.optional("windowsize") { tftpWindowSize = try window.int(in: 1...65535) }
            try tuning.finish()
        }
        try section.finish()
    }
}
