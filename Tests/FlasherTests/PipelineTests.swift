import Foundation
import FlasherCore
import Synchronization
import Testing

/// The whole job against a local HTTP server, writing to a temporary file.
@Suite struct PipelineTests {
    final class Console: Sendable {
        let lines = Mutex<[String]>([])
        func append(_ line: String) { lines.withLock { $0.append(line) } }
        var text: String { lines.withLock { $0.joined(separator: "\n") } }
    }

    struct Setup {
        let folder: TemporaryFolder
        let image: Data
        let sha256: String
        init(megabytes: Int = 12) throws {
            folder = try TemporaryFolder()
            image = try makeImage(at: folder.path("disk.img"), megabytes: megabytes)
            sha256 = try SHA256.hex(of: [UInt8](Data(contentsOf: URL(fileURLWithPath: folder.path("disk.img")))))
        }
        var output: String { folder.path("written.img") }
    }

    func run(_ commandLine: String, timeout: Double = 3) throws -> (Result<AfterAction, FlasherError>, Console) {
        let console = Console()
        var options = PipelineOptions()
        options.chunkSize = 1 << 20
        options.timeout = timeout
        let runner = FlashRunner(options: options, console: { console.append($0) })
        let arguments = try FlasherArguments(commandLine: KernelCommandLine(commandLine))
        return (runner.run(arguments), console)
    }

