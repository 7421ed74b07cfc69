import Foundation
import ProvisionerTesting
import Testing

/// `netboot` end to end: the real OpenSSH client, `provisioner-agent serve`,
/// QEMU with Debian's real U-Boot, our TFTP server, and a real Debian 6.1
/// kernel with a busybox initramfs (scripts/board-assets) whose /init prints
/// `PROVISIONER-MARKER` and its command line.
///
/// U-Boot always asks TFTP port 69, so the agent runs in a private network
/// namespace (`unshare -n`) with TFTP on 127.0.0.1:69, and ssh joins it
/// (`nsenter -n`). Serialized: two QEMU boards under TCG on 2 cores would
/// time each other out.
@Suite(.serialized, .enabled(if: VirtualLab.isAvailable, "needs root, QEMU, u-boot-qemu and scripts/board-assets"))
struct NetbootTests {
    @Test(arguments: ["arm1", "lockstep"])
    func theKernelBootsWithTheGivenArguments(board: String) async throws {
        let lab = try await VirtualLab()
        try await lab.upload("arm64/Image", as: "Image")
        try await lab.upload("arm64/initrd", as: "initrd")
        let result = try await lab.ssh("netboot", board, "--kernel", "Image", "--initrd", "initrd",
                                       "--args", "'provisioner.test=\(board) quiet'",
                                       // The line after the marker: `log` is read as soon as netboot returns.
                                       "--wait-regex", "'cmdline: .*provisioner.test=\(board) quiet'",
                                       "--timeout", "120s", timeout: .seconds(240))
        #expect(result.exitCode == 0, "\(result)")
        #expect(result.stdout.contains("netboot: \(board): /cmdline: .*provisioner.test=\(board) quiet/ seen"), "\(result.stdout)")
        #expect(result.stdout.contains("tftp kernel: ok"), "\(result.stdout)")
        // The kernel saw the arguments: /init printed its command line.
        let log = try await lab.ssh("log", board)
        #expect(log.stdout.contains("PROVISIONER-MARKER"), "\(log.stdout.suffix(2000))")
        #expect(log.stdout.contains("cmdline: console=ttyAMA0,115200 provisioner.test=\(board) quiet"), "\(log.stdout.suffix(2000))")
        #expect(log.stdout.contains("netboot: tftp kernel"), "each step is in the board log")
        let blockSize = board == "lockstep" ? "512" : "1468"
        #expect(log.stdout.contains("setenv tftpblocksize \(blockSize)"), "\(log.stdout.suffix(4000))")
        _ = try await lab.ssh("power", board, "off")
    }

    @Test func aBoardWhoseBootIsScriptedInYAML() async throws {
        let lab = try await VirtualLab()
        try await lab.upload("arm64/Image", as: "Image")
        try await lab.upload("arm64/initrd", as: "initrd")
        let missing = try await lab.ssh("netboot", "scripted", "--kernel", "Image", "--wait", "x")
        #expect(missing.exitCode == 2)
        #expect(missing.stderrLines == ["netboot: scripted's netboot steps need --initrd"])
        let result = try await lab.ssh("netboot", "scripted", "--kernel", "Image", "--initrd", "initrd", "--args", "scripted=yes",
                                       "--wait", "scripted=yes", "--timeout", "120s", timeout: .seconds(240))
        #expect(result.exitCode == 0, "\(result)")
        #expect(result.stdout.contains("step 1: 'tftpboot ${kernel_addr_r} scripted/kernel': ok"), "\(result.stdout)")
        #expect(result.stdout.contains("step 3: 'booti"), "\(result.stdout)")
        _ = try await lab.ssh("power", "scripted", "off")
    }

