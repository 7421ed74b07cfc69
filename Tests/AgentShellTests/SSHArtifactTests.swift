import Artifacts
import Digest
import Foundation
import ProvisionerTesting
import SystemSupport
import Testing

/// `upload`, `files`, `rm` and `token` through the real OpenSSH client:
/// stdin lands in the caller's space whole and checked, or not at all.
@Suite(.enabled(if: Tools.isInstalled("ssh") && Tools.isInstalled("ssh-keygen")))
struct SSHArtifactTests {
    /// The caller's folder in the fixture's data_dir.
    func space(_ fixture: AgentSSHFixture, _ user: String = "alice") -> String {
        fixture.directory.path("users/\(user)")
    }

    func contents(of folder: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted()
    }

    @Test func uploadStoresStdinWithItsSHA256AndFilesListsIt() async throws {
        let fixture = try AgentSSHFixture()
        let data = try RandomBytes.make(count: 24 << 20 + 123)  // past the 1 MiB input window, many times
        let source = try fixture.directory.createFile("source.img", contents: data)
        let sha = sha256Hex(data)

        let result = try await RunningProcess.run("ssh", fixture.sshArguments(key: fixture.keys.alice,
            ["upload", "board1", "images/rootfs.img", "--sha256", sha]), timeout: .seconds(60), stdinPath: source)
        #expect(result.exitCode == 0, "\(result.stderr)")
        #expect(result.stdout == "stored images/rootfs.img: 24.0 MiB, sha256 \(sha)\n")
        let stored = try Data(contentsOf: URL(fileURLWithPath: space(fixture) + "/images/rootfs.img"))
        #expect(stored == data)

        let listing = try await fixture.ssh("files", "board1")
        #expect(listing.exitCode == 0, "\(listing.stderr)")
        let lines = listing.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 2, "\(listing.stdout)")
        #expect(lines.last?.hasPrefix("images/rootfs.img") == true, "\(listing.stdout)")
        #expect(lines.last?.contains(String(sha.prefix(16))) == true, "\(listing.stdout)")

