import Foundation
import ProvisionerTesting
import Testing

/// `scp FILE lab:BOARD/` and `sftp lab` (DESIGN.md): OpenSSH's clients
/// against the real coordinator, which passes each board's part of the
/// session on to that board's agent. Files land in the caller's space on
/// the right agent, whole with their sha256 or not at all.
@Suite(.enabled(if: Tools.isInstalled("scp") && Tools.isInstalled("sftp") && Tools.isInstalled("socat")
                    && Tools.isInstalled("ssh-keygen"), "needs OpenSSH and socat"))
struct CoordinatorSFTPTests {
    /// `user`'s space on agent `index`.
    func space(_ lab: LabFixture, agent index: Int, _ user: String = "alice") -> String {
        lab.folder.path("agent\(index)/data/users/\(user)")
    }

    func contents(of folder: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted()
    }

    /// scp's and sftp's options for `user` (both take -P).
    func options(_ lab: LabFixture, _ user: String) -> [String] {
        ["-F", "/dev/null", "-P", "\(lab.port)", "-i", lab.folder.path(user), "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"]
    }

    func scp(_ lab: LabFixture, _ user: String, _ arguments: String...) async throws -> ProcessResult {
        try await RunningProcess.run("scp", options(lab, user) + arguments, timeout: .seconds(60))
    }

    func sftp(_ lab: LabFixture, _ user: String, _ commands: [String]) async throws -> ProcessResult {
        let batch = try lab.folder.createFile("batch-\(UUID().uuidString)", text: commands.joined(separator: "\n") + "\n")
        return try await RunningProcess.run("sftp", options(lab, user) + ["-b", "-", "127.0.0.1"], timeout: .seconds(60), stdinPath: batch)
    }

    func onlineLab() async throws -> LabFixture {
        let lab = try await LabFixture()
        _ = try await lab.waitForBoards { rows in rows.count == 2 && rows.allSatisfy { $0["online"] as? Bool == true } }
        return lab
    }

    @Test func scpThroughTheLabReachesEachBoardsAgentAndComesBack() async throws {
        let lab = try await onlineLab()
        let data = try RandomBytes.make(count: 20 << 20 + 77)
        let source = try lab.folder.createFile("rootfs.img", contents: data)

        let first = try await scp(lab, "bob", source, "127.0.0.1:b1/")
        #expect(first.exitCode == 0, "\(first)")
        let second = try await scp(lab, "bob", source, "127.0.0.1:b2/images/rootfs.img")
        #expect(second.exitCode == 0, "\(second)")
        // Each on its own board's agent, with the sidecar `files` reads.
        #expect(contents(of: space(lab, agent: 1, "bob")) == [".rootfs.img.sha256", "rootfs.img"])
        #expect(try Data(contentsOf: URL(fileURLWithPath: space(lab, agent: 2, "bob") + "/images/rootfs.img")) == data)
        let files = try await lab.ssh("bob", "files", "b1", "--json")
        let entries = try JSONSerialization.jsonObject(with: Data(files.stdout.utf8)) as? [[String: Any]]
        let sum = try await RunningProcess.run("sha256sum", [source]).stdout.prefix(64)
        #expect(entries?.first?["sha256"] as? String == String(sum), "\(files)")

        let copy = lab.folder.path("copy.img")
        let back = try await scp(lab, "bob", "127.0.0.1:b2/images/rootfs.img", copy)
        #expect(back.exitCode == 0, "\(back)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: copy)) == data)

        // What bob stored is in the audit log, once the agent said it was stored.
        let audit = try await lab.ssh("alice", "audit", "--json")
        let rows = try JSONSerialization.jsonObject(with: Data(audit.stdout.utf8)) as? [[String: Any]] ?? []
        let uploads = rows.filter { $0["action"] as? String == "upload" }.map { "\($0["user"] ?? "") \($0["board"] ?? "") \($0["detail"] ?? "")" }
        #expect(uploads.sorted() == ["bob b1 rootfs.img (sftp)", "bob b2 images/rootfs.img (sftp)"], "\(audit)")
    }

