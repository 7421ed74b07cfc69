import Artifacts
import Foundation
import ProvisionerTesting
import SystemSupport
import Testing

/// `scp` and `sftp` (OpenSSH's, which speaks SFTP for both) into the
/// caller's artifact space on the agent: `/BOARD/…` is that space, files
/// land whole with their sha256 sidecar or not at all.
@Suite(.enabled(if: Tools.isInstalled("scp") && Tools.isInstalled("sftp") && Tools.isInstalled("ssh-keygen")))
struct SFTPArtifactTests {
    func space(_ fixture: AgentSSHFixture, _ user: String = "alice") -> String {
        fixture.directory.path("users/\(user)")
    }

    func contents(of folder: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted()
    }

    /// Options for scp and sftp (both take -P for the port).
    func options(_ fixture: AgentSSHFixture, key: String) -> [String] {
        ["-F", "/dev/null", "-P", "\(fixture.port)", "-i", key,
         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
         "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10"]
    }

    func scp(_ fixture: AgentSSHFixture, key: String? = nil, _ arguments: String...) async throws -> ProcessResult {
        try await RunningProcess.run("scp", options(fixture, key: key ?? fixture.keys.alice) + arguments, timeout: .seconds(60))
    }

    /// `sftp -b -` with `commands` on stdin; a failing command ends the batch (exit 1).
    func sftp(_ fixture: AgentSSHFixture, key: String? = nil, _ commands: [String], extra: [String] = []) async throws -> ProcessResult {
        let batch = try fixture.directory.createFile("batch-\(UUID().uuidString)", text: commands.joined(separator: "\n") + "\n")
        return try await RunningProcess.run("sftp", options(fixture, key: key ?? fixture.keys.alice) + extra + ["-b", "-", "127.0.0.1"],
                                            timeout: .seconds(60), stdinPath: batch)
    }

    @Test func scpPutsAFileWithItsSHA256AndGetsItBackByteForByte() async throws {
        let fixture = try AgentSSHFixture()
        let data = try RandomBytes.make(count: 24 << 20 + 321)  // many 255 KiB writes, past every window
        let source = try fixture.directory.createFile("rootfs.img", contents: data)

        let put = try await scp(fixture, source, "127.0.0.1:board1/")
        #expect(put.exitCode == 0, "\(put)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: space(fixture) + "/rootfs.img")) == data)
        // The same sidecar `upload` writes: `files` shows the sum.
        let files = try await fixture.ssh("files", "board1", "--json")
        let entries = try JSONSerialization.jsonObject(with: Data(files.stdout.utf8)) as? [[String: Any]]
        #expect(entries?.first?["name"] as? String == "rootfs.img", "\(files)")
        #expect(entries?.first?["sha256"] as? String == sha256Hex(data), "\(files)")
        #expect(contents(of: space(fixture)) == [".rootfs.img.sha256", "rootfs.img"])

        // A name of its own, into a folder made on the way, through the other board's door.
        let named = try await scp(fixture, source, "127.0.0.1:board2/images/v2.img")
        #expect(named.exitCode == 0, "\(named)")
        #expect(FileManager.default.fileExists(atPath: space(fixture) + "/images/v2.img"))

        let copy = fixture.directory.path("copy.img")
        let get = try await scp(fixture, "127.0.0.1:board1/rootfs.img", copy)
        #expect(get.exitCode == 0, "\(get)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: copy)) == data)

        // Bob's space is his own.
        let bob = try await scp(fixture, key: fixture.keys.bob, "127.0.0.1:board1/rootfs.img", fixture.directory.path("bob.img"))
        #expect(bob.exitCode != 0)
        #expect(bob.stderr.contains("No such file"), "\(bob.stderr)")
    }

