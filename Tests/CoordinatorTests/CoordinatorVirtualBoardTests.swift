import Foundation
import ProvisionerTesting
import Testing

/// The coordinator in front of two agents each with a virtual board (QEMU
/// running Debian's arm64 U-Boot), with OpenSSH: what a user sees first.
@Suite(.serialized, .enabled(if: Tools.isInstalled("ssh") && LabFixture.canRunVirtualBoards, "needs OpenSSH, QEMU and u-boot-qemu"))
struct CoordinatorVirtualBoardTests {
    @Test func theHolderPowersAVirtualBoardOnAndItsConsoleShowsUBoot() async throws {
        let lab = try await LabFixture(virtualBoards: true)
        _ = try await lab.waitForBoards { $0.count == 2 && $0.allSatisfy { $0["online"] as? Bool == true } }
        let refused = try await lab.ssh("bob", "power", "b1", "on")
        #expect(refused.exitCode == 3, "\(refused)")

        #expect(try await lab.ssh("bob", "reserve", "b1", "--for", "1h").exitCode == 0)
        let on = try await lab.ssh("bob", "power", "b1", "on")
        #expect(on.exitCode == 0 && on.stdout == "b1: on\n", "\(on)\n\(lab.agents[0].stderr.suffix(1500))")

        // The holder's console: U-Boot's banner (replayed). Its autoboot goes
        // on to the network; the console menu's `r` resets the board to the
        // U-Boot prompt, which then answers.
        let holder = try ConsoleProcess("ssh", lab.sshArguments(as: "bob", login: "b1", terminal: true), terminal: true)
        try await holder.expect("U-Boot 20", timeout: .seconds(60))
        holder.send("\u{1D}r")
        try await holder.expect("\\r\\n=> ", timeout: .seconds(90))
        holder.send("version\r")
        try await holder.expect("aarch64-linux-gnu-gcc", timeout: .seconds(20))
        // Someone else watches the same console and cannot type into it.
        let watcher = try ConsoleProcess("ssh", lab.sshArguments(as: "alice", login: "b1", terminal: true), terminal: true)
        try await watcher.expect("watching read-only")
        holder.send("echo from-the-holder\r")
        try await watcher.expect("from-the-holder", timeout: .seconds(20))
        watcher.send("echo from-the-watcher\r")
        try await watcher.expect("read-only")
        holder.send("\u{1D}.")
        try await holder.expect("detached from b1")
        #expect(!holder.transcript.contains("from-the-watcher"), "\(holder.transcript.suffix(800))")
        watcher.send("\u{1D}.")
        try await watcher.expect("detached from b1")

        // Released: nobody holds b1, and the coordinator powers it off.
        #expect(try await lab.ssh("bob", "release", "b1").exitCode == 0)
        _ = try await lab.waitForBoards(timeout: .seconds(20)) { rows in
            rows.first { $0["name"] as? String == "b1" }?["power"] as? String == "off"
        }
        await lab.stop()
    }
}