    @Test func sftpShowsTheBoardsAndWorksInEach() async throws {
        let lab = try await onlineLab()
        let source = try lab.folder.createFile("Image", contents: try RandomBytes.make(count: 1 << 20))
        let back = lab.folder.path("back")
        let result = try await sftp(lab, "bob", [
            "ls",
            "cd b1",
            "put \(source)",
            "ls -l",
            "get Image \(back)",
            "df",
            "rename Image Image.old",
            "-rename Image.old /b2/Image",   // another agent: refused ('-': the batch goes on)
            "rm Image.old",
            "ls /b2",
        ])
        #expect(result.exitCode == 0, "\(result)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.contains("b1") && $0.contains("b2") }, "\(result.stdout)")
        #expect(lines.contains { $0.hasPrefix("-rw-r--r--") && $0.contains(" 1048576 ") && $0.hasSuffix(" Image") }, "\(result.stdout)")
        #expect(lines.contains { $0.contains("Size") && $0.contains("Avail") }, "\(result.stdout)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: back)) == Data(contentsOf: URL(fileURLWithPath: source)))
        #expect(result.stderr.contains("sftp: b1 and b2 are on different agents"), "\(result.stderr)")
        #expect(contents(of: space(lab, agent: 1, "bob")).isEmpty, "\(contents(of: space(lab, agent: 1, "bob")))")
    }

    @Test func refusalsAreToldAndStoreNothing() async throws {
        let lab = try await onlineLab()
        let source = try lab.folder.createFile("payload", text: "payload\n")
        for (target, says) in [("b1/../../etc/passwd", "sftp: no board 'etc' (boards: b1, b2)"),
                               ("b1/.hidden", "sftp: names starting with '.' are reserved ('.hidden')"),
                               ("nosuch/x", "sftp: no board 'nosuch'")] {
            let result = try await scp(lab, "bob", source, "127.0.0.1:\(target)")
            #expect(result.exitCode != 0, "\(target): \(result)")
            #expect(result.stderr.contains(says), "\(target): \(result.stderr)")
        }
        #expect(contents(of: space(lab, agent: 1, "bob")).isEmpty)
        let stranger = try await sftp(lab, "stranger", ["ls"])
        #expect(stranger.exitCode != 0, "\(stranger)")

        // An agent gone: its board says so; the other still works.
        await lab.agents[1].terminate()
        _ = try await lab.waitForBoards(timeout: .seconds(10)) { rows in
            rows.first { $0["name"] as? String == "b2" }?["online"] as? Bool == false
        }
        let offline = try await scp(lab, "bob", source, "127.0.0.1:b2/")
        #expect(offline.exitCode != 0, "\(offline)")
        #expect(offline.stderr.contains("sftp: b2 is offline: agent bench-2 does not answer"), "\(offline.stderr)")
        let online = try await scp(lab, "bob", source, "127.0.0.1:b1/")
        #expect(online.exitCode == 0, "\(online)")
    }

    @Test func aClientKilledMidTransferLeavesNothingOnTheAgent() async throws {
        let lab = try await onlineLab()
        let source = try lab.folder.createFile("big", contents: try RandomBytes.make(count: 32 << 20))
        let client = try RunningProcess("scp", options(lab, "bob") + ["-l", "4000", source, "127.0.0.1:b1/big.img"])
        let folder = space(lab, agent: 1, "bob")
        #expect(await eventually { contents(of: folder).contains { $0.hasPrefix(".upload-") } }, "the temp file appears")
        client.signal(SIGKILL)
        _ = await client.waitForExit(timeout: .seconds(10))
        #expect(await eventually { contents(of: folder).isEmpty }, "\(contents(of: folder))")
        let audit = try await lab.ssh("alice", "audit", "--json")
        #expect(!audit.stdout.contains("big.img (sftp)\""), "nothing stored, nothing audited as stored: \(audit.stdout)")
    }
}
