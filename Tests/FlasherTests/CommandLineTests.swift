import FlasherCore
import Testing

@Suite struct CommandLineTests {
    let sha = String(repeating: "ab", count: 32)

    func parse(_ text: String) throws(FlasherError) -> FlasherArguments {
        try FlasherArguments(commandLine: try KernelCommandLine(text))
    }

    func refusal(_ text: String) -> String? {
        do throws(FlasherError) {
            _ = try parse(text)
            return nil
        } catch {
            #expect(error.phase == .configuration)
            return error.what
        }
    }

    @Test func splitsLikeTheKernel() throws {
        let line = try KernelCommandLine("console=ttyS0,115200 quiet  a=\"b c\" \"d=e f\" empty=\n")
        #expect(line.parameters.map(\.key) == ["console", "quiet", "a", "d", "empty"])
        #expect(line.values(of: "a") == ["b c"])
        #expect(line.values(of: "d") == ["e f"])
        #expect(line.values(of: "quiet") == [nil])
        #expect(line.values(of: "empty") == [""])
    }

    @Test func directImages() throws {
        let arguments = try parse("""
            root=/dev/ram0 provisioner.rootfs=http://10.0.2.2:8080/u/alice/rootfs.img.zst provisioner.rootfs.sha256=\(sha.uppercased()) \
            provisioner.target=/dev/vda provisioner.bmap=http://10.0.2.2:8080/u/alice/rootfs.bmap \
            provisioner.kernel=http://10.0.2.2:8080/Image provisioner.kernel.target=/dev/vda1:/boot/Image \
            provisioner.verify=0 provisioner.after=stay ip=10.0.2.15::10.0.2.2:255.255.255.0
            """)
        guard case .images(let job) = arguments.source else { Issue.record("not direct images"); return }
        #expect(job.images.count == 2)
        #expect(job.images[0].name == "rootfs")
        #expect(job.images[0].sha256 == sha)
        #expect(job.images[0].fileSHA256 == nil)
        #expect(job.images[0].url == HTTPURL(host: "10.0.2.2", port: 8080, target: "/u/alice/rootfs.img.zst"))
        #expect(job.images[0].bmapURL?.target == "/u/alice/rootfs.bmap")
        #expect(job.images[0].target == TargetSpec(device: "/dev/vda"))
        #expect(job.images[1].target == TargetSpec(device: "/dev/vda1", file: "/boot/Image"))
        #expect(job.verify == false)
        #expect(job.after == .stay)
        #expect(arguments.network == .manual(.init(address: "10.0.2.15", prefixLength: 24, gateway: "10.0.2.2", device: nil, hostname: nil)))
    }

    /// What the agent's manifest names as `file_sha256`, the command line
    /// names as `provisioner.IMAGE.file_sha256`.
    @Test func theDownloadedFilesSHA256() throws {
        let arguments = try parse("provisioner.rootfs=http://h/r.img.zst provisioner.rootfs.file_sha256=\(sha) provisioner.target=/dev/vda")
        guard case .images(let job) = arguments.source else { Issue.record("not direct images"); return }
        #expect(job.images[0].fileSHA256 == sha)
        #expect(job.images[0].sha256 == nil)
    }

    @Test func jobURL() throws {
        let arguments = try parse("provisioner.job=http://192.168.5.1:8080/api/v1/jobs/42?token=abc ip=dhcp")
        guard case .manifest(let url) = arguments.source else { Issue.record("not a manifest"); return }
        #expect(url.appendingPathComponent("events").description == "http://192.168.5.1:8080/api/v1/jobs/42/events?token=abc")
        #expect(arguments.network == .dhcp(device: nil))
    }

