import AgentCore
import Foundation
import SystemSupport

/// What `netboot` was asked to boot: TFTP names of files already staged
/// for the board (`BOARD/kernel`…), the kernel's arguments, and optionally
/// the console output that means success.
public struct NetbootRequest: Sendable {
    public var user: String
    public var kernel: String
    public var dtb: String?
    public var initrd: String?
    public var arguments: String?
    /// Success once this shows on the console after the kernel started.
    public var wait: ExpectPattern?
    public var waitTimeout: Double

    public init(user: String, kernel: String, dtb: String? = nil, initrd: String? = nil, arguments: String? = nil,
                wait: ExpectPattern? = nil, waitTimeout: Double = 300) {
        self.user = user
        self.kernel = kernel
        self.dtb = dtb
        self.initrd = initrd
        self.arguments = arguments
        self.wait = wait
        self.waitTimeout = waitTimeout
    }
}

/// The netboot state machine (DESIGN.md, Jobs): power → U-Boot prompt →
/// environment → TFTP each file → boot → `Starting kernel` (→ the wait
/// pattern). Every step is timed, written to the board log, and reported;
/// every wait has a timeout and U-Boot's errors end it at once.
public final class NetbootJob {
    public let board: any BoardHandle
    public let request: NetbootRequest
    private let profile: UBootProfile
    private let report: (String) -> Void
    private let isCancelled: @Sendable () -> Bool
    private var expect: ConsoleExpect?
    private let startedAt = monotonicNow()

    /// Each finished step with its duration, and what U-Boot reported of each TFTP transfer.
    public private(set) var steps: [(name: String, seconds: Double)] = []
    public private(set) var transfers: [TFTPReport] = []

    /// `report` gets one line per step for the user; `isCancelled` is polled.
    public init(board: any BoardHandle, request: NetbootRequest, report: @escaping (String) -> Void,
                isCancelled: @escaping @Sendable () -> Bool) {
        self.board = board
        self.request = request
        profile = board.config.uboot
        self.report = report
        self.isCancelled = isCancelled
    }

    /// Runs every step; throws the first failure, naming its step.
    public func run() throws(JobFailure) {
        let name = board.config.name
        var files = "kernel \(request.kernel)"
        if let initrd = request.initrd { files += ", initrd \(initrd)" }
        if let dtb = request.dtb { files += ", dtb \(dtb)" }
        board.console.note("netboot by \(request.user): \(files)")
        // Attached before power, so no output is missed.
        let expect = ConsoleExpect(console: board.console, isCancelled: isCancelled)
        self.expect = expect
        defer { expect.detach() }
        do throws(JobFailure) {
            try step("power") { () throws(JobFailure) in try powerUp() }
            try step("U-Boot prompt") { () throws(JobFailure) in try reachPrompt(expect) }
            for preboot in profile.preboot {
                try step("preboot '\(preboot)'") { () throws(JobFailure) in try command(preboot, expect) }
            }
            try step("environment") { () throws(JobFailure) in try setEnvironment(expect) }
            try step("tftp kernel") { () throws(JobFailure) in try load(request.kernel, at: profile.kernelAddress, expect) }
            if let initrd = request.initrd {
                try step("tftp initrd") { () throws(JobFailure) in
                    try load(initrd, at: profile.ramdiskAddress, expect)
                    try command("setenv provisioner_initrd_size ${filesize}", expect)
                }
            }
            if let dtb = request.dtb {
                try step("tftp dtb") { () throws(JobFailure) in try load(dtb, at: profile.fdtAddress, expect) }
            }
            try step("boot") { () throws(JobFailure) in try boot(expect) }
            if let pattern = request.wait {
                try step("wait for \(pattern)") { () throws(JobFailure) in
                    _ = try wait(for: [pattern], fail: [.literal("Kernel panic")], timeout: request.waitTimeout, expect)
                }
            }
        } catch {
            board.console.note("netboot by \(request.user): \(error.step) failed: \(error.reason)")
            throw error
        }
        board.console.note("netboot by \(request.user): done in \(seconds(monotonicNow() - startedAt))")
    }

    // MARK: Steps

    private func step(_ name: String, _ body: () throws(JobFailure) -> Void) throws(JobFailure) {
        let started = monotonicNow()
        report("\(clockTime()) \(name)…")
        board.console.note("netboot: \(name)")
        do {
            try body()
        } catch {
            throw error.inStep(name)
        }
        let took = monotonicNow() - started
        steps.append((name, took))
        report("\(clockTime()) \(name): ok (\(seconds(took)))")
    }

