import ArgumentParser
import ProvisionerCore
import ShellSupport

/// `netboot BOARD --kernel NAME [--initrd NAME] [--dtb NAME] [--args "…"]
/// [--wait TEXT | --wait-regex RE] [--timeout 5m] [--force]`.
public struct NetbootCommand: BoardCommand {
    public static let configuration = CommandConfiguration(
        commandName: "netboot",
        abstract: "Power-cycle, stop U-Boot, TFTP-boot your files, then the console (or exit 0 once TEXT shows); Ctrl-C cancels.",
        usage: "netboot BOARD --kernel NAME [--initrd NAME] [--dtb NAME] [--args \"…\"] [--wait TEXT|--wait-regex RE] [--timeout 5m]")

    @Argument(help: .board) public var board: String
    @Option(help: ArgumentHelp("The kernel, from your files.", valueName: "NAME")) public var kernel: String?
    @Option(help: ArgumentHelp("An initramfs, from your files.", valueName: "NAME")) public var initrd: String?
    @Option(help: ArgumentHelp("A device tree, from your files.", valueName: "NAME")) public var dtb: String?
    @Option(name: .customLong("args"), parsing: .unconditional,
            help: ArgumentHelp("The kernel's command line.", valueName: "TEXT")) public var kernelArguments: String?
    @Option(parsing: .unconditional, help: ArgumentHelp("Exit 0 once the console shows TEXT.", valueName: "TEXT")) public var wait: String?
    @Option(name: .customLong("wait-regex"), parsing: .unconditional,
            help: ArgumentHelp("Exit 0 once the console matches RE.", valueName: "RE")) public var waitRegex: String?
    @Option(help: ArgumentHelp("How long --wait waits (default 5m).", valueName: "DURATION")) public var timeout: String?
    @Flag(help: .force) public var force = false

    public init() {}

    /// `--timeout` in seconds (checked: a positive duration).
    public var timeoutSeconds: Double { timeout.flatMap(parseDuration) ?? 300 }

    public func check() throws(ShellError) {
        guard kernel != nil else { throw Self.usageError("--kernel NAME is required") }
        if let kernelArguments, kernelArguments.contains("'") {
            throw .usage("netboot: --args cannot contain ' (it is passed through U-Boot's shell in single quotes)")
        }
        if let wait, waitRegex != nil { throw .usage("netboot: give --wait '\(wait)' or --wait-regex, not both") }
        if let timeout {
            guard wait != nil || waitRegex != nil else { throw .usage("netboot: --timeout goes with --wait") }
            guard let value = parseDuration(timeout), value > 0 else {
                throw .usage("netboot: --timeout '\(timeout)' is not a duration (e.g. 90s, 5m)")
            }
        }
    }

    public var words: [String] {
        ["netboot", board] + option("--kernel", kernel) + option("--initrd", initrd) + option("--dtb", dtb)
            + option("--args", kernelArguments) + option("--wait", wait) + option("--wait-regex", waitRegex)
            + option("--timeout", timeout) + flag("--force", force)
    }
    public var access: BoardAccess { .holder }
    public var audit: (action: String, detail: String?)? { change }
    /// Ctrl-C cancels; a console follows a netboot without --wait.
    public var readsInput: Bool { true }
}

/// `flash BOARD [--rootfs NAME [--bmap NAME] [--target DEV]] [--kernel NAME]
/// [--dtb NAME] [--no-verify] [--force]`.
public struct FlashCommand: BoardCommand {
    public static let configuration = CommandConfiguration(
        commandName: "flash", abstract: "Write your images with the flasher, verify them, boot them.",
        usage: "flash BOARD [--rootfs NAME [--bmap NAME] [--target DEV]] [--kernel NAME] [--dtb NAME] [--no-verify]")