    @Test func theX86BoardBootsWithZboot() async throws {
        let lab = try await VirtualLab()
        try await lab.upload("x86/bzImage", as: "bzImage")
        try await lab.upload("x86/initrd", as: "initrd")
        let result = try await lab.ssh("netboot", "x86", "--kernel", "bzImage", "--initrd", "initrd", "--args", "on=x86",
                                       "--wait-regex", "'cmdline: .*on=x86'", "--timeout", "180s", timeout: .seconds(300))
        #expect(result.exitCode == 0, "\(result)")
        #expect(result.stdout.contains("preboot 'virtio scan': ok"), "\(result.stdout)")
        let log = try await lab.ssh("log", "x86")
        #expect(log.stdout.contains("zboot ${kernel_addr_r} 0 0x8000000 ${provisioner_initrd_size}")
                || log.stdout.contains("zboot ${kernel_addr_r} 0 ${ramdisk_addr_r} ${provisioner_initrd_size}"),
                "\(log.stdout.suffix(3000))")
        _ = try await lab.ssh("power", "x86", "off")
    }

    @Test func aCorruptedKernelFailsAtBootWithUBootsWords() async throws {
        let lab = try await VirtualLab()
        try lab.folder.createFile("garbage", contents: try RandomBytes.make(count: 1 << 20))
        let upload = try await RunningProcess.run("nsenter", lab.nsenter(["upload", "arm1", "Image"]),
                                                  stdinPath: lab.folder.path("garbage"))
        #expect(upload.exitCode == 0, "\(upload)")
        let started = ContinuousClock.now
        let result = try await lab.ssh("netboot", "arm1", "--kernel", "Image", "--wait", "PROVISIONER-MARKER",
                                       timeout: .seconds(120))
        #expect(result.exitCode == 1, "\(result)")
        #expect(result.stderrLines == ["netboot: arm1: step 'boot' failed: the board said 'Bad Linux ARM64 Image magic!'"],
                "\(result.stderr)")
        #expect(result.stdout.contains("netboot: the last console lines:"), "\(result.stdout)")
        #expect(result.stdout.contains("  | => booti ${kernel_addr_r} - ${fdtcontroladdr}"), "\(result.stdout)")
        let power = try await lab.ssh("power", "arm1", "status")
        #expect(power.stdout == "arm1: on\n", "jobs.on_failure: keep leaves it on")
        #expect(ContinuousClock.now - started < .seconds(90), "reported, not waited out")
        _ = try await lab.ssh("power", "arm1", "off")
    }

    @Test func aPromptThatNeverComesFailsWithinItsTimeoutAndABusyBoardIsRefused() async throws {
        let lab = try await VirtualLab()
        try await lab.upload("arm64/initrd", as: "Image")
        // Started in the background: it holds the board while it waits.
        let first = try RunningProcess("nsenter", lab.nsenter(["netboot", "wrongprompt", "--kernel", "Image", "--wait", "never"]))
        try await Task.sleep(for: .seconds(3))
        let second = try await lab.ssh("netboot", "wrongprompt", "--kernel", "Image", "--wait", "never")
        #expect(second.exitCode == 1, "\(second)")
        #expect(second.stderr.hasPrefix("netboot: wrongprompt is busy: a netboot job by user is running"), "\(second.stderr)")

        let code = await first.waitForExit(timeout: .seconds(90))
        #expect(code == 1, "\(first.stdout) \(first.stderr)")
        #expect(first.stderr.contains("netboot: wrongprompt: step 'U-Boot prompt' failed: 'board# ' did not come within 8s"),
                "\(first.stderr)")
        #expect(first.stdout.contains("Hit any key to stop autoboot"), "the last console lines: \(first.stdout)")
        let power = try await lab.ssh("power", "wrongprompt", "status")
        #expect(power.stdout == "wrongprompt: off\n", "jobs.on_failure: off powers it off")
    }

    @Test func onATerminalNetbootEndsInTheConsole() async throws {
        let lab = try await VirtualLab()
        try await lab.upload("arm64/Image", as: "Image")
        try await lab.upload("arm64/initrd", as: "initrd")
        let terminal = try ConsoleProcess("nsenter", lab.nsenter(["netboot", "arm1", "--kernel", "Image", "--initrd", "initrd"],
                                                                 terminal: true), terminal: true)
        try await terminal.expect("boot: ok", timeout: .seconds(120))
        try await terminal.expect("arm1 console", timeout: .seconds(20))
        try await terminal.expect("PROVISIONER-MARKER", timeout: .seconds(120))
        terminal.send("\u{1d}.")
        try await terminal.expect("detached from arm1", timeout: .seconds(10))
        let jobs = try await lab.ssh("jobs", "arm1", "--json")
        let job = (try? JSONSerialization.jsonObject(with: Data(jobs.stdout.utf8)) as? [[String: Any]])?.last
        #expect(job?["result"] as? String == "ok" && job?["kind"] as? String == "netboot", "\(jobs.stdout)")
        #expect((job?["phases"] as? [[String: Any]])?.contains { ($0["name"] as? String)?.isEmpty == false } == true, "\(jobs.stdout)")
        _ = try await lab.ssh("power", "arm1", "off")
    }

    @Test func ctrlCCancelsAJobAtOnce() async throws {
        let lab = try await VirtualLab()
        try await lab.upload("arm64/initrd", as: "Image")
        let terminal = try ConsoleProcess("nsenter", lab.nsenter(["netboot", "stuck", "--kernel", "Image", "--wait", "x"],
                                                                 terminal: true), terminal: true)
        try await terminal.expect("U-Boot prompt…", timeout: .seconds(30))
        let cancelled = ContinuousClock.now
        terminal.send("\u{3}")
        try await terminal.expect("netboot: stuck: cancelled at step 'U-Boot prompt'", timeout: .seconds(15))
        #expect(ContinuousClock.now - cancelled < .seconds(15), "long before the 5 minute prompt timeout")
        let jobs = try await lab.ssh("jobs", "stuck")
        #expect(jobs.stdout.contains("netboot  user  Image"), "\(jobs.stdout)")
        #expect(jobs.stdout.contains("cancelled"), "\(jobs.stdout)")
        // The board is free again: the next job gets past its claim (to a missing file).
        let next = try await lab.ssh("netboot", "stuck", "--kernel", "nosuch", "--wait", "x")
        #expect(next.stderrLines == ["netboot: '/u/user/nosuch' not found"], "\(next.stderr)")
        _ = try await lab.ssh("power", "stuck", "off")
    }

    @Test func aFileThatIsNotThereIsNamedBeforeAnythingIsPowered() async throws {
        let lab = try await VirtualLab()
        let result = try await lab.ssh("netboot", "arm1", "--kernel", "nosuch", "--wait", "x")
        #expect(result.exitCode == 1)
        #expect(result.stderrLines == ["netboot: '/u/user/nosuch' not found"])
        let power = try await lab.ssh("power", "arm1", "status")
        #expect(power.stdout == "arm1: off\n")
    }
}