    private func powerUp() throws(JobFailure) {
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
    private func reachPrompt(_ expect: ConsoleExpect) throws(JobFailure) {
        let prompt = ExpectPattern.literal(profile.prompt)
        // Boot messages such as "No ethernet found." are no failure yet.
        let first = try wait(for: [.literal(profile.autoboot), prompt], fail: profile.fail.map(ExpectPattern.literal),
                             timeout: profile.timeouts.prompt, expect)
        if first.index == 0 {
            try send(profile.interrupt, expect)
            _ = try wait(for: [prompt], fail: [], timeout: profile.timeouts.command, expect)
        }
        // Ctrl-C drops whatever sits in the line editor; then one round trip
        // whose answer cannot be confused with its echo.
        try send("\u{3}", expect)
        try command("setenv provisioner_sync 1", expect)
        try line("echo sync${provisioner_sync}ok", expect)
        _ = try wait(for: [.literal("sync1ok")], timeout: profile.timeouts.command, expect)
        _ = try wait(for: [prompt], timeout: profile.timeouts.command, expect)
    }

    private func setEnvironment(_ expect: ConsoleExpect) throws(JobFailure) {
        try command("setenv autoload no", expect)
        try command("setenv tftpblocksize \(profile.tftpBlockSize)", expect)
        try command("setenv tftpwindowsize \(profile.tftpWindowSize)", expect)
        for (name, value) in profile.environment { try command("setenv \(name) \(value)", expect) }
        if profile.dhcp {
            _ = try line("dhcp", expect)
            _ = try wait(for: [.literal("DHCP client bound to address")], timeout: profile.timeouts.tftp, expect)
            _ = try wait(for: [.literal(profile.prompt)], timeout: profile.timeouts.command, expect)
            if let network = board.config.network { try command("setenv serverip \(network.serverIP)", expect) }
        } else {
            guard let network = board.config.network else {
                throw JobFailure(reason: "\(board.config.name) has no network block in agent.yaml (board_ip, server_ip), and its U-Boot profile does not use dhcp")
            }
            try command("setenv ipaddr \(network.boardIP)", expect)
            try command("setenv serverip \(network.serverIP)", expect)
            try command("setenv netmask \(network.netmask)", expect)
            if let gateway = network.gateway { try command("setenv gatewayip \(gateway)", expect) }
        }
        try command("setenv bootargs '\(bootArguments)'", expect)
    }

    /// `console=…` from the profile, then the caller's arguments.
    var bootArguments: String {
        var words: [String] = []
        if let console = profile.linuxConsole { words.append("console=\(console),\(board.config.serial.baud)") }
        if let arguments = request.arguments, !arguments.isEmpty { words.append(arguments) }
        return words.joined(separator: " ")
    }

    private func load(_ file: String, at address: String, _ expect: ConsoleExpect) throws(JobFailure) {
        try line("tftpboot \(address) \(file)", expect)
        let done = try wait(for: [.literal("Bytes transferred = ")], timeout: profile.timeouts.tftp, expect)
        let after = try wait(for: [.literal(profile.prompt)], timeout: profile.timeouts.command, expect)
        let transfer = TFTPReport(file: file, ubootOutput: done.before, bytesLine: after.before)
        transfers.append(transfer)
        report("  \(file): \(transfer.summary)")
    }

    private func boot(_ expect: ConsoleExpect) throws(JobFailure) {
        let kernel = profile.kernelAddress
        let ramdisk = request.initrd == nil ? "-" : "\(profile.ramdiskAddress):${provisioner_initrd_size}"
        let fdt = request.dtb != nil ? profile.fdtAddress : profile.builtInFDT
        let command: String
        switch profile.boot {
        case "zboot":
            command = request.initrd == nil ? "zboot \(kernel)" : "zboot \(kernel) 0 \(profile.ramdiskAddress) ${provisioner_initrd_size}"
        default:
            command = [profile.boot, kernel, fdt == nil && request.initrd == nil ? nil : ramdisk, fdt]
                .compactMap { $0 }.joined(separator: " ")
        }
        try line(command, expect)
        _ = try wait(for: [.literal("Starting kernel")], timeout: profile.timeouts.boot, expect)
    }

    // MARK: Console

    private var failures: [ExpectPattern] {
        (UBootProfile.builtInFailures + profile.fail).map(ExpectPattern.literal)
    }

    private func send(_ text: String, _ expect: ConsoleExpect) throws(JobFailure) {
        do { try expect.send(text) } catch { throw JobFailure(error) }
    }

    private func line(_ text: String, _ expect: ConsoleExpect) throws(JobFailure) {
        do { try expect.sendLine(text) } catch { throw JobFailure(error) }
    }

    /// Types a command and waits for the prompt after it.
    private func command(_ text: String, _ expect: ConsoleExpect) throws(JobFailure) {
        try line(text, expect)
        _ = try wait(for: [.literal(profile.prompt)], timeout: profile.timeouts.command, expect)
    }

    private func wait(for patterns: [ExpectPattern], fail: [ExpectPattern]? = nil, timeout: Double,
                      _ expect: ConsoleExpect) throws(JobFailure) -> ExpectMatch {
        do {
            return try expect.expect(patterns, fail: fail ?? failures, timeout: timeout)
        } catch {
            throw JobFailure(error)
        }
    }
}

/// What U-Boot said of one `tftpboot`.
public struct TFTPReport: Sendable, Equatable {
    public var file: String
    /// `Bytes transferred = N`.
    public var bytes: Int?
    /// U-Boot's own rate line, e.g. `12.3 MiB/s`.
    public var rate: String?

    init(file: String, ubootOutput: String, bytesLine: String) {
        self.file = file
        bytes = Int(bytesLine.prefix(while: { $0.isNumber }))
        rate = ubootOutput.split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .last(where: { $0.hasSuffix("/s") && ($0.first?.isNumber ?? false) })
    }

    public var summary: String {
        [bytes.map { "\($0) bytes" }, rate].compactMap { $0 }.joined(separator: " at ")
    }
}

/// A job that failed: the step, why, and the last console lines.
public struct JobFailure: Error, CustomStringConvertible, Sendable {
    public var step = ""
    public var reason: String
    public var recentLines: [String] = []
    public var cancelled = false

    init(reason: String) { self.reason = reason }

    init(_ failure: ExpectFailure) {
        reason = failure.reason
        recentLines = failure.recentLines
        cancelled = failure.cancelled
    }

    func inStep(_ name: String) -> JobFailure {
        var copy = self
        if copy.step.isEmpty { copy.step = name }
        return copy
    }

    public var description: String { step.isEmpty ? reason : "\(step): \(reason)" }
}

/// "12:00:01" (UTC), for the user's progress lines.
func clockTime() -> String {
    let seconds = Int(wallClock()) % 86400
    func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
    return "\(two(seconds / 3600)):\(two(seconds / 60 % 60)):\(two(seconds % 60))"
}
