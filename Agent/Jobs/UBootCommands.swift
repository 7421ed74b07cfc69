import AgentCore

/// A board's U-Boot as console operations, from its profile: what to type
/// for a command, a TFTP load, a boot, the network, and what to wait for
/// after each. No I/O: the jobs' machines put these into their scripts.
struct UBootCommands {
    typealias Operation = ConsoleScript.Operation

    let profile: UBootProfile

    init(_ profile: UBootProfile) { self.profile = profile }

    /// U-Boot's own errors and the profile's: a step fails at once on them.
    var failures: [ExpectPattern] { (UBootProfile.builtInFailures + profile.fail).map(ExpectPattern.literal) }

    var prompt: ExpectPattern { .literal(profile.prompt) }

    /// Types `text` and Enter.
    func line(_ text: String) -> Operation { .send(text + "\r") }

    /// Waits for one of `patterns`; `fail` defaults to U-Boot's errors.
    func wait(for patterns: [ExpectPattern], fail: [ExpectPattern]? = nil, timeout: Double) -> Operation {
        .expect(Expectation(patterns, fail: fail ?? failures, timeout: timeout))
    }

    /// Types a command and waits for the prompt after it.
    func command(_ text: String) -> [Operation] {
        [line(text), wait(for: [prompt], timeout: profile.timeouts.command)]
    }

    /// TFTP tuning, the profile's variables, and the network: the static
    /// addresses of `network`, or `dhcp`. Without either, fails naming `board`.
    func network(_ network: BoardConfig.Network?, board: String) -> [Operation] {
        var operations = command("setenv autoload no")
            + command("setenv tftpblocksize \(profile.tftpBlockSize)")
            + command("setenv tftpwindowsize \(profile.tftpWindowSize)")
        for (name, value) in profile.environment { operations += command("setenv \(name) \(value)") }
        if profile.dhcp {
            operations += [line("dhcp"),
                           wait(for: [.literal("DHCP client bound to address")], timeout: profile.timeouts.tftp),
                           wait(for: [prompt], timeout: profile.timeouts.command)]
            if let network { operations += command("setenv serverip \(network.serverIP)") }
        } else if let network {
            operations += command("setenv ipaddr \(network.boardIP)")
            operations += command("setenv serverip \(network.serverIP)")
            operations += command("setenv netmask \(network.netmask)")
            if let gateway = network.gateway { operations += command("setenv gatewayip \(gateway)") }
        } else {
            operations.append(.fail("\(board) has no network block in agent.yaml (board_ip, server_ip), and its U-Boot profile does not use dhcp"))
        }
        return operations
    }

    /// `tftpboot ADDRESS FILE`: its first two matches make the `TFTPReport`
    /// (`report(file:from:)`).
    func load(_ file: String, at address: String) -> [Operation] {
        [line("tftpboot \(address) \(file)"),
         wait(for: [.literal("Bytes transferred = ")], timeout: profile.timeouts.tftp),
         wait(for: [prompt], timeout: profile.timeouts.command)]
    }

    /// What U-Boot said of a `load`, from the matches of its script.
    func report(file: String, from matches: [ExpectMatch]) -> TFTPReport {
        TFTPReport(file: file, ubootOutput: matches[0].before, bytesLine: matches[1].before)
    }

    /// The profile's boot command with the kernel, the initrd (its size an
    /// expression such as `${filesize}`) and the device tree (the loaded one,
    /// or the profile's built-in one); waits for `Starting kernel`.
    func boot(initrdSize: String?, withFDT: Bool) -> [Operation] {
        let kernel = profile.kernelAddress
        let command: String
        switch profile.boot {
        case "zboot":
            command = initrdSize.map { "zboot \(kernel) 0 \(profile.ramdiskAddress) \($0)" } ?? "zboot \(kernel)"
        default:
            let ramdisk = initrdSize.map { "\(profile.ramdiskAddress):\($0)" } ?? "-"
            let fdt = withFDT ? profile.fdtAddress : profile.builtInFDT
            command = [profile.boot, kernel, fdt == nil && initrdSize == nil ? nil : ramdisk, fdt]
                .compactMap { $0 }.joined(separator: " ")
        }
        return [line(command), wait(for: [.literal("Starting kernel")], timeout: profile.timeouts.boot)]
    }

    /// Boots the FIT image loaded at the kernel address with `bootm`: its
    /// configuration's kernel and ramdisk, each checked against its hash.
    /// A board whose device tree is U-Boot's own (QEMU's virt machine) names
    /// the configuration, the ramdisk and that tree, as no FIT tree matches it.
    func bootFIT() -> [Operation] {
        let fit = profile.kernelAddress
        let command = profile.builtInFDT.map { "bootm \(fit)#conf-1 \(fit):ramdisk-1 \($0)" } ?? "bootm \(fit)"
        return [line(command), wait(for: [.literal("Starting kernel")], timeout: profile.timeouts.boot)]
    }

    /// `console=…` for Linux, from the profile, at the board's baud rate.
    func linuxConsole(baud: Int) -> String? { profile.linuxConsole.map { "console=\($0),\(baud)" } }
}
