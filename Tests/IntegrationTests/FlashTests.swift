import Foundation
import ProvisionerTesting
import Testing

/// `flash` end to end on the x86 virtual board: the real OpenSSH client, the
/// agent, QEMU with Debian's 32-bit x86 U-Boot, our TFTP server booting the
/// flasher (Debian's amd64 kernel, images/build-flasher's initramfs), which
/// fetches the image from the agent's HTTP port, writes the board's virtio
/// disk, verifies, reports, and reboots. The disk file on the host is then
/// compared with the source, byte for byte.
@Suite(.serialized, .enabled(if: VirtualLab.isAvailable && VirtualLab.hasFlasher,
                             "needs the virtual lab and images/build-flasher --arch amd64"))
struct FlashTests {
    /// A 48 MiB disk image: data at the start and near the end, zeros between.
    static func makeImage(at path: String) throws -> Data {
        var image = Data(count: 48 << 20)
        let head = try RandomBytes.make(count: 12 << 20)
        let tail = try RandomBytes.make(count: 3 << 20)
        image.replaceSubrange(0..<head.count, with: head)
        image.replaceSubrange((40 << 20)..<((40 << 20) + tail.count), with: tail)
        try image.write(to: URL(fileURLWithPath: path))
        return image
    }

    func disk(_ lab: VirtualLab, count: Int) throws -> Data {
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: lab.folder.path("pc.img")))
        defer { try? handle.close() }
        return try handle.read(upToCount: count) ?? Data()
    }

    @Test(arguments: [("zst", ["zstd", "-q", "-f"]), ("xz", ["xz", "-k", "-f", "-0", "-T2"]), ("gz", ["gzip", "-k", "-f"])])
    func anImageIsWrittenVerifiedAndTheBoardRebootsIntoIt(_ suffix: String, _ compress: [String]) async throws {
        let lab = try await VirtualLab()
        let image = try Self.makeImage(at: lab.folder.path("disk.img"))
        let packed = try await RunningProcess.run(compress[0], Array(compress.dropFirst()) + [lab.folder.path("disk.img")])
        try #require(packed.exitCode == 0, "\(packed)")
        var extra: [String] = []
        if suffix == "zst" {
            // With a bmap (bmaptool's XML): only mapped ranges are written, each checked.
            let bmap = try await RunningProcess.run("bmaptool", ["create", "-o", lab.folder.path("disk.bmap"), lab.folder.path("disk.img")])
            try #require(bmap.exitCode == 0, "\(bmap)")
            try await lab.upload(path: lab.folder.path("disk.bmap"), as: "disk.bmap")
            extra = ["--bmap", "disk.bmap"]
        }
        try await lab.upload(path: lab.folder.path("disk.img.\(suffix)"), as: "disk.img.\(suffix)")
        let result = try await lab.ssh(["flash", "pc", "--rootfs", "disk.img.\(suffix)"] + extra, timeout: .seconds(300))
        #expect(result.exitCode == 0, "\(result)")
        #expect(result.stdout.contains("flash: pc: disk.img.\(suffix) written, verified, and the board is up"), "\(result.stdout)")
        #expect(result.stdout.contains("flasher: memory"), "the inventory: \(result.stdout)")
        // With the bmap, its range checksums are the check (the agent sends no
        // file SHA-256); without, the flasher reports the image's SHA-256.
        let imageSHA = try await RunningProcess.run("sha256sum", [lab.folder.path("disk.img")]).stdout.prefix(64)
        let checked = suffix == "zst" ? "MiB written, bmap checksums match, verified" : "MiB written, sha256 \(imageSHA), verified"
        #expect(imageSHA.count == 64 && result.stdout.contains(checked), "\(result.stdout)")
        #expect(try disk(lab, count: image.count) == image, "the disk holds the image")
        let jobs = try await lab.ssh("jobs", "pc", "--json")
        let job = (try? JSONSerialization.jsonObject(with: Data(jobs.stdout.utf8)) as? [[String: Any]])?.last
        #expect(job?["result"] as? String == "ok", "\(jobs.stdout)")
        #expect((job?["inventory"] as? [String: Any])?["block_devices"] != nil, "the inventory is kept: \(jobs.stdout)")
        // Its steps, each timed, adding up to the job; and the image's bytes for its MB/s.
        let phases = job?["phases"] as? [[String: Any]] ?? []
        let total = phases.compactMap { $0["seconds"] as? Double }.reduce(0, +)
        #expect(phases.count >= 3 && abs(total - (job?["seconds"] as? Double ?? 0)) < Double(phases.count) * 0.1 + 1, "\(jobs.stdout)")
        #expect(phases.contains { $0["name"] as? String == "flasher" } && !phases.contains { ($0["name"] as? String ?? "").contains(": ok") },
                "\(jobs.stdout)")
        #expect((job?["bytes"] as? Int).map { $0 >= image.count } == true, "\(jobs.stdout)")
        _ = try await lab.ssh("power", "pc", "off")
    }

    /// A disk U-Boot's distro boot starts: an MBR, one bootable ext2
    /// partition with /extlinux/extlinux.conf and the x86 kernel, whose
    /// command line says it came from this disk.
    static func makeBootDisk(in folder: TemporaryDirectory) async throws -> Data {
        let root = try folder.createDirectory("bootfs/extlinux")
        try """
            DEFAULT flashed
            LABEL flashed
              KERNEL /bzImage
              APPEND console=ttyS0,115200 provisioner.flashed=yes

            """.write(toFile: root + "/extlinux.conf", atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: VirtualLab.assets + "/x86/bzImage", toPath: folder.path("bootfs/bzImage"))
        let made = try await RunningProcess.run("mke2fs", ["-q", "-t", "ext2", "-d", folder.path("bootfs"), "-L", "flashed",
                                                           folder.path("fs.img"), "16M"])
        guard made.exitCode == 0 else { throw TestSetupError("mke2fs: \(made)") }
        let filesystem = try Data(contentsOf: URL(fileURLWithPath: folder.path("fs.img")))
        var disk = Data(count: 2048 * 512)
        var entry = Data([0x80, 0xfe, 0xff, 0xff, 0x83, 0xfe, 0xff, 0xff])
        for value in [UInt32(2048), UInt32(filesystem.count / 512)] { withUnsafeBytes(of: value.littleEndian) { entry.append(contentsOf: $0) } }
        disk.replaceSubrange(446..<462, with: entry)
        disk.replaceSubrange(510..<512, with: [0x55, 0xaa])
        disk.append(filesystem)
        try disk.write(to: URL(fileURLWithPath: folder.path("boot.img")))
        return disk
    }

    @Test func theBoardBootsTheFlashedDiskAndItsSuccessPatternEndsTheJob() async throws {
        let lab = try await VirtualLab()
        let image = try await Self.makeBootDisk(in: lab.folder)
        try #require(try await RunningProcess.run("zstd", ["-q", "-f", lab.folder.path("boot.img")]).exitCode == 0)
        try await lab.upload(path: lab.folder.path("boot.img.zst"), as: "boot.img.zst")
        // A kernel too, into a file on the disk's new ext2 partition (flash.kernel_target).
        try await lab.upload("x86/initrd", as: "kernel-file")
        // From the first event on (--since 0): the flash may start before the follower is connected.
        let follower = try RunningProcess("nsenter", lab.nsenter(["events", "--board", "pcboot", "--since", "0", "--follow", "--json"]))
        defer { follower.signal(SIGKILL) }
        let result = try await lab.ssh("flash", "pcboot", "--rootfs", "boot.img.zst", "--kernel", "kernel-file", timeout: .seconds(300))
        #expect(result.exitCode == 0, "\(result)")
        #expect(result.stdout.contains("reboot into the image: ok"), "\(result.stdout)")
        // events --follow saw the job's phases as they came, in the order the flash printed them.
        func followed() -> [[String: Any]] {
            follower.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        }
        #expect(await eventually { followed().contains { $0["type"] as? String == "job.end" } }, "\(follower.stdout)")
        let jobEvents = followed().filter { ($0["type"] as? String ?? "").hasPrefix("job.") && $0["type"] as? String != "job.progress" }
        #expect(jobEvents.first?["type"] as? String == "job.start" && jobEvents.last?["type"] as? String == "job.end", "\(jobEvents)")
        #expect(jobEvents.last?["result"] as? String == "ok" && jobEvents.last?["kind"] as? String == "flash", "\(jobEvents)")
        #expect(!follower.stdout.contains("/api/v1/jobs/") && !follower.stdout.lowercased().contains("bearer"),
                "no job URL or credential in the events: \(follower.stdout)")
        let phases = jobEvents.compactMap { $0["type"] as? String == "job.phase" ? $0["phase"] as? String : nil }
        #expect(phases.count >= 3, "\(phases)")
        var position = result.stdout.startIndex
        for phase in phases {
            guard let found = result.stdout.range(of: "flash: " + phase, range: position..<result.stdout.endIndex) else {
                Issue.record("phase '\(phase)' is not where the flash printed it: \(result.stdout)")
                break
            }
            position = found.upperBound
        }
        #expect(result.stdout.contains("flasher: kernel: "), "\(result.stdout)")
        let log = try await lab.ssh("log", "pcboot")
        #expect(log.stdout.contains("] Command line: console=ttyS0,115200 provisioner.flashed=yes"),
                "Linux from the flashed disk: \(log.stdout.suffix(3000))")
        // The partition now holds the kernel file; the rest of the disk is the image.
        let written = try Data(contentsOf: URL(fileURLWithPath: lab.folder.path("pcboot.img"))).prefix(image.count)
        #expect(written.prefix(1 << 20) == image.prefix(1 << 20), "the partition table")
        try written.dropFirst(1 << 20).write(to: URL(fileURLWithPath: lab.folder.path("written-fs.img")))
        let dumped = try await RunningProcess.run("debugfs", ["-R", "dump /extra/kernel \(lab.folder.path("kernel-out"))",
                                                              lab.folder.path("written-fs.img")])
        #expect(dumped.exitCode == 0, "\(dumped)")
        let kernel = try Data(contentsOf: URL(fileURLWithPath: VirtualLab.assets + "/x86/initrd"))
        #expect(FileManager.default.contents(atPath: lab.folder.path("kernel-out")) == kernel, "the kernel file on the partition")
        let boards = try await lab.ssh("boards", "--json")
        #expect(boards.stdout.contains("\"state\":\"linux\""), "\(boards.stdout)")
        _ = try await lab.ssh("power", "pcboot", "off")
    }

    @Test func aFileThatChangedAfterItsUploadFailsItsChecksumAndTheBoardIsNotRebooted() async throws {
        let lab = try await VirtualLab()
        _ = try Self.makeImage(at: lab.folder.path("disk.img"))
        try #require(try await RunningProcess.run("zstd", ["-q", "-f", lab.folder.path("disk.img")]).exitCode == 0)
        try await lab.upload(path: lab.folder.path("disk.img.zst"), as: "disk.img.zst")
        // Bytes changed on the agent's disk behind the store's back: the sidecar's sha256 no longer matches.
        let stored = try FileHandle(forUpdating: URL(fileURLWithPath: lab.folder.path("data/users/user/disk.img.zst")))
        try stored.seek(toOffset: 1 << 20)
        try stored.write(contentsOf: Data(repeating: 0x55, count: 64))
        try stored.close()
        let result = try await lab.ssh("flash", "pc", "--rootfs", "disk.img.zst", timeout: .seconds(300))
        #expect(result.exitCode == 1, "\(result)")
        #expect(result.stderrLines.count == 1, "\(result.stderr)")
        #expect(result.stderr.hasPrefix("flash: pc: step 'flasher' failed: the flasher failed in "), "\(result.stderr)")
        let log = try await lab.ssh("log", "pc")
        #expect(!log.stdout.contains("reboot: Restarting system"), "no reboot after a failure")
        _ = try await lab.ssh("power", "pc", "off")
    }

    @Test func aTargetThatDoesNotExistIsReported() async throws {
        let lab = try await VirtualLab()
        _ = try Self.makeImage(at: lab.folder.path("disk.img"))
        try await lab.upload(path: lab.folder.path("disk.img"), as: "disk.img")
        let result = try await lab.ssh("flash", "pc", "--rootfs", "disk.img", "--target", "/dev/vdz", timeout: .seconds(300))
        #expect(result.exitCode == 1, "\(result)")
        #expect(result.stderr.contains("/dev/vdz"), "\(result.stderr)")
        _ = try await lab.ssh("power", "pc", "off")
    }

    @Test func aTruncatedImageIsAnError() async throws {
        let lab = try await VirtualLab()
        _ = try Self.makeImage(at: lab.folder.path("disk.img"))
        try #require(try await RunningProcess.run("zstd", ["-q", "-f", lab.folder.path("disk.img")]).exitCode == 0)
        let whole = try Data(contentsOf: URL(fileURLWithPath: lab.folder.path("disk.img.zst")))
        try whole.prefix(whole.count / 2).write(to: URL(fileURLWithPath: lab.folder.path("half.zst")))
        try await lab.upload(path: lab.folder.path("half.zst"), as: "half.zst")
        let result = try await lab.ssh("flash", "pc", "--rootfs", "half.zst", timeout: .seconds(300))
        #expect(result.exitCode == 1, "\(result)")
        #expect(result.stderr.contains("step 'flasher' failed"), "\(result.stderr)")
        _ = try await lab.ssh("power", "pc", "off")
    }

    /// Two boards of one agent flashed at once (a job per board): both
    /// disks hold their own image, byte for byte.
    @Test func twoBoardsOfOneAgentAreFlashedAtOnce() async throws {
        let lab = try await VirtualLab()
        let first = try Self.makeImage(at: lab.folder.path("first.img"))
        let second = try Self.makeImage(at: lab.folder.path("second.img"))
        try await lab.upload(path: lab.folder.path("first.img"), as: "first.img")
        try await lab.upload(path: lab.folder.path("second.img"), as: "second.img")
        async let one = lab.ssh("flash", "pc", "--rootfs", "first.img", timeout: .seconds(400))
        async let two = lab.ssh("flash", "pc2", "--rootfs", "second.img", timeout: .seconds(400))
        let (a, b) = try await (one, two)
        #expect(a.exitCode == 0 && a.stdout.contains("flash: pc: first.img written, verified, and the board is up"), "\(a)")
        #expect(b.exitCode == 0 && b.stdout.contains("flash: pc2: second.img written, verified, and the board is up"), "\(b)")
        for (name, image) in [("pc", first), ("pc2", second)] {
            let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: lab.folder.path("\(name).img")))
            defer { try? handle.close() }
            #expect(try handle.read(upToCount: image.count) == image, "\(name)'s disk holds its image")
        }
        let jobs = try await lab.ssh("events", "--json")
        let starts = jobs.stdout.split(separator: "\n").filter { $0.contains("\"type\":\"job.start\"") }
        #expect(starts.count == 2, "\(jobs.stdout.suffix(2000))")
        _ = try await lab.ssh("power", "pc", "off")
        _ = try await lab.ssh("power", "pc2", "off")
    }

    /// The agent is killed (`kill -9`) while the flasher writes the disk, and
    /// started again in the same place: the job is recorded as interrupted
    /// (never left "running"), the uploaded image is as it was, and the
    /// board is flashed again, whole.
    @Test func anAgentKilledMidFlashRecordsTheJobInterruptedAndTheNextFlashIsWhole() async throws {
        let lab = try await VirtualLab()
        let image = try Self.makeImage(at: lab.folder.path("disk.img"))
        try await lab.upload(path: lab.folder.path("disk.img"), as: "disk.img")
        let flash = try RunningProcess("nsenter", lab.nsenter(["flash", "pc", "--rootfs", "disk.img"]))
        defer { flash.signal(SIGKILL) }
        // The first bytes of the image on the board's disk: the flasher writes.
        #expect(await eventually(timeout: .seconds(240)) { (try? disk(lab, count: 4096)) == image.prefix(4096) },
                "the flasher never wrote: \(flash.stdout)\n\(flash.stderr)")
        let killed = try await lab.restartAgent(after: SIGKILL)
        #expect(killed.exitCode == nil || killed.exitCode != 0)
        #expect(await flash.waitForExit(timeout: .seconds(20)) != 0, "the flash session ended with its agent: \(flash.stdout)")
        #expect(lab.agent.stderr.contains("jobs: a job on pc was running when the agent stopped: recorded as interrupted"),
                "\(lab.agent.stderr)")
        let jobs = try await lab.ssh("jobs", "pc", "--json")
        let job = (try? JSONSerialization.jsonObject(with: Data(jobs.stdout.utf8)) as? [[String: Any]])?.last
        #expect(job?["kind"] as? String == "flash" && job?["result"] as? String == "interrupted", "\(jobs.stdout)")
        let stored = try await RunningProcess.run("cmp", [lab.folder.path("disk.img"), lab.folder.path("data/users/user/disk.img")])
        #expect(stored.exitCode == 0, "the uploaded image is as it was: \(stored)")

        let again = try await lab.ssh("flash", "pc", "--rootfs", "disk.img", timeout: .seconds(300))
        #expect(again.exitCode == 0, "\(again)")
        #expect(again.stdout.contains("flash: pc: disk.img written, verified, and the board is up"), "\(again.stdout)")
        #expect(try disk(lab, count: image.count) == image, "the disk holds the image")
        _ = try await lab.ssh("power", "pc", "off")
    }

    @Test func aDownloadBrokenHalfWayResumesAndTheImageIsWhole() async throws {
        let lab = try await VirtualLab()
        let image = try Self.makeImage(at: lab.folder.path("disk.img"))
        try await lab.upload(path: lab.folder.path("disk.img"), as: "disk.img")
        // pccut fetches from 10.0.2.2:8081: a relay to the agent's HTTP port,
        // in its network namespace, that resets the first long answer at 8 MiB.
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Tools/cutting_proxy.py").path
        let proxy = try RunningProcess("nsenter", ["-t", "\(lab.network.pid)", "-n", "--", "python3", script, "8081", "8080", "\(8 << 20)"])
        defer { proxy.signal(SIGTERM) }
        try await proxy.waitForLine(containing: "PORT 8081", in: .stdout)

        let result = try await lab.ssh("flash", "pccut", "--rootfs", "disk.img", timeout: .seconds(300))
        #expect(result.exitCode == 0, "\(result)")
        #expect(proxy.stdout.contains("CUT \(8 << 20)"), "the download was broken: \(proxy.stdout)")
        let log = try await lab.ssh("log", "pccut")
        #expect(log.stdout.contains("download interrupted at byte"), "the flasher resumed: \(log.stdout.suffix(2000))")
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: lab.folder.path("pccut.img")))
        defer { try? handle.close() }
        #expect(try handle.read(upToCount: image.count) == image, "the disk holds the whole image")
        _ = try await lab.ssh("power", "pccut", "off")
    }
}
