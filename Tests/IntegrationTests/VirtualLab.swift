import Foundation
import ProvisionerTesting
import Synchronization

/// The agent with virtual boards (QEMU, Debian's U-Boot) in a network
/// namespace of its own: arm64 ones that differ in their U-Boot profiles,
/// and x86 ones: `x86` boots with zboot, `fit` a FIT image with bootm, and
/// `pc`, `pc2`, `pccut` (its HTTP through port 8081, for a relay a test breaks) and
/// `pcboot` have a disk and the flasher of `images/build-flasher`
/// in the shared space.
/// When the test ends, the agent is stopped, and any QEMU it left running
/// (a board keeps running without its agent) is killed by its PID.
final class VirtualLab: Sendable {
    static var assets: String {
        ProcessInfo.processInfo.environment["PROVISIONER_ASSETS"] ?? Tools.packageRoot + "/.cache/board-assets"
    }

    /// What images/build-flasher made.
    static var flasherImages: String {
        ProcessInfo.processInfo.environment["PROVISIONER_FLASHER_IMAGES"] ?? Tools.packageRoot + "/.cache/flasher"
    }

    static var hasFlasher: Bool { FileManager.default.fileExists(atPath: flasherImages + "/flasher-amd64/initrd") }

    /// The same, packed as a FIT image for `bootm`.
    static var flasherFIT: String { flasherImages + "/flasher-amd64/flasher.itb" }

    static var hasFlasherFIT: Bool { FileManager.default.fileExists(atPath: flasherFIT) }

    static var isAvailable: Bool {
        getuid() == 0 && Tools.isInstalled("unshare") && Tools.isInstalled("nsenter") && Tools.isInstalled("ip")
            && Tools.isInstalled("qemu-system-aarch64") && Tools.isInstalled("qemu-system-x86_64")
            && FileManager.default.fileExists(atPath: assets + "/arm64/Image")
            && FileManager.default.fileExists(atPath: assets + "/x86/bzImage")
    }

    let folder: TemporaryDirectory
    /// Holds the lab's network namespace (loopback up), so that an agent
    /// started again (`restartAgent`) is in the one its boards reach.
    let network: RunningProcess
    private let current: Mutex<RunningProcess>
    /// The agent serving now.
    var agent: RunningProcess { current.withLock { $0 } }

