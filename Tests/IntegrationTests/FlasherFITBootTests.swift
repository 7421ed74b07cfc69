import Foundation
import ProvisionerTesting
import Testing

/// The flasher's FIT image (images/build-flasher) booted with `bootm` by
/// Debian's 32-bit x86 U-Boot in QEMU: the `fit` board of the virtual lab
/// (profile qemu-x86 with `boot: bootm`, the FIT loaded at 0x8000000), driven
/// by `netboot` over the real OpenSSH client and the agent's TFTP server.
/// U-Boot checks the sha256 of each part, boots the kernel from the FIT's
/// setup and kernel parts with its ramdisk, and the flasher starts as /init.
@Suite(.serialized, .enabled(if: VirtualLab.isAvailable && VirtualLab.hasFlasherFIT,
                             "needs the virtual lab and images/build-flasher --arch amd64"))
struct FlasherFITBootTests {
    static var fit: String { VirtualLab.flasherFIT }

    @Test func bootmChecksEveryPartAndTheFlasherStarts() async throws {
        let lab = try await VirtualLab()
        try await lab.upload(path: Self.fit, as: "flasher.itb")
        // No job on the command line: the flasher starts, says so, and opens a shell.
        let result = try await lab.ssh("netboot", "fit", "--kernel", "flasher.itb", "--args", "fit=yes",
                                       "--wait", "'provisioner: FAILED: configuration: no job'",
                                       "--timeout", "180s", timeout: .seconds(300))
        #expect(result.exitCode == 0, "\(result)")
        let log = try await lab.ssh("log", "fit")
        #expect(log.stdout.contains("bootm 0x8000000"), "\(log.stdout.suffix(3000))")
        for node in ["kernel-1", "setup-1", "ramdisk-1"] {
            #expect(log.stdout.contains("Trying '\(node)'"), "\(node): \(log.stdout.suffix(6000))")
        }
        #expect(log.stdout.components(separatedBy: "Verifying Hash Integrity ... sha256+ OK").count - 1 == 3,
                "a checked sha256 for each part: \(log.stdout.suffix(6000))")
        #expect(log.stdout.contains("Loading setup from "), "\(log.stdout.suffix(6000))")
        #expect(log.stdout.contains("] Command line: console=ttyS0,115200 fit=yes"), "\(log.stdout.suffix(3000))")
        #expect(log.stdout.contains(/provisioner: provisioner-flasher \S+ starting/), "its banner: \(log.stdout.suffix(3000))")
        _ = try await lab.ssh("power", "fit", "off")
    }

    @Test func aFITWhoseRamdiskChangedIsRefusedByUBootWithTheNodeItNames() async throws {
        let lab = try await VirtualLab()
        var image = try Data(contentsOf: URL(fileURLWithPath: Self.fit))
        let initrd = try Data(contentsOf: URL(fileURLWithPath: VirtualLab.flasherImages + "/flasher-amd64/initrd"))
        let ramdisk = try #require(image.firstRange(of: initrd.prefix(4096)), "the initrd's bytes are in the FIT")
        image[ramdisk.lowerBound + initrd.count / 2] ^= 0xff
        try image.write(to: URL(fileURLWithPath: lab.folder.path("changed.itb")))
        try await lab.upload(path: lab.folder.path("changed.itb"), as: "changed.itb")
        let started = ContinuousClock.now
        let result = try await lab.ssh("netboot", "fit", "--kernel", "changed.itb", "--wait", "never", timeout: .seconds(240))
        #expect(result.exitCode == 1, "\(result)")
        #expect(result.stderrLines == ["netboot: fit: step 'boot' failed: the board said "
                                       + "'Bad hash value for 'hash-1' hash node in 'ramdisk-1' image node'"],
                "\(result.stderr)")
        #expect(result.stdout.contains("Verifying Hash Integrity ... sha256 error!"), "\(result.stdout)")
        #expect(ContinuousClock.now - started < .seconds(120), "reported at once, not waited out")
        _ = try await lab.ssh("power", "fit", "off")
    }

    @Test func flashOnABootmBoardBootsTheFlasherFITAndWritesTheDisk() async throws {
        let lab = try await VirtualLab()
        let image = try FlashTests.makeImage(at: lab.folder.path("disk.img"))
        try #require(try await RunningProcess.run("zstd", ["-q", "-f", lab.folder.path("disk.img")]).exitCode == 0)
        try await lab.upload(path: lab.folder.path("disk.img.zst"), as: "disk.img.zst")
        let result = try await lab.ssh("flash", "fit", "--rootfs", "disk.img.zst", timeout: .seconds(300))
        #expect(result.exitCode == 0, "\(result)")
        let log = try await lab.ssh("log", "fit")
        #expect(log.stdout.contains("tftpboot 0x8000000 shared/flasher-amd64/flasher.itb"), "\(log.stdout.suffix(4000))")
        #expect(log.stdout.components(separatedBy: "Verifying Hash Integrity ... sha256+ OK").count - 1 >= 3,
                "U-Boot checked the FIT: \(log.stdout.suffix(6000))")
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: lab.folder.path("fit.img")))
        defer { try? handle.close() }
        #expect(try handle.read(upToCount: image.count) == image, "the disk holds the image")
        _ = try await lab.ssh("power", "fit", "off")
    }
}