    func written(_ setup: Setup) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: setup.output)) }

    @Test(arguments: [("zst", ["/usr/bin/zstd", "-q", "-f", "-3"]), ("gz", ["/usr/bin/gzip", "-k", "-f"]),
                      ("xz", ["/usr/bin/xz", "-k", "-f", "-0", "-T2"]), ("", [])])
    func writesTheImageByteForByte(_ suffix: String, _ command: [String]) throws {
        let setup = try Setup()
        var name = "disk.img"
        if !command.isEmpty {
            try #require(try runTool(command[0], Array(command.dropFirst()) + [setup.folder.path("disk.img")]) == 0)
            name += "." + suffix
        }
        let server = try TestHTTPServer(root: setup.folder.url)
        defer { server.stop() }
        let (result, console) = try run("provisioner.rootfs=\(server.url(name)) provisioner.rootfs.sha256=\(setup.sha256) provisioner.target=\(setup.output)")
        #expect((try? result.get()) == .reboot, "\(console.text)")
        #expect(try written(setup) == setup.image)
        #expect(console.text.contains("verified"))
        #expect(console.text.contains("PROVISIONER-RESULT {\"type\":\"success\""))
    }

    /// An uncompressed file whose size is not a whole number of pipeline
    /// buffers: the last, partial buffer must be written too.
    @Test(arguments: [1, 1_028_138, (3 << 20) + 17])
    func anUncompressedFileOfAnySizeIsWrittenWhole(size: Int) throws {
        let folder = try TemporaryFolder()
        let data = Data((0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        try data.write(to: URL(fileURLWithPath: folder.path("blob")))
        let server = try TestHTTPServer(root: folder.url)
        defer { server.stop() }
        let (result, console) = try run("provisioner.rootfs=\(server.url("blob")) provisioner.target=\(folder.path("out")) provisioner.after=stay")
        #expect((try? result.get()) == .stay, "\(console.text)")
        #expect(FileManager.default.contents(atPath: folder.path("out")) == data)
    }

    @Test func chunkedResponsesAreDecoded() throws {
        let setup = try Setup(megabytes: 3)
        try #require(try runTool("/usr/bin/gzip", ["-k", "-f", setup.folder.path("disk.img")]) == 0)
        let server = try TestHTTPServer(root: setup.folder.url)
        defer { server.stop() }
        let (result, console) = try run("provisioner.rootfs=\(server.url("disk.img.gz?chunked")) provisioner.rootfs.sha256=\(setup.sha256) provisioner.target=\(setup.output)")
        #expect((try? result.get()) == .reboot, "\(console.text)")
        #expect(try written(setup) == setup.image)
    }

    /// Interim (1xx) responses are skipped, a few; a server that sends them
    /// without end is refused with one line, not followed down PID 1's stack.
    @Test func interimResponsesAreSkippedButNotWithoutEnd() throws {
        let setup = try Setup(megabytes: 1)
        let server = try TestHTTPServer(root: setup.folder.url)
        defer { server.stop() }
        let (few, fewConsole) = try run("provisioner.rootfs=\(server.url("disk.img?interim=3")) provisioner.target=\(setup.output)")
        #expect((try? few.get()) == .reboot, "\(fewConsole.text)")
        #expect(try written(setup) == setup.image)
        let (endless, _) = try run("provisioner.rootfs=\(server.url("disk.img?interim=200000")) provisioner.target=\(setup.output)")
        guard case .failure(let error) = endless else { Issue.record("succeeded"); return }
        #expect(error.phase == .download)
        #expect(error.what.contains("more than 10 interim (1xx) responses"), "\(error.what)")
    }

    @Test func bmapWritesOnlyMappedRangesAndChecksThem() throws {
        let setup = try Setup()
        let folder = setup.folder
        try #require(try runTool("/usr/bin/bmaptool", ["create", "-o", folder.path("disk.bmap"), folder.path("disk.img")]) == 0)
        try #require(try runTool("/usr/bin/zstd", ["-q", "-f", folder.path("disk.img")]) == 0)
        let server = try TestHTTPServer(root: folder.url)
        defer { server.stop() }
        let (result, console) = try run("provisioner.rootfs=\(server.url("disk.img.zst")) provisioner.bmap=\(server.url("disk.bmap")) "
                                        + "provisioner.target=\(setup.output) provisioner.after=stay")
        #expect((try? result.get()) == .stay, "\(console.text)")
        #expect(try written(setup) == setup.image)
        #expect(console.text.contains("(4.0 MiB written)"), "\(console.text)")  // MiB 0, 3, 6, 9 of 12
    }

    /// Like bmaptool, what the bmap leaves out is not written, even where
    /// the stream has bytes. Without the image's SHA-256 those bytes are not
    /// hashed either; with it, the whole stream is, and must match.
    @Test func bytesInTheBmapsHolesAreNotWritten() throws {
        let setup = try Setup()  // data in MiB 0, 3, 6 and 9 of 12
        let folder = setup.folder
        try #require(try runTool("/usr/bin/bmaptool", ["create", "-o", folder.path("disk.bmap"), folder.path("disk.img")]) == 0)
        var other = setup.image  // differs from the bmap's image in a hole only
        other.replaceSubrange((1 << 20)..<((1 << 20) + 5000), with: Data(repeating: 0x55, count: 5000))
        try other.write(to: URL(fileURLWithPath: folder.path("other.img")))
        try #require(try runTool("/usr/bin/zstd", ["-q", "-f", folder.path("other.img")]) == 0)
        let otherSHA = SHA256.hex(of: [UInt8](other))
        let server = try TestHTTPServer(root: folder.url)
        defer { server.stop() }
        for (checksum, succeeds) in [("", true), (" provisioner.rootfs.sha256=\(otherSHA)", true), (" provisioner.rootfs.sha256=\(setup.sha256)", false)] {
            let (result, console) = try run("provisioner.rootfs=\(server.url("other.img.zst")) provisioner.bmap=\(server.url("disk.bmap"))\(checksum) "
                                            + "provisioner.target=\(setup.output) provisioner.after=stay")
            if succeeds {
                #expect((try? result.get()) == .stay, "\(console.text)")
                #expect(try written(setup) == setup.image, "the hole's bytes are not written")
                #expect(console.text.contains(checksum.isEmpty ? "bmap checksums match, verified" : "sha256 \(otherSHA), verified"), "\(console.text)")
            } else {
                guard case .failure(let error) = result else { Issue.record("succeeded: \(console.text)"); continue }
                #expect(error.phase == .checksum)
                #expect(error.what == "SHA-256 of the image is \(otherSHA), expected \(setup.sha256)")
            }
        }
    }

    @Test func wrongSHA256IsAnErrorNeverASuccess() throws {
        let setup = try Setup(megabytes: 4)
        let server = try TestHTTPServer(root: setup.folder.url)
        defer { server.stop() }
        let wrong = String(repeating: "0", count: 64)
        let (result, console) = try run("provisioner.rootfs=\(server.url("disk.img")) provisioner.rootfs.sha256=\(wrong) provisioner.target=\(setup.output)")
        guard case .failure(let error) = result else { Issue.record("succeeded: \(console.text)"); return }
        #expect(error.phase == .checksum)
        #expect(error.what.contains(setup.sha256))
        #expect(!console.text.contains("\"type\":\"success\""))
        #expect(console.text.contains("PROVISIONER-RESULT {\"type\":\"error\",\"phase\":\"checksum\""))
    }

    /// The agent knows the sha256 of the file it stores (compressed), not of
    /// the image inside: `file_sha256` checks the download itself.
    @Test(arguments: [true, false])
    func theDownloadedFilesSHA256IsChecked(right: Bool) throws {
        let setup = try Setup(megabytes: 3)
        let folder = setup.folder
        try #require(try runTool("/usr/bin/zstd", ["-q", "-f", folder.path("disk.img")]) == 0)
        let fileSHA = try SHA256.hex(of: [UInt8](Data(contentsOf: URL(fileURLWithPath: folder.path("disk.img.zst")))))
        let server = try TestHTTPServer(root: folder.url)
        defer { server.stop() }
        try FileManager.default.createDirectory(atPath: folder.path("jobs"), withIntermediateDirectories: true)
        let claimed = right ? fileSHA : String(repeating: "ab", count: 32)
        try """
            {"images": [{"url": "\(server.url("disk.img.zst"))", "file_sha256": "\(claimed)", "target": "\(setup.output)"}],
             "after": "stay"}
            """.write(toFile: folder.path("jobs/7"), atomically: true, encoding: .utf8)
        let (result, console) = try run("provisioner.job=\(server.url("jobs/7"))")
        if right {
            #expect((try? result.get()) == .stay, "\(console.text)")
            #expect(try written(setup) == setup.image)
        } else {
            guard case .failure(let error) = result else { Issue.record("succeeded: \(console.text)"); return }
            #expect(error.phase == .checksum)
            #expect(error.what == "SHA-256 of the downloaded file is \(fileSHA), expected \(claimed)")
            #expect(!console.text.contains("\"type\":\"success\""))
        }
    }

    @Test func wrongBmapChecksumIsAnError() throws {
        let setup = try Setup(megabytes: 4)
        let folder = setup.folder
        try #require(try runTool("/usr/bin/bmaptool", ["create", "-o", folder.path("disk.bmap"), folder.path("disk.img")]) == 0)
        // Another image of the same shape: the bmap's range checksums do not match it.
        _ = try makeImage(at: folder.path("other.img"), megabytes: 4, seed: 99)
        let server = try TestHTTPServer(root: folder.url)
        defer { server.stop() }
        let (result, _) = try run("provisioner.rootfs=\(server.url("other.img")) provisioner.bmap=\(server.url("disk.bmap")) provisioner.target=\(setup.output)")
        guard case .failure(let error) = result else { Issue.record("succeeded"); return }
        #expect(error.phase == .checksum)
        #expect(error.what.contains("bmap range"))
    }

    @Test func killedServerIsResumedWithRange() throws {
        let setup = try Setup(megabytes: 12)
        let first = try TestHTTPServer(root: setup.folder.url, dieAfter: 5 << 20)
        let port = first.port
        let outcome = Mutex<(Result<AfterAction, FlasherError>, Console)?>(nil)
        let commandLine = "provisioner.rootfs=\(first.url("disk.img")) provisioner.rootfs.sha256=\(setup.sha256) provisioner.target=\(setup.output)"
        let thread = Thread {
            let ran = try? run(commandLine)
            outcome.withLock { $0 = ran }
        }
        thread.start()
        try #require(first.waitForExit(seconds: 20), "the server did not die mid-download")
        usleep(300_000)
        let second = try TestHTTPServer(root: setup.folder.url, port: port)
        defer { second.stop() }
        let deadline = Date().addingTimeInterval(30)
        while outcome.withLock({ $0 == nil }) && Date() < deadline { usleep(20_000) }
        guard let (result, console) = outcome.withLock({ $0 }) else { Issue.record("the job did not end"); return }
        #expect((try? result.get()) == .reboot, "\(console.text)")
        #expect(console.text.contains("download interrupted at byte"))
        let requests = try String(contentsOfFile: setup.folder.path("requests.log"), encoding: .utf8)
        #expect(requests.contains("GET /disk.img bytes=5"), "\(requests)")  // resumed from the 5 MiB the first server sent
        #expect(try written(setup) == setup.image)
    }

    @Test func truncatedCompressedImageIsAnError() throws {
        let setup = try Setup(megabytes: 6)
        let folder = setup.folder
        try #require(try runTool("/usr/bin/zstd", ["-q", "-f", folder.path("disk.img")]) == 0)
        let packed = try Data(contentsOf: URL(fileURLWithPath: folder.path("disk.img.zst")))
        try packed.prefix(packed.count * 2 / 3).write(to: URL(fileURLWithPath: folder.path("cut.zst")))
        let server = try TestHTTPServer(root: folder.url)
        defer { server.stop() }
        let (result, _) = try run("provisioner.rootfs=\(server.url("cut.zst")) provisioner.target=\(setup.output)")
        guard case .failure(let error) = result else { Issue.record("succeeded"); return }
        #expect(error.phase == .decompress)
        #expect(error.what.contains("truncated"))
    }

    @Test func truncatedRawImageIsAnErrorAgainstItsSize() throws {
        let setup = try Setup(megabytes: 4)
        let folder = setup.folder
        try setup.image.prefix(3 << 20).write(to: URL(fileURLWithPath: folder.path("cut.img")))
        let server = try TestHTTPServer(root: folder.url)
        defer { server.stop() }
        let (result, _) = try run("provisioner.rootfs=\(server.url("cut.img")) provisioner.rootfs.size=\(4 << 20) provisioner.target=\(setup.output)")
        guard case .failure(let error) = result else { Issue.record("succeeded"); return }
        #expect(error.phase == .checksum)
        #expect(error.offset == 3 << 20)
    }

    @Test func missingImageAndMissingTargetAreErrors() throws {
        let setup = try Setup(megabytes: 1)
        let server = try TestHTTPServer(root: setup.folder.url)
        defer { server.stop() }
        let (missing, _) = try run("provisioner.rootfs=\(server.url("nope.img")) provisioner.target=\(setup.output)")
        guard case .failure(let error) = missing else { Issue.record("succeeded"); return }
        #expect(error.phase == .download)
        #expect(error.what.contains("404"))
        let (noDevice, _) = try run("provisioner.rootfs=\(server.url("disk.img")) provisioner.target=/dev/provisioner-no-such-disk")
        guard case .failure(let deviceError) = noDevice else { Issue.record("succeeded"); return }
        #expect(deviceError.phase == .write)
        #expect(deviceError.code == ENOENT)
    }

    @Test func manifestJobPostsEvents() throws {
        let setup = try Setup(megabytes: 2)
        let folder = setup.folder
        let server = try TestHTTPServer(root: folder.url)
        defer { server.stop() }
        try FileManager.default.createDirectory(atPath: folder.path("jobs"), withIntermediateDirectories: true)
        let manifest = """
            {"images": [{"name": "rootfs", "url": "\(server.url("disk.img"))", "sha256": "\(setup.sha256)",
                         "size": \(2 << 20), "target": "\(setup.output)"}], "after": "poweroff", "secret": "t0p-s3cret"}
            """
        try manifest.write(toFile: folder.path("jobs/42"), atomically: true, encoding: .utf8)
        let (result, console) = try run("provisioner.job=\(server.url("jobs/42"))")
        #expect((try? result.get()) == .poweroff, "\(console.text)")
        #expect(try written(setup) == setup.image)
        let events = try String(contentsOfFile: folder.path("events.log"), encoding: .utf8)
            .split(separator: "\n").map { try JSON(parsing: String($0)) }
        #expect(events.first?["type"] == .string("inventory"))
        #expect(events.contains { $0["type"] == .string("image_done") && $0["sha256"] == .string(setup.sha256) })
        #expect(events.last?["type"] == .string("success"))
        // Every event carries the job's secret from the manifest; the console never shows it.
        let authorizations = try String(contentsOfFile: folder.path("events.auth"), encoding: .utf8).split(separator: "\n")
        #expect(authorizations.count == events.count && authorizations.allSatisfy { $0 == "Bearer t0p-s3cret" }, "\(authorizations)")
        #expect(!console.text.contains("t0p-s3cret"))
    }
}