    init() async throws {
        folder = try TemporaryDirectory(prefix: "netboot")
        let made = try await RunningProcess.run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "user@test", "-f", folder.path("user")])
        guard made.exitCode == 0 else { throw TestSetupError("ssh-keygen: \(made)") }
        try FileManager.default.copyItem(atPath: folder.path("user.pub"), toPath: folder.path("authorized_keys"))
        let addresses = #"network: { board_ip: 10.0.2.15, server_ip: 127.0.0.1, gateway: 10.0.2.2 }"#
        func arm(_ name: String, _ uboot: String, jobs: String = "{ on_failure: keep }", tags: String = "[arm64]") -> String {
            """
              - name: \(name)
                serial: { device: \(name).console }
                power: { type: qemu, arch: aarch64, firmware: /usr/lib/u-boot/qemu_arm64/u-boot.bin, memory: 512M }
                \(addresses)
                uboot: \(uboot)
                jobs: \(jobs)
                tags: \(tags)
            """
        }
        /// An x86 board with a disk the flasher writes, reaching the agent's
        /// HTTP port (or a relay on `http`) at the QEMU user network's 10.0.2.2.
        func pc(_ name: String, disk: String = "128M", http: Int = 8080, uboot: String = "{ profile: qemu-x86 }",
                flash: String = "{ target: /dev/vda, timeout: 5m }") -> String {
            """
              - name: \(name)
                serial: { device: \(name).console }
                power: { type: qemu, arch: x86, firmware: /usr/lib/u-boot/qemu-x86/u-boot.rom, memory: 512M,
                         disk: \(name).img, disk_size: \(disk) }
                network: { board_ip: 10.0.2.15, server_ip: 127.0.0.1, gateway: 10.0.2.2, http_url: "http://10.0.2.2:\(http)" }
                uboot: \(uboot)
                flash: \(flash)
            """
        }
        try folder.createFile("agent.yaml", text: """
            agent:
              name: netboot-test
              data_dir: data
              ssh: { listen: "127.0.0.1:2223", authorized_keys: authorized_keys }
              tftp: { listen: "127.0.0.1:69" }
              http: { listen: "127.0.0.1:8080" }
            boards:
            \(arm("arm1", "{ profile: qemu-arm64 }", tags: "[arm64, ci]"))
            \(arm("lockstep", "{ profile: qemu-arm64, tftp: { blocksize: 512, windowsize: 1 } }"))
            \(arm("wrongprompt", "{ profile: qemu-arm64, prompt: \"board# \", timeouts: { prompt: 8s, command: 8s } }",
                  jobs: "{ on_failure: off }"))
            \(arm("stuck", "{ profile: qemu-arm64, prompt: \"never> \", autoboot: \"never\", timeouts: { prompt: 5m } }"))
            \(arm("scripted", """
                { profile: qemu-arm64, netboot: [
                    { send: "tftpboot ${kernel_addr_r} {kernel}", expect: "Bytes transferred", timeout: 2m },
                    { send: "tftpboot ${ramdisk_addr_r} {initrd}", expect: "Bytes transferred", timeout: 1m },
                    { send: "booti ${kernel_addr_r} ${ramdisk_addr_r}:${filesize} ${fdtcontroladdr}", expect_regex: "Starting kernel|Booting Linux" } ] }
                """))
              - name: x86
                serial: { device: x86.console }
                power: { type: qemu, arch: x86, firmware: /usr/lib/u-boot/qemu-x86/u-boot.rom, memory: 512M }
                \(addresses)
                uboot: { profile: qemu-x86 }
            \(pc("fit", uboot: #"{ profile: qemu-x86, boot: bootm, addresses: { kernel: "0x8000000" } }"#,
                 flash: "{ target: /dev/vda, flasher: flasher-amd64, timeout: 5m }"))
            \(pc("pc"))
            \(pc("pc2"))
            \(pc("pccut", http: 8081))
            \(pc("pcboot", disk: "64M", flash: #"{ target: /dev/vda, kernel_target: "/dev/vda1:/extra/kernel", timeout: 5m, "#
                    + #"success: "Command line: console=ttyS0,115200 provisioner.flashed=yes" }"#))

            """)
        // The flasher's boot files, where `flash` looks for them.
        let flasher = Self.flasherImages + "/flasher-amd64"
        if FileManager.default.fileExists(atPath: flasher + "/initrd") {
            try FileManager.default.createDirectory(atPath: folder.path("data/shared"), withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: flasher, toPath: folder.path("data/shared/flasher-amd64"))
        }
        network = try RunningProcess("unshare", ["-n", "--", "sh", "-c", "ip link set lo up && echo up && exec sleep 2147483647"])
        try await network.waitForLine(containing: "up", in: .stdout, timeout: .seconds(10))
        current = Mutex(try await Self.serve(in: network, config: folder.path("agent.yaml")))
    }

    private static func serve(in network: RunningProcess, config: String) async throws -> RunningProcess {
        let agent = try RunningProcess("nsenter", ["-t", "\(network.pid)", "-n", "--", try Tools.agent(), "serve", "--config", config])
        try await agent.waitForLine(containing: "ssh: listening on", timeout: .seconds(20))
        return agent
    }

    /// Kills the agent with `signal`, waits for it to end, and starts
    /// another on the same config, folder and network namespace (its
    /// running boards carry on); returns the one that ended.
    @discardableResult
    func restartAgent(after signal: Int32) async throws -> RunningProcess {
        let old = agent
        old.signal(signal)
        _ = await old.waitForExit(timeout: .seconds(20))
        let new = try await Self.serve(in: network, config: folder.path("agent.yaml"))
        current.withLock { $0 = new }
        return old
    }

    deinit {
        agent.signal(SIGTERM)
        for pid in processIDs(withArgument: folder.path) where pid != agent.pid { kill(pid, SIGKILL) }
        network.signal(SIGKILL)
    }

    /// `nsenter` arguments that run `ssh … COMMAND` inside the agent's
    /// network namespace (`ssh -tt`, for a terminal, with `terminal`).
    func nsenter(_ command: [String], terminal: Bool = false) -> [String] {
        ["-t", "\(network.pid)", "-n", "--", "ssh"] + (terminal ? ["-tt", "-e", "none"] : []) + ["-F", "/dev/null", "-p", "2223", "-i", folder.path("user"),
         "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "127.0.0.1"] + command
    }

    func ssh(_ command: String..., timeout: Duration = .seconds(30)) async throws -> ProcessResult {
        try await ssh(command, timeout: timeout)
    }

    func ssh(_ command: [String], timeout: Duration = .seconds(30)) async throws -> ProcessResult {
        try await RunningProcess.run("nsenter", nsenter(command), timeout: timeout)
    }

    /// Uploads a file of scripts/board-assets into the user's space.
    func upload(_ asset: String, as name: String) async throws {
        try await upload(path: Self.assets + "/" + asset, as: name)
    }

    /// Uploads any file into the user's space.
    func upload(path: String, as name: String) async throws {
        let result = try await RunningProcess.run("nsenter", nsenter(["upload", "arm1", name]), timeout: .seconds(60),
                                                  stdinPath: path)
        guard result.exitCode == 0 else { throw TestSetupError("upload \(path): \(result)") }
    }
}