    @Test func scpOverAnExistingFileReplacesItWhole() async throws {
        let fixture = try AgentSSHFixture()
        let long = try fixture.directory.createFile("long", contents: try RandomBytes.make(count: 3 << 20))
        let short = Data("a much shorter file\n".utf8)
        let shortFile = try fixture.directory.createFile("short", contents: short)
        // OpenSSH's scp opens an existing file without truncating it, writes, then sets the size.
        for source in [long, shortFile, long, shortFile] {
            let put = try await scp(fixture, source, "127.0.0.1:board1/Image")
            #expect(put.exitCode == 0, "\(put)")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: space(fixture) + "/Image")) == short)
        let files = try await fixture.ssh("files", "board1", "--json")
        #expect(files.stdout.contains(sha256Hex(short)), "\(files)")
    }

    @Test func sftpListsPutsGetsRenamesRemovesAndShowsTheQuota() async throws {
        let fixture = try AgentSSHFixture(agentYAML: "http: { quota: 64M }")
        let data = try RandomBytes.make(count: 3 << 20)
        let source = try fixture.directory.createFile("kernel.bin", contents: data)
        let back = fixture.directory.path("back.bin")
        let result = try await sftp(fixture, [
            "ls",
            "put \(source) board1/Image",
            "ls -l board1",
            "get board1/Image \(back)",
            "rename board1/Image board1/Image.old",
            "mkdir board1/dtbs",
            "ls board2",
            "df board1",
            "rm board1/Image.old",
            "rmdir board1/dtbs",
            "ls board1",
        ])
        #expect(result.exitCode == 0, "\(result)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        // `ls` at the top shows the boards.
        #expect(lines.contains { $0.contains("board1") && $0.contains("board2") }, "\(result.stdout)")
        // `ls -l` shows the file with its size, as OpenSSH's server would.
        #expect(lines.contains { $0.hasPrefix("-rw-r--r--") && $0.contains(" 3145728 ") && $0.hasSuffix(" Image") }, "\(result.stdout)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: back)) == data)
        // `df`: the quota, in KiB, with the 3 MiB file and the renamed one counted once.
        let df = lines.firstIndex { $0.contains("Size") && $0.contains("Avail") }
        let sizes = df.map { lines[$0 + 1].split(separator: " ").map(String.init) }
        #expect(sizes?.first == "65536", "\(result.stdout)")
        #expect(sizes?[2] == "\(65536 - 3072)", "\(result.stdout)")
        // All of it gone again, sidecars too.
        #expect(contents(of: space(fixture)).isEmpty, "\(contents(of: space(fixture)))")
    }

    @Test func aRenameCarriesTheSHA256() async throws {
        let fixture = try AgentSSHFixture()
        let data = Data("a device tree\n".utf8)
        let source = try fixture.directory.createFile("board.dtb", contents: data)
        let result = try await sftp(fixture, ["put \(source) board1/a.dtb", "rename board1/a.dtb board1/b.dtb"])
        #expect(result.exitCode == 0, "\(result)")
        let files = try await fixture.ssh("files", "board1", "--json")
        let entries = try JSONSerialization.jsonObject(with: Data(files.stdout.utf8)) as? [[String: Any]]
        #expect(entries?.count == 1 && entries?.first?["name"] as? String == "b.dtb", "\(files)")
        #expect(entries?.first?["sha256"] as? String == sha256Hex(data), "\(files)")
    }

    @Test(arguments: [
        ("board1/../../etc/passwd", "sftp: no board 'etc' here"),  // resolves to /etc/passwd
        ("board1/.hidden", "sftp: names starting with '.' are reserved ('.hidden')"),  // as `upload` says
        ("nosuch/file", "No such file"),
        ("/file", "no board 'file' here (boards: board1, board2)"),  // the root holds boards only
    ])
    func hostilePathsStoreNothing(target: String, says: String) async throws {
        let fixture = try AgentSSHFixture()
        let source = try fixture.directory.createFile("payload", text: "payload\n")
        let result = try await scp(fixture, source, "127.0.0.1:\(target)")
        #expect(result.exitCode != 0, "\(result)")
        #expect(result.stderr.components(separatedBy: says).count - 1 == 1, "said once: \(result.stderr.debugDescription)")
        #expect(contents(of: space(fixture)).isEmpty, "\(contents(of: space(fixture)))")
        #expect(!FileManager.default.fileExists(atPath: fixture.directory.path("etc")))
    }

    @Test func aSymlinkOutOfTheSpaceIsNotFollowed() async throws {
        let fixture = try AgentSSHFixture()
        try FileManager.default.createDirectory(atPath: space(fixture), withIntermediateDirectories: true)
        let secret = try fixture.directory.createFile("secret", text: "the agent's own file\n")
        try FileManager.default.createSymbolicLink(atPath: space(fixture) + "/link", withDestinationPath: secret)
        let get = try await scp(fixture, "127.0.0.1:board1/link", fixture.directory.path("stolen"))
        #expect(get.exitCode != 0, "\(get)")
        #expect(!FileManager.default.fileExists(atPath: fixture.directory.path("stolen")))
        // Writing through it does not reach the file it points at.
        let source = try fixture.directory.createFile("payload", text: "overwritten\n")
        let put = try await scp(fixture, source, "127.0.0.1:board1/link")
        #expect(try String(contentsOfFile: secret, encoding: .utf8) == "the agent's own file\n", "\(put)")
    }

    @Test func aQuotaRefusesTheFileThatPassesItAndNothingIsLeft() async throws {
        let fixture = try AgentSSHFixture(agentYAML: "http: { quota: 1M }")
        let source = try fixture.directory.createFile("big", contents: try RandomBytes.make(count: 2 << 20))
        let result = try await scp(fixture, source, "127.0.0.1:board1/big.img")
        #expect(result.exitCode != 0, "\(result)")
        // scp prints the status code's words ("Failure"); the agent's reason comes on stderr, once.
        // (Counted in the text: scp ends its own lines with "\r\n", one Character, which splitting at "\n" misses.)
        let reasons = result.stderr.components(separatedBy: "sftp: quota exceeded: alice uses ").count - 1
        #expect(reasons == 1, "\(result.stderr.debugDescription)")
        #expect(await eventually { contents(of: space(fixture)).isEmpty }, "\(contents(of: space(fixture)))")
    }

    @Test func aClientKilledMidTransferLeavesNoFile() async throws {
        let fixture = try AgentSSHFixture()
        let source = try fixture.directory.createFile("big", contents: try RandomBytes.make(count: 32 << 20))
        // 4 Mbit/s: eight seconds or more, so it is surely cut in the middle.
        let client = try RunningProcess("scp", options(fixture, key: fixture.keys.alice) + ["-l", "4000", source, "127.0.0.1:board1/big.img"])
        let folder = space(fixture)
        #expect(await eventually { contents(of: folder).contains { $0.hasPrefix(".upload-") } }, "the temp file appears")
        client.signal(SIGKILL)
        _ = await client.waitForExit(timeout: .seconds(10))
        #expect(await eventually { contents(of: folder).isEmpty }, "\(contents(of: folder))")
    }

    @Test func aPersonsKeyCannotActForSomeoneElse() async throws {
        let fixture = try AgentSSHFixture()
        let source = try fixture.directory.createFile("payload", text: "payload\n")
        let result = try await RunningProcess.run("scp", options(fixture, key: fixture.keys.alice)
            + ["-o", "SetEnv=PROVISIONER_USER=bob", source, "127.0.0.1:board1/x"], timeout: .seconds(30))
        #expect(result.exitCode != 0, "\(result)")
        #expect(contents(of: space(fixture, "bob")).isEmpty)
        #expect(contents(of: space(fixture, "alice")).isEmpty)
    }

    @Test func aCoordinatorsKeyActsForTheUserItNames() async throws {
        let fixture = try AgentSSHFixture()
        let source = try fixture.directory.createFile("payload", text: "for bob\n")
        let result = try await RunningProcess.run("scp", options(fixture, key: fixture.keys.coordinator)
            + ["-o", "SetEnv=PROVISIONER_USER=bob", source, "127.0.0.1:board1/x"], timeout: .seconds(30))
        #expect(result.exitCode == 0, "\(result)")
        #expect(contents(of: space(fixture, "bob")) == [".x.sha256", "x"])
    }

    @Test func aStrangerIsRefusedAndAnotherSubsystemToo() async throws {
        let fixture = try AgentSSHFixture()
        let stranger = try await sftp(fixture, key: fixture.keys.stranger, ["ls"])
        #expect(stranger.exitCode != 0, "\(stranger)")
        let other = try await fixture.ssh(options: ["-s"], "netconf")
        #expect(other.exitCode != 0, "\(other)")
    }
}
