// The flasher runs as /init in an initramfs on the board (PID 1), or by hand
// with `run` for tests and benchmarks. Built without Foundation: the logic is
// in FlasherCore; this file only picks the mode.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import FlasherCore
import SystemSupport

let usage = """
    usage: provisioner-flasher [--version] [--help]
           provisioner-flasher run (--cmdline "ARGS" | --cmdline-file FILE) [--inventory-root DIR]

    As /init (PID 1) on the board: mounts /proc, /sys and /dev, loads the
    modules in /etc/modules, reads /proc/cmdline, brings up the network
    (ip=…), writes and verifies the images, reports to the agent, then
    reboots (or powers off, or stays); on failure, a shell on the console.

    run: does the job given as a kernel command line, then exits 0 on
    success, 1 on failure, 2 on a usage error. Nothing is mounted or rebooted.

    Kernel command line:
      provisioner.job=URL                 a job manifest (JSON) from the agent
      provisioner.rootfs=URL              or the image named directly, with
      provisioner.rootfs.sha256=HEX         its SHA-256 (decompressed),
      provisioner.target=/dev/mmcblk0       where it goes,
      provisioner.bmap=URL                  and a bmaptool block map
      provisioner.kernel=URL provisioner.kernel.target=/dev/mmcblk0p1:/Image
      provisioner.IMAGE.{sha256,size,compression,bmap,target}  IMAGE: rootfs, kernel, dtb
      provisioner.verify=0                skip the read-back
      provisioner.after=reboot|poweroff|stay
      provisioner.events=URL              where events go without a job URL
      provisioner.retries=N               download retries without progress (8)
      ip=CLIENT::GATEWAY:NETMASK[:HOST:DEVICE] | ip=dhcp

    """

/// Parses the command line text into arguments, or exits 2.
func parseArguments(_ text: String) -> FlasherArguments {
    do throws(FlasherError) {
        return try FlasherArguments(commandLine: try KernelCommandLine(text))
    } catch {
        printError("provisioner-flasher: \(error.what)\n")
        exit(2)
    }
}

/// `run`: the job without PID 1's duties.
func runByHand(_ options: ArraySlice<String>) -> Never {
    var commandLine: String?
    var inventoryRoot = "/"
    var rest = options
    while let option = rest.popFirst() {
        switch option {
        case "--cmdline":
            guard let value = rest.popFirst() else { printError("provisioner-flasher: --cmdline needs a value\n"); exit(2) }
            commandLine = value
        case "--cmdline-file":
            guard let path = rest.popFirst() else { printError("provisioner-flasher: --cmdline-file needs a path\n"); exit(2) }
            guard let text = readText(path) else {
                printError("provisioner-flasher: cannot read \(path): \(String(cString: strerror(errno)))\n")
                exit(2)
            }
            commandLine = text
        case "--inventory-root":
            guard let path = rest.popFirst() else { printError("provisioner-flasher: --inventory-root needs a path\n"); exit(2) }
            inventoryRoot = path
        default:
            printError("provisioner-flasher: unknown option '\(option)'\n\(usage)")
            exit(2)
        }
    }
    guard let commandLine else {
        printError("provisioner-flasher: run needs --cmdline or --cmdline-file\n")
        exit(2)
    }
    let arguments = parseArguments(commandLine)
    switch FlashRunner(inventoryRoot: inventoryRoot).run(arguments) {
    case .success: exit(0)
    case .failure: exit(1)
    }
}

/// PID 1: the board's whole life in the initramfs. Never returns.
func runAsInit() -> Never {
    let system = InitSystem()
    system.mountKernelFileSystems()
    let log: (String) -> Void = { writeLine("provisioner: " + $0) }
    log("provisioner-flasher \(Provisioner.version) starting")
    system.loadModules(log: log)
    let text = readText("/proc/cmdline") ?? ""
    let arguments: FlasherArguments
    do throws(FlasherError) {
        arguments = try FlasherArguments(commandLine: try KernelCommandLine(text))
        try system.bringUpNetwork(arguments.network, log: log)
    } catch {
        EventReporter(eventsURL: nil).failure(error)
        system.rescueShell()
    }
    // Children (udhcpc's, the shell's) are reaped while the job runs.
    try? startThread(named: "reaper") {
        while true {
            system.children.reapOrphans()
            sleepSeconds(1)
        }
    }
    switch FlashRunner().run(arguments) {
    case .success(let after): system.finish(after, log: log)
    case .failure: system.rescueShell()
    }
}

let arguments = CommandLine.arguments.dropFirst()
if getpid() == 1 {
    runAsInit()
}
switch arguments.first {
case "--version":
    print(Provisioner.version)
case "--help", "-h":
    print(usage, terminator: "")
case "run":
    runByHand(arguments.dropFirst())
case nil:
    printError("provisioner-flasher: not PID 1; use 'run --cmdline …' (see --help)\n")
    exit(2)
case let other?:
    printError("provisioner-flasher: unknown argument '\(other)'\n\(usage)")
    exit(2)
}