        let json = try await fixture.ssh("files", "board1", "--json")
        #expect(json.exitCode == 0, "\(json.stderr)")
        let entries = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]]
        #expect(entries?.first?["name"] as? String == "images/rootfs.img")
        #expect(entries?.first?["sha256"] as? String == sha)
        #expect(entries?.first?["size"] as? Int == data.count)

        // Another person's listing does not show alice's file.
        let bob = try await fixture.ssh(key: fixture.keys.bob, "files", "board1")
        #expect(bob.exitCode == 0, "\(bob.stderr)")
        #expect(!bob.stdout.contains("rootfs"), "\(bob.stdout)")
    }

    @Test func aWrongSHA256StoresNothing() async throws {
        let fixture = try AgentSSHFixture()
        let source = try fixture.directory.createFile("kernel", text: "not the kernel you are looking for\n")
        let wrong = String(repeating: "ab", count: 32)
        let result = try await RunningProcess.run("ssh", fixture.sshArguments(key: fixture.keys.alice,
            ["upload", "board1", "Image", "--sha256", wrong]), stdinPath: source)
        #expect(result.exitCode == 1)
        #expect(result.stderrLines.count == 1, "\(result.stderr)")
        #expect(result.stderr.hasPrefix("upload: sha256 mismatch for '/u/alice/Image': received "), "\(result.stderr)")
        #expect(contents(of: space(fixture)).isEmpty, "\(contents(of: space(fixture)))")
    }

    @Test(arguments: ["../escape", "/etc/passwd", ".hidden", "a//b", "images/../../x", "a/./b"])
    func hostileNamesAreRefusedWithNothingWritten(name: String) async throws {
        let fixture = try AgentSSHFixture()
        let source = try fixture.directory.createFile("data", text: "payload\n")
        let result = try await RunningProcess.run("ssh", fixture.sshArguments(key: fixture.keys.alice,
            ["upload", "board1", name]), stdinPath: source)
        #expect(result.exitCode == 2, "\(result)")
        #expect(result.stderrLines.count == 1 && result.stderr.hasPrefix("upload: "), "\(result.stderr)")
        #expect(contents(of: space(fixture)).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: fixture.directory.path("escape")))
        let removal = try await fixture.ssh("rm", "board1", name)
        #expect(removal.exitCode == 2, "\(removal)")
    }

    @Test func aClientKilledMidUploadLeavesNoFile() async throws {
        let fixture = try AgentSSHFixture()
        let fifo = fixture.directory.path("stdin.fifo")
        #expect(mkfifo(fifo, 0o600) == 0)
        // Held open read-write, so opening it never blocks and it never reaches EOF.
        let writer = open(fifo, O_RDWR | O_CLOEXEC)
        #expect(writer >= 0)
        defer { close(writer) }
        let client = try RunningProcess("ssh", fixture.sshArguments(key: fixture.keys.alice, ["upload", "board1", "rootfs.img"]),
                                        stdinPath: fifo)
        let chunk = [UInt8](repeating: 0x5a, count: 256 << 10)
        for _ in 0..<8 { _ = chunk.withUnsafeBytes { write(writer, $0.baseAddress, $0.count) } }
        // The upload is under way once its hidden temp file exists.
        let folder = space(fixture)
        #expect(await eventually { contents(of: folder).contains { $0.hasPrefix(".upload-") } }, "the upload's temp file appears")
        client.signal(SIGKILL)
        _ = await client.waitForExit(timeout: .seconds(10))
        #expect(await eventually { !contents(of: folder).contains { $0.hasPrefix(".upload-") } }, "the temp file is removed")
        #expect(!contents(of: folder).contains("rootfs.img"), "\(contents(of: folder))")
    }

    @Test func aQuotaRefusesTheUploadThatPassesIt() async throws {
        let fixture = try AgentSSHFixture(agentYAML: "http: { quota: 1M }")
        let source = try fixture.directory.createFile("big", contents: try RandomBytes.make(count: 2 << 20))
        let result = try await RunningProcess.run("ssh", fixture.sshArguments(key: fixture.keys.alice,
            ["upload", "board1", "big.img"]), stdinPath: source)
        #expect(result.exitCode == 1, "\(result)")
        #expect(result.stderr.hasPrefix("upload: quota exceeded"), "\(result.stderr)")
        #expect(contents(of: space(fixture)).isEmpty)
    }

    @Test func rmRemovesAFileAndSaysWhenThereIsNone() async throws {
        let fixture = try AgentSSHFixture()
        let source = try fixture.directory.createFile("dtb", text: "device tree\n")
        let upload = try await RunningProcess.run("ssh", fixture.sshArguments(key: fixture.keys.alice,
            ["upload", "board1", "board.dtb"]), stdinPath: source)
        #expect(upload.exitCode == 0, "\(upload.stderr)")
        let removal = try await fixture.ssh("rm", "board1", "board.dtb")
        #expect(removal.exitCode == 0, "\(removal.stderr)")
        #expect(removal.stdout == "removed board.dtb\n")
        #expect(contents(of: space(fixture)).isEmpty, "the sidecar goes too: \(contents(of: space(fixture)))")
        let again = try await fixture.ssh("rm", "board1", "board.dtb")
        #expect(again.exitCode == 1)
        #expect(again.stderrLines == ["rm: '/u/alice/board.dtb' not found"])
    }

    @Test func tokenPrintsTheTokenTheHTTPServerChecks() async throws {
        let fixture = try AgentSSHFixture()
        let result = try await fixture.ssh("token", "board1")
        #expect(result.exitCode == 0, "\(result.stderr)")
        let token = result.stdout.trimmingCharacters(in: .newlines)
        let tokens = try TokenStore(directory: fixture.directory.path("tokens"))
        #expect(!token.isEmpty)
        #expect(tokens.verify(token, for: "alice"))
        #expect(!tokens.verify(token, for: "carol"))
        let again = try await fixture.ssh("token", "board1")
        #expect(again.stdout == result.stdout, "the token stays the same")
    }

    @Test func anUnknownBoardIsNamed() async throws {
        let fixture = try AgentSSHFixture()
        let result = try await fixture.ssh("files", "nosuch")
        #expect(result.exitCode == 1)
        #expect(result.stderrLines == ["files: no board 'nosuch' (boards: board1, board2)"])
    }
}

func sha256Hex(_ data: Data) -> String { SHA256Hasher.hex(of: data) }
