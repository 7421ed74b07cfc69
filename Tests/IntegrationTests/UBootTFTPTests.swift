import Foundation
import ProvisionerTesting
import Testing

/// Real U-Boot (Debian's u-boot-qemu, arm64 `virt` under QEMU) fetching files
/// from our TFTP server with its own `tftpboot`. This U-Boot always asks port
/// 69 and QEMU's user network forwards the board's 127.0.0.1 to the host, so
/// the server and QEMU run together in a private network namespace
/// (`unshare -n`), the server on 127.0.0.1:69 (TESTING.md).
@Suite(.enabled(if: UBootBoard.isAvailable, "needs qemu-system-aarch64, u-boot-qemu and unshare as root"))
struct UBootTFTPTests {
    @Test func ubootFetchesWithWindowsAndLockstepAndSeesErrors() async throws {
        let folder = try TemporaryDirectory(prefix: "uboot-tftp")
        let root = try folder.createDirectory("root")
        let large = Data((0..<(4 << 20)).map { _ in UInt8.random(in: 0...255) })
        let small = Data((0..<((256 << 10) + 77)).map { _ in UInt8.random(in: 0...255) })
        try folder.createFile("root/Image", contents: large)
        try folder.createFile("root/boot/initrd", contents: small)

        let board = try UBootBoard(root: root, log: folder.path("agent.log"))
        defer { board.stop() }
        try await board.prompt()
        for command in ["setenv ipaddr 10.0.2.15", "setenv netmask 255.255.255.0",
                        "setenv serverip 127.0.0.1", "setenv gatewayip 10.0.2.2"] {
            try await board.run(command)
        }

        // Windowed, as the virtual boards' profile sets it.
        try await board.run("setenv tftpblocksize 1468")
        try await board.run("setenv tftpwindowsize 16")
        board.console.sendLine("tftpboot ${kernel_addr_r} Image")
        let transferred = try await board.console.expect(#"Bytes transferred = (\d+)"#, timeout: .seconds(60))
        #expect(Int(transferred[1]) == large.count)
        try await board.console.expect("=> ")
        #expect(try await board.crc32() == CRC32.checksum(large))
        #expect(board.agentLog.contains("blksize 1468, windowsize 16"), "\(board.agentLog)")

        // RFC 1350 lockstep with 512-byte blocks, an absolute name.
        try await board.run("setenv tftpblocksize 512")
        try await board.run("setenv tftpwindowsize 1")
        board.console.sendLine("tftpboot ${kernel_addr_r} /boot/initrd")
        let second = try await board.console.expect(#"Bytes transferred = (\d+)"#, timeout: .seconds(60))
        #expect(Int(second[1]) == small.count)
        try await board.console.expect("=> ")
        #expect(try await board.crc32() == CRC32.checksum(small))

        // A missing file: U-Boot shows the server's error and gives up at once.
        board.console.sendLine("tftpboot ${kernel_addr_r} missing.bin")
        try await board.console.expect(#"TFTP error: '.*missing\.bin.* not found' \(1\)"#, timeout: .seconds(30))
        try await board.console.expect("=> ")
        #expect(board.agentLog.contains("refused 'missing.bin'"))
    }
}

/// A virtual arm64 board with real U-Boot and our TFTP server beside it in a
/// private network namespace.
struct UBootBoard {
    static let firmware = "/usr/lib/u-boot/qemu_arm64/u-boot.bin"
    static var isAvailable: Bool {
        Tools.isInstalled("qemu-system-aarch64") && Tools.isInstalled("unshare") && Tools.isInstalled("ip")
            && FileManager.default.fileExists(atPath: firmware) && getuid() == 0
    }

    let console: ConsoleProcess
    let logPath: String

    init(root: String, log: String) throws {
        logPath = log
        let agent = try Tools.agent()
        // sh runs the server in the background, says its PID, then becomes QEMU.
        // --pdeathsig: the server ends with QEMU, whatever ends QEMU.
        let script = """
            ip link set lo up || exit 1
            setpriv --pdeathsig TERM "$0" tftp --root "$1" --listen 127.0.0.1:69 --log-level debug >"$2" 2>&1 &
            echo "agent-pid=$!"
            exec qemu-system-aarch64 -M virt -cpu cortex-a57 -m 256 -nographic -no-reboot \
                -bios \(Self.firmware) -netdev user,id=n0 -device virtio-net-pci,netdev=n0,romfile=
            """
        console = try ConsoleProcess("unshare", ["-n", "--", "sh", "-c", script, agent, root, log])
    }

    var agentLog: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Stops autoboot and waits for the prompt.
    func prompt() async throws {
        try await console.expect("Hit any key to stop autoboot", timeout: .seconds(60))
        console.send(" ")
        try await console.expect("=> ")
    }

    func run(_ command: String) async throws {
        console.sendLine(command)
        try await console.expect("\n=> ")
    }

    /// U-Boot's CRC-32 of what the last transfer loaded.
    func crc32() async throws -> UInt32 {
        console.sendLine("crc32 ${kernel_addr_r} ${filesize}")
        let match = try await console.expect(#"==> ([0-9a-f]{8})"#)
        try await console.expect("\n=> ")
        return UInt32(match[1], radix: 16) ?? 0
    }

    func stop() {
        if let line = console.transcript.split(separator: "\n").first(where: { $0.hasPrefix("agent-pid=") }),
           let pid = Int32(line.dropFirst("agent-pid=".count).trimmingCharacters(in: .whitespacesAndNewlines)) {
            kill(pid, SIGTERM)
        }
        console.stop()
    }
}

/// CRC-32 (IEEE 802.3), as U-Boot's `crc32` command computes it.
enum CRC32 {
    static let table: [UInt32] = (0..<256).map { index in
        var value = UInt32(index)
        for _ in 0..<8 { value = value & 1 == 1 ? 0xEDB8_8320 ^ (value >> 1) : value >> 1 }
        return value
    }

    static func checksum(_ data: Data) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in data { crc = table[Int((crc ^ UInt32(byte)) & 0xff)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }
}
