import Foundation
import ProvisionerTesting
import Testing

/// The board a command acts on, the board whose reservation the coordinator
/// checks, and the board its audit line names are one, wherever the board
/// stands among the options and whatever board names the options' values
/// are (the coordinator once took the first word without a dash).
@Suite(.enabled(if: Tools.isInstalled("ssh") && Tools.isInstalled("socat") && Tools.isInstalled("ssh-keygen"),
                "needs OpenSSH and socat"))
struct CommandRoutingTests {
    /// The audit log as (board, action, detail) lines.
    static func audit(_ lab: LabFixture) async throws -> [String] {
        let listing = try await lab.ssh("alice", "audit", "--json")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(listing.stdout.utf8)) as? [[String: Any]], "\(listing)")
        return rows.map { "\($0["board"] as? String ?? "-") \($0["action"] as? String ?? "?") \($0["detail"] as? String ?? "")" }
    }

    @Test func theBoardCheckedIsTheBoardActedOnAndAudited() async throws {
        let lab = try await LabFixture()
        _ = try await lab.waitForBoards { rows in rows.count == 2 && rows.allSatisfy { $0["online"] as? Bool == true } }
        #expect(try await lab.ssh("bob", "reserve", "b1", "--for", "1h").exitCode == 0)
        let power1 = lab.folder.path("agent1/power-on"), power2 = lab.folder.path("agent2/power-on")

        // bob holds b1, not b2: b1 as an option's value must not let him at b2.
        for words in [["flash", "--rootfs", "b1", "b2"], ["flash", "--kernel=b1", "b2", "--dtb", "b1"],
                      ["netboot", "--kernel", "b1", "b2", "--wait", "b1"], ["power", "b2", "on"],
                      ["connect", "--check", "b2", "22"]] {
            let refused = try await lab.ssh("bob", words)
            #expect(refused.exitCode == 3 && refused.stderrLines == ["\(words[0]): needs a reservation of b2 (not reserved: reserve b2)"],
                    "\(words): \(refused)")
        }
        #expect(!FileManager.default.fileExists(atPath: power2))
        #expect(try await Self.audit(lab).filter { !$0.contains(" reserve ") }.isEmpty, "nothing was done, nothing audited")

        // The same words with the boards swapped act on b1, and say so.
        let flash = try await lab.ssh("bob", "flash", "--rootfs", "b2", "b1")
        #expect(flash.exitCode == 1 && flash.stderrLines == ["flash: b1 has no flash block in agent.yaml (flash.target)"], "\(flash)")
        let netboot = try await lab.ssh("bob", "netboot", "--kernel", "b2", "b1", "--wait", "b2")
        #expect(netboot.exitCode == 1 && netboot.stderr.hasPrefix("netboot: ") && netboot.stderrLines.count == 1, "\(netboot)")
        let on = try await lab.ssh("bob", "power", "b1", "on")
        #expect(on.exitCode == 0 && on.stdout == "b1: on\n", "\(on)")
        #expect(FileManager.default.fileExists(atPath: power1) && !FileManager.default.fileExists(atPath: power2))

        // An admin's --force, placed before the board, acts on that board only.
        let forced = try await lab.ssh("alice", "power", "--force", "b2", "on")
        #expect(forced.exitCode == 0 && forced.stdout == "b2: on\n", "\(forced)")
        #expect(FileManager.default.fileExists(atPath: power2))
        let notAdmin = try await lab.ssh("bob", "power", "--force", "b2", "off")
        #expect(notAdmin.exitCode == 3 && notAdmin.stderrLines == ["power: --force is for admins"], "\(notAdmin)")
        #expect(FileManager.default.fileExists(atPath: power2))

        // Files: a file named like the other board goes to the board named.
        let file = lab.folder.path("payload")
        try lab.folder.createFile("payload", text: "routed\n")
        let sha = "ec3ad6ad5f1a27c2f2fd1e3dc8a0d7a3a6b8b1d1d1b7c6a5ed5e8c0f0e0b0c0d"
        let badSHA = try await lab.ssh("bob", "upload", "--sha256", sha, "b2", "b1", stdinPath: file)
        #expect(badSHA.exitCode == 1 && badSHA.stderr.contains("sha256"), "\(badSHA)")
        let upload = try await lab.ssh("bob", "upload", "b2", "b1", stdinPath: file)
        #expect(upload.exitCode == 0 && upload.stdout.hasPrefix("stored b1: "), "\(upload)")
        #expect(try await lab.ssh("bob", "files", "--json", "b2").stdout.contains("\"b1\""))
        #expect(!(try await lab.ssh("bob", "files", "b1", "--json").stdout.contains("\"b1\"")))
        #expect(try await lab.ssh("bob", "rm", "b2", "b1").exitCode == 0)

        #expect(try await Self.audit(lab).filter { !$0.hasPrefix("b1 reserve until ") } == [
            "b1 flash --rootfs b2",
            "b1 netboot --kernel b2 --wait b2",
            "b1 power on",
            "b2 power on --force",
            "b2 upload b1 (failed, status 1)",
            "b2 upload b1",
            "b2 rm b1",
        ])
        await lab.stop()
    }

    /// An admin's `console --force` needs no reservation, so the reservation
    /// watch (once a second) must not close it as if one had ended: it did,
    /// and `power --force` failed now and then under load.
    @Test func anAdminsForcedConsoleOutlivesTheReservationWatch() async throws {
        let lab = try await LabFixture()
        let board = try await lab.holdB1(as: "bob")
        defer { close(board) }
        let console = try ConsoleProcess("ssh", lab.sshArguments(as: "alice", terminal: true) + ["console", "--force", "b1"], terminal: true)
        defer { console.stop() }
        try await console.expect("b1 console")
        try await Task.sleep(for: .milliseconds(2500))  // past two checks of the watch
        #expect(!console.transcript.contains("has ended"), "\(console.transcript)")
        console.sendLine("version")
        let typed = try await LabFixture.typed(on: board, until: "version")
        #expect(typed.contains("version"), "alice's keys still reach b1: \(console.transcript)")
    }
}
