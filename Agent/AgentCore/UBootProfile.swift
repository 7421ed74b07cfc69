import ProvisionerCore

/// How to drive a board's U-Boot: data, not code (DESIGN.md, board
/// profiles). A built-in base (`profile:`) with any field overridden in
/// agent.yaml; the netboot script is made from these fields alone.
public struct UBootProfile: Sendable {
    /// The built-in bases: `generic` for any U-Boot, and the two virtual boards.
    public static let baseNames = ["generic", "qemu-arm64", "qemu-x86"]

    public var base = "generic"
    public var prompt = "=> "
    /// What U-Boot prints when it starts counting down to autoboot.
    public var autoboot = "Hit any key to stop autoboot"
    /// What stops autoboot: a key, or a stop string such as `autoboot.stop_str`.
    public var interrupt = " "
    /// `booti`, `bootz`, `bootm` or `zboot`.
    public var boot = "booti"
    /// `console=` for the kernel (with `,BAUD` added from `serial.baud`).
    public var linuxConsole: String?
    /// Commands run first, each waited for, e.g. `pci enum`, `virtio scan`.
    public var preboot: [String] = []
    /// `setenv NAME VALUE` before loading, in order (`NAME=VALUE` in the config).
    public var environment: [(name: String, value: String)] = []
    /// Where files are loaded: U-Boot expressions, variables by default.
    public var kernelAddress = "${kernel_addr_r}"
    public var fdtAddress = "${fdt_addr_r}"
    public var ramdiskAddress = "${ramdisk_addr_r}"
    /// The device tree to boot with when the job names none (QEMU's own:
    /// `${fdtcontroladdr}`); nil boots without one.
    public var builtInFDT: String?
    /// `dhcp` instead of the static addresses of the board's `network` block.
    public var dhcp = false
    public var tftpBlockSize = 1468
    public var tftpWindowSize = 16
    public var timeouts = Timeouts()
    /// More output that means failure, beside the built-in U-Boot errors.
    public var fail: [String] = []
    /// Steps that load and boot in place of the built-in `tftpboot` and boot
    /// command (`netboot:` in the profile); nil: the built-in ones.
    public var netbootSteps: [Step]?
    /// How `run` reaches the booted system's shell (`linux:` in the profile).
    public var linux = Linux()

    /// The booted Linux's console: who logs in at a `login:` prompt, with
    /// the password in `password_file` (read when `run` needs it, never
    /// kept), and the shell prompt's end (default: `# ` or `$ `).
    public struct Linux: Sendable, Equatable {
        public var login = "root"
        public var passwordFile: String?
        public var prompt: String?
    }

    /// One scripted step: type `send` (placeholders `{kernel}`, `{initrd}`,
    /// `{dtb}` become the job's TFTP names, `{bootargs}` its arguments), then
    /// wait for `expect` (the prompt when only `send` is given) for at most
    /// `timeout`; `fail` patterns end it at once, beside U-Boot's own errors.
    public struct Step: Sendable, Equatable {
        public var send: String?
        public var expect: String?
        public var expectIsRegex = false
        public var timeout: Double?
        public var fail: [String] = []

        /// The placeholders `send` uses.
        public var placeholders: [String] {
            ["kernel", "initrd", "dtb", "bootargs"].filter { send?.contains("{\($0)}") == true }
        }
    }

    public struct Timeouts: Sendable {
        /// Power on to the prompt.
        public var prompt: Double = 60
        /// A plain command to its prompt.
        public var command: Double = 30
        /// One `tftpboot`.
        public var tftp: Double = 300
        /// The boot command to `Starting kernel`.
        public var boot: Double = 60
    }

    /// What U-Boot prints when a step failed: reported at once, not waited out.
    public static let builtInFailures = [
        "TFTP error", "Retry count exceeded", "Wrong Image Format", "Bad Linux ARM64 Image magic",
        "Bad Linux ARM Image magic", "Bad Data CRC", "Bad Header Checksum", "ERROR: ", "Unknown command",
        "No ethernet found", "Could not find a valid device tree", "resetting ...",
        // A FIT image whose sha256 (or other hash) does not match: the line names the image node.
        "Bad hash value for", "Bad Data Hash",
    ]

    public init() {}

    /// The base profile that suits a power switch: the virtual boards' for qemu.
    public static func builtIn(for power: BoardConfig.Power) -> UBootProfile {
        if case .qemu(let qemu) = power { return named(qemu.arch == "x86" ? "qemu-x86" : "qemu-arm64") }
        return UBootProfile()
    }