    @Test func networkForms() throws {
        #expect(try NetworkSetup(parsing: "off") == NetworkSetup.none)
        #expect(try NetworkSetup(parsing: ":::::eth1:dhcp") == .dhcp(device: "eth1"))
        #expect(try NetworkSetup(parsing: "192.168.5.10::192.168.5.1:255.255.0.0:board1:eth0:off")
                == .manual(.init(address: "192.168.5.10", prefixLength: 16, gateway: "192.168.5.1", device: "eth0", hostname: "board1")))
    }

    @Test(arguments: [
        ("", "no job"),
        ("provisioner.rootfs=http://h/x", "needs a target"),
        ("provisioner.rootfs=http://h/x provisioner.target=/dev/vda provisioner.target=/dev/vdb", "more than once"),
        ("provisioner.rootfs=https://h/x provisioner.target=/dev/vda", "HTTPS"),
        ("provisioner.rootfs=ftp://h/x provisioner.target=/dev/vda", "http://"),
        ("provisioner.rootfs=http://h:99999/x provisioner.target=/dev/vda", "port"),
        ("provisioner.rootfs=http://user@h/x provisioner.target=/dev/vda", "user names"),
        ("provisioner.rootfs=http://h/x provisioner.target=vda", "absolute"),
        ("provisioner.rootfs=http://h/x provisioner.target=/dev/../etc/passwd", "'..'"),
        ("provisioner.kernel=http://h/x provisioner.kernel.target=/dev/vda1:Image", "absolute path inside"),
        ("provisioner.rootfs=http://h/x provisioner.target=/dev/vda provisioner.rootfs.sha256=1234", "not a SHA-256"),
        ("provisioner.rootfs=http://h/x provisioner.target=/dev/vda provisioner.rootfs.sha256=\(String(repeating: "g", count: 64))", "not a SHA-256"),
        ("provisioner.rootfs=http://h/x provisioner.target=/dev/vda provisioner.rootfs.file_sha256=abc", "provisioner.rootfs.file_sha256"),
        ("provisioner.kernel.file_sha256=\(String(repeating: "a", count: 64))", "without provisioner.kernel"),
        ("provisioner.rootfs=http://h/x provisioner.target=/dev/vda provisioner.verify=maybe", "use 0 or 1"),
        ("provisioner.rootfs=http://h/x provisioner.target=/dev/vda provisioner.after=explode", "reboot, poweroff"),
        ("provisioner.rootfs=http://h/x provisioner.target=/dev/vda provisioner.rootfs.compression=lz4", "unknown compression"),
        ("provisioner.rootfs=http://h/x provisioner.target=/dev/vda provisioner.rootfs.size=-1", "a size in bytes"),
        ("provisioner.rootfs=http://h/x provisioner.target=/dev/vda provisioner.retries=1e9", "0 to 1000"),
        ("provisioner.rootfs=http://h/x provisioner.target=/dev/vda provisioner.rotfs=1", "unknown parameter"),
        ("provisioner.rootfs= provisioner.target=/dev/vda", "needs a value"),
        ("provisioner.rootfs provisioner.target=/dev/vda", "needs a value"),
        ("provisioner.kernel.sha256=\(String(repeating: "a", count: 64))", "without provisioner.kernel"),
        ("provisioner.target=/dev/vda", "without provisioner.rootfs"),
        ("provisioner.job=http://h/j provisioner.rootfs=http://h/x", "drop provisioner.rootfs"),
        ("provisioner.job=http://h/j \"provisioner.after=stay", "unterminated"),
        ("provisioner.job=http://h/j ip=1.2.3.4::1.2.3.1:255.0.255.0", "contiguous"),
        ("provisioner.job=http://h/j ip=1.2.3.999", "IPv4"),
        ("provisioner.job=http://h/j ip=1.2.3.4:::::eth0;reboot", "interface name"),
        ("provisioner.job=http://h/j ip=dhcp ip=off", "more than once"),
        ("provisioner.job=http://h/j\u{01}", "control character"),
        ("provisioner.job=http://h/\u{e9}", "percent-encoded"),
    ])
    func hostileInputIsRefusedClearly(_ input: String, _ expected: String) {
        let message = refusal(input)
        #expect(message?.contains(expected) == true, "'\(input)' gave \(message ?? "no error")")
    }

    @Test func hugeCommandLineIsRefused() {
        #expect(refusal(String(repeating: "x", count: 70_000))?.contains("longer than") == true)
    }
}
