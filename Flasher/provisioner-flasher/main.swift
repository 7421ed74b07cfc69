// The flasher runs as /init in an initramfs on the board. It is built without
// Foundation, so it parses its few arguments by hand.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SystemSupport

let usage = """
    usage: provisioner-flasher [--version] [--help]

    Runs as /init on the board: reads its job from the kernel command line
    (provisioner.job=URL or provisioner.rootfs=URL …), writes and verifies the
    images, reports to the agent and reboots. Not yet flashing: see the flasher issue.

    """

let arguments = CommandLine.arguments.dropFirst()
switch arguments.first {
case "--version":
    print(Provisioner.version)
case "--help", "-h":
    print(usage, terminator: "")
case nil:
    printError("provisioner-flasher: nothing to do yet (see --help)\n")
    exit(1)
case let other?:
    printError("provisioner-flasher: unknown argument '\(other)'\n\(usage)")
    exit(2)
}
