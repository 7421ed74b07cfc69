import Foundation
import ProvisionerTesting
import Testing

/// `run` on the arm64 virtual board booted into Linux: the real kernel's
/// console (QEMU's PL011 behind U-Boot's netboot), the test initramfs's
/// busybox shell (`provisioner.shell`), or busybox getty's login: prompt
/// in front of it (`provisioner.getty`).
@Suite(.serialized, .enabled(if: VirtualLab.isAvailable, "needs root, QEMU, u-boot-qemu and scripts/board-assets"))
struct RunOnVirtualBoardTests {
    func boot(_ lab: VirtualLab, _ argument: String, until text: String) async throws {
        let result = try await lab.ssh("netboot", "arm1", "--kernel", "Image", "--initrd", "initrd", "--args", "'\(argument) quiet'",
                                       "--wait", "'\(text)'", "--timeout", "120s", timeout: .seconds(240))
        try #require(result.exitCode == 0, "\(result)")
    }

    @Test func commandsRunInTheBootedShellWithTheirOutputAndStatus() async throws {
        let lab = try await VirtualLab()
        try await lab.upload("arm64/Image", as: "Image")
        try await lab.upload("arm64/initrd", as: "initrd")
        try await boot(lab, "provisioner.shell", until: "cmdline:")

        let uname = try await lab.ssh("run", "arm1", "--", "uname", "-a", timeout: .seconds(60))
        #expect(uname.exitCode == 0 && uname.stdout.hasPrefix("Linux ") && uname.stdout.contains("aarch64"), "\(uname)")
        #expect(uname.stdout.split(separator: "\n").count == 1, "one line, no echo or prompt: \(uname.stdout)")
        let seven = try await lab.ssh("run", "arm1", "--", "exit", "7")
        #expect(seven.exitCode == 7 && seven.stdout.isEmpty, "\(seven)")
        // The kernel prints in the middle of the command (a critical message
        // always reaches the console): not the command's output.
        let kernel = try await lab.ssh("run", "arm1", "--", "echo", "before;", "echo", "\"'<2>provisioner says hello'\"", ">", "/dev/kmsg;",
                                       "sleep", "1;", "echo", "after", timeout: .seconds(60))
        #expect(kernel.exitCode == 0 && kernel.stdout == "before\nafter\n", "\(kernel)")
        let log = try await lab.ssh("log", "arm1")
        #expect(log.stdout.contains("] provisioner says hello"), "the kernel did print it: \(log.stdout.suffix(1500))")
        let slow = try await lab.ssh("run", "arm1", "--timeout", "3s", "--", "echo", "started;", "sleep", "60", timeout: .seconds(60))
        #expect(slow.exitCode == 124 && slow.stdout == "started\n", "\(slow)")
        let back = try await lab.ssh("run", "arm1", "--", "echo", "back", timeout: .seconds(60))
        #expect(back.exitCode == 0 && back.stdout == "back\n", "\(back)")
        _ = try await lab.ssh("power", "arm1", "off")
    }

    @Test func aLoginPromptIsAnsweredFirst() async throws {
        let lab = try await VirtualLab()
        try await lab.upload("arm64/Image", as: "Image")
        try await lab.upload("arm64/initrd", as: "initrd")
        try await boot(lab, "provisioner.getty", until: "login:")
        let result = try await lab.ssh("run", "arm1", "--", "echo", "logged", "in", timeout: .seconds(60))
        #expect(result.exitCode == 0 && result.stdout == "logged in\n", "\(result)")
        let log = try await lab.ssh("log", "arm1")
        #expect(log.stdout.contains("login: root"), "root was typed at the prompt: \(log.stdout.suffix(1500))")
        _ = try await lab.ssh("power", "arm1", "off")
    }
}