    @Argument(help: .board) public var board: String
    @Option(help: ArgumentHelp("The rootfs image (raw, .gz, .xz or .zst), from your files.", valueName: "NAME")) public var rootfs: String?
    @Option(help: ArgumentHelp("Its bmap (default: NAME.bmap when you have one).", valueName: "NAME")) public var bmap: String?
    @Option(help: ArgumentHelp("Where the rootfs goes (default: the board's flash.target).", valueName: "DEV")) public var target: String?
    @Option(help: ArgumentHelp("A kernel, to flash.kernel_target.", valueName: "NAME")) public var kernel: String?
    @Option(help: ArgumentHelp("A device tree, to flash.dtb_target.", valueName: "NAME")) public var dtb: String?
    @Flag(name: .customLong("no-verify"), help: "Do not read the written bytes back.") public var noVerify = false
    @Flag(help: .force) public var force = false

    public init() {}

    public var verify: Bool { !noVerify }

    public func check() throws(ShellError) {
        guard rootfs != nil || kernel != nil || dtb != nil else { throw Self.usageError("nothing to write: give --rootfs, --kernel or --dtb") }
        if rootfs == nil, let option = [("--bmap", bmap), ("--target", target)].first(where: { $0.1 != nil })?.0 {
            throw .usage("flash: \(option) goes with --rootfs")
        }
    }

    public var words: [String] {
        ["flash", board] + option("--rootfs", rootfs) + option("--bmap", bmap) + option("--target", target)
            + option("--kernel", kernel) + option("--dtb", dtb) + flag("--no-verify", noVerify) + flag("--force", force)
    }
    public var access: BoardAccess { .holder }
    public var audit: (action: String, detail: String?)? { change }
    /// Ctrl-C cancels; a console follows a netboot without --wait.
    public var readsInput: Bool { true }
}

/// `jobs BOARD [--json]`: the board's netboot and flash history.
public struct JobsCommand: BoardCommand {
    public static let configuration = CommandConfiguration(commandName: "jobs", abstract: "The board's netboot and flash history.",
        usage: "jobs BOARD [--json]")

    @Argument(help: .board) public var board: String
    @Flag(help: "One line of JSON (docs/json.md).") public var json = false

    public init() {}

    public var words: [String] { ["jobs", board] + flag("--json", json) }
    public var access: BoardAccess { .anyone }
}

/// `run BOARD [--timeout 5m] -- CMD…`: one command in the booted board's
/// Linux shell over its console; its output and exit status are the
/// session's (124 on timeout).
public struct RunCommand: BoardCommand {
    public static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run CMD in the booted board's shell over its console; its output and exit status are yours (124: timed out).",
        usage: "run BOARD [--timeout 5m] -- CMD…",
        discussion: "Logs in at a login: prompt (uboot.linux in agent.yaml), sends Ctrl-C to a shell that is busy, and frames CMD so that echo and prompts stay out of the output. CMD runs in a subshell: `exit 7` gives 7.")

    @Argument(help: .board) public var board: String
    @Option(help: ArgumentHelp("Give up after this long (default 5m; the output so far, exit 124).", valueName: "DURATION"))
    public var timeout: String?
    @Flag(help: .force) public var force = false
    @Argument(parsing: .postTerminator, help: ArgumentHelp("The command, after --.", valueName: "CMD")) public var command: [String] = []

    public init() {}

    /// `--timeout` in seconds (checked: up to a day).
    public var timeoutSeconds: Double { timeout.flatMap(parseDuration) ?? 300 }

    /// CMD as the board's shell reads it: the words joined by spaces, as
    /// ssh joins its own (quote once more what must stay one word).
    public var commandLine: String { command.joined(separator: " ") }

    public func check() throws(ShellError) {
        guard !command.isEmpty else { throw Self.usageError("give the command after --") }
        guard commandLine.utf8.count <= 4000 else { throw Self.usageError("the command is longer than 4000 bytes") }
        if let timeout {
            guard let value = parseDuration(timeout), value >= 1, value <= 86400 else {
                throw Self.usageError("--timeout '\(timeout)' is not a duration from 1s to a day (e.g. 90s, 5m)")
            }
        }
    }

    public var words: [String] { ["run", board] + option("--timeout", timeout) + flag("--force", force) + ["--"] + command }
    public var access: BoardAccess { .holder }
    public var audit: (action: String, detail: String?)? { ("run", String(commandLine.prefix(200))) }
    /// Ctrl-C stops the command.
    public var readsInput: Bool { true }
}