    /// A built-in base by name (one of `baseNames`).
    public static func named(_ name: String) -> UBootProfile {
        var profile = UBootProfile()
        profile.base = name
        switch name {
        case "qemu-arm64":
            profile.linuxConsole = "ttyAMA0"
            profile.builtInFDT = "${fdtcontroladdr}"
        case "qemu-x86":
            // TESTING.md: the 32-bit U-Boot; the Debian kernel unpacks over
            // the default ramdisk address; the network needs PCI and virtio.
            profile.boot = "zboot"
            profile.linuxConsole = "ttyS0"
            profile.preboot = ["pci enum", "virtio scan"]
            profile.environment = [("ramdisk_addr_r", "0x8000000")]
        default:
            break
        }
        return profile
    }

    init(_ value: ConfigValue, power: BoardConfig.Power) throws {
        let section = try value.mapping()
        self = try section.optional("profile").map { .named(try $0.choice(Self.baseNames)) } ?? .builtIn(for: power)
        if let prompt = section.optional("prompt") { self.prompt = try prompt.string() }
        if let autoboot = section.optional("autoboot") { self.autoboot = try autoboot.string() }
        if let interrupt = section.optional("interrupt") { self.interrupt = try interrupt.string() }
        if let boot = section.optional("boot") { self.boot = try boot.choice(["booti", "bootz", "bootm", "zboot"]) }
        if let console = section.optional("linux_console") { linuxConsole = try console.word() }
        if let preboot = section.optional("preboot") { self.preboot = try preboot.strings() }
        if let env = section.optional("env") {
            environment = []
            for item in try env.list() {
                let text = try item.string()
                let parts = text.split(separator: "=", maxSplits: 1)
                guard parts.count == 2, isVariableName(parts[0]) else {
                    throw item.error("'\(text)' is not NAME=VALUE (a U-Boot variable name, then its value)")
                }
                environment.append((String(parts[0]), String(parts[1])))
            }
        }
        if let addresses = section.optional("addresses") {
            let map = try addresses.mapping()
            if let value = map.optional("kernel") { kernelAddress = try value.word() }
            if let value = map.optional("fdt") { fdtAddress = try value.word() }
            if let value = map.optional("ramdisk") { ramdiskAddress = try value.word() }
            try map.finish()
        }
        if let fdt = section.optional("builtin_fdt") {
            let text = try fdt.word()
            builtInFDT = text == "none" ? nil : text
        }
        if let dhcp = section.optional("dhcp") { self.dhcp = try dhcp.bool() }
        if let tftp = section.optional("tftp") {
            let tuning = try tftp.mapping()
            if let size = tuning.optional("blocksize") { tftpBlockSize = try size.int(in: 8...65464) }
            if let window = tuning.optional("windowsize") { tftpWindowSize = try window.int(in: 1...65535) }
            try tuning.finish()
        }
        if let timeoutsValue = section.optional("timeouts") {
            let map = try timeoutsValue.mapping()
            if let value = map.optional("prompt") { timeouts.prompt = try value.duration() }
            if let value = map.optional("command") { timeouts.command = try value.duration() }
            if let value = map.optional("tftp") { timeouts.tftp = try value.duration() }
            if let value = map.optional("boot") { timeouts.boot = try value.duration() }
            try map.finish()
        }
        if let fail = section.optional("fail") { self.fail = try fail.strings() }
        if let steps = section.optional("netboot") { netbootSteps = try steps.list().map(Self.step) }
        if let linuxValue = section.optional("linux") {
            let map = try linuxValue.mapping()
            if let login = map.optional("login") { linux.login = try login.word() }
            linux.passwordFile = try map.optional("password_file")?.filePath()
            if let prompt = map.optional("prompt") {
                let text = try prompt.string()
                guard !text.isEmpty, text.utf8.count <= 64 else { throw prompt.error("the prompt's end must be 1 to 64 bytes") }
                linux.prompt = text
            }
            try map.finish()
        }
        try section.finish()
    }
}

extension UBootProfile {
    static func step(_ value: ConfigValue) throws -> Step {
        let map = try value.mapping()
        var step = Step()
        step.send = try map.optional("send")?.string()
        if let expect = map.optional("expect") { step.expect = try expect.string() }
        if let regex = map.optional("expect_regex") {
            guard step.expect == nil else { throw regex.error("give expect or expect_regex, not both") }
            let pattern = try regex.string()
            if let problem = ConsoleRegex.problem(pattern) { throw regex.error("'\(pattern.prefix(60))': \(problem)") }
            do {
                _ = try Regex(pattern)
            } catch {
                throw regex.error("'\(pattern)' is not a regular expression")
            }
            step.expect = pattern
            step.expectIsRegex = true
        }
        step.timeout = try map.optional("timeout")?.duration()
        if let fail = map.optional("fail") { step.fail = try fail.strings() }
        guard step.send != nil || step.expect != nil else { throw value.error("a step needs send, expect, or both") }
        try map.finish()
        return step
    }
}

private func isVariableName(_ name: Substring) -> Bool {
    !name.isEmpty && name.utf8.allSatisfy { byte in
        (byte >= 0x61 && byte <= 0x7a) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x30 && byte <= 0x39) || byte == 0x5f
    }
}
