import AgentCore

/// How to talk to one board's U-Boot over its console, from its profile:
/// power it up, stop autoboot, run commands, load files over TFTP, boot.
/// Jobs (netboot, flash) are made of these steps; the console escape's
/// "reset to U-Boot" uses the first two.
///
/// Attaches to the console when made, so no output is missed; used from
/// one thread.
public final class UBootDriver {
    public let board: any BoardHandle
    public let profile: UBootProfile
    private let expect: ConsoleExpect

    public init(board: any BoardHandle, isCancelled: @escaping @Sendable () -> Bool) {
        self.board = board
        profile = board.config.uboot
        expect = ConsoleExpect(console: board.console, isCancelled: isCancelled)
    }

    public func detach() { expect.detach() }

    /// Power on, or cycle a board that is on.
    public func powerUp() throws(JobFailure) {
        do {
            if (try? board.power.status()) == .on {
                try board.power.cycle()
            } else {
                try board.power.powerOn()
            }
        } catch {
            throw JobFailure(reason: "the power switch failed: \(error)")
        }
    }

    /// Waits for the autoboot countdown (or a prompt), interrupts it, then
    /// makes sure the line is clean and the board answers.
    public func reachPrompt() throws(JobFailure) {
        let prompt = ExpectPattern.literal(profile.prompt)
        // Boot messages such as "No ethernet found." are no failure yet.
        let first = try wait(for: [.literal(profile.autoboot), prompt], fail: profile.fail.map(ExpectPattern.literal),
                             timeout: profile.timeouts.prompt)
        if first.index == 0 {
            try send(profile.interrupt)
            _ = try wait(for: [prompt], fail: [], timeout: profile.timeouts.command)
        }
        // Ctrl-C drops whatever sits in the line editor; then one round trip
        // whose answer cannot be confused with its echo.
        try send("\u{3}")
        try command("setenv provisioner_sync 1")
        try line("echo sync${provisioner_sync}ok")
        _ = try wait(for: [.literal("sync1ok")], timeout: profile.timeouts.command)
        _ = try wait(for: [prompt], timeout: profile.timeouts.command)
    }

    /// TFTP tuning, the profile's variables, and the network: the static
    /// addresses of `network`, or `dhcp`.
    public func setNetwork(_ network: BoardConfig.Network?) throws(JobFailure) {
        try command("setenv autoload no")
        try command("setenv tftpblocksize \(profile.tftpBlockSize)")
        try command("setenv tftpwindowsize \(profile.tftpWindowSize)")
        for (name, value) in profile.environment { try command("setenv \(name) \(value)") }
        if profile.dhcp {
            try line("dhcp")
            _ = try wait(for: [.literal("DHCP client bound to address")], timeout: profile.timeouts.tftp)
            _ = try wait(for: [.literal(profile.prompt)], timeout: profile.timeouts.command)
            if let network { try command("setenv serverip \(network.serverIP)") }
        } else {
            guard let network else {
                throw JobFailure(reason: "\(board.config.name) has no network block in agent.yaml (board_ip, server_ip), and its U-Boot profile does not use dhcp")
            }
            try command("setenv ipaddr \(network.boardIP)")
            try command("setenv serverip \(network.serverIP)")
            try command("setenv netmask \(network.netmask)")
            if let gateway = network.gateway { try command("setenv gatewayip \(gateway)") }
        }
    }

    /// `tftpboot ADDRESS FILE`, and what U-Boot said of it.
    public func load(_ file: String, at address: String) throws(JobFailure) -> TFTPReport {
        try line("tftpboot \(address) \(file)")
        let done = try wait(for: [.literal("Bytes transferred = ")], timeout: profile.timeouts.tftp)
        let after = try wait(for: [.literal(profile.prompt)], timeout: profile.timeouts.command)
        return TFTPReport(file: file, ubootOutput: done.before, bytesLine: after.before)
    }

    /// The profile's boot command with the kernel, the initrd (its size an
    /// expression such as `${filesize}`) and the device tree (the loaded one,
    /// or the profile's built-in one); waits for `Starting kernel`.
    public func boot(initrdSize: String?, withFDT: Bool) throws(JobFailure) {
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
        try line(command)
        _ = try wait(for: [.literal("Starting kernel")], timeout: profile.timeouts.boot)
    }

    /// Boots the FIT image loaded at the kernel address with `bootm`: its
    /// configuration's kernel and ramdisk, each checked against its hash.
    /// A board whose device tree is U-Boot's own (QEMU's virt machine) names
    /// the configuration, the ramdisk and that tree, as no FIT tree matches it.
    public func bootFIT() throws(JobFailure) {
        let fit = profile.kernelAddress
        let command = profile.builtInFDT.map { "bootm \(fit)#conf-1 \(fit):ramdisk-1 \($0)" } ?? "bootm \(fit)"
        try line(command)
        _ = try wait(for: [.literal("Starting kernel")], timeout: profile.timeouts.boot)
    }

    // MARK: The console

    /// U-Boot's own errors and the profile's: a step fails at once on them.
    public var failures: [ExpectPattern] {
        (UBootProfile.builtInFailures + profile.fail).map(ExpectPattern.literal)
    }

    public func send(_ text: String) throws(JobFailure) {
        do { try expect.send(text) } catch { throw JobFailure(error) }
    }

    public func line(_ text: String) throws(JobFailure) {
        do { try expect.sendLine(text) } catch { throw JobFailure(error) }
    }

    /// Types a command and waits for the prompt after it.
    public func command(_ text: String) throws(JobFailure) {
        try line(text)
        _ = try wait(for: [.literal(profile.prompt)], timeout: profile.timeouts.command)
    }

    /// Waits for one of `patterns`; `fail` defaults to U-Boot's errors.
    public func wait(for patterns: [ExpectPattern], fail: [ExpectPattern]? = nil, timeout: Double) throws(JobFailure) -> ExpectMatch {
        do {
            return try expect.expect(patterns, fail: fail ?? failures, timeout: timeout)
        } catch {
            throw JobFailure(error)
        }
    }
}
