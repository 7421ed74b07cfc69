import AgentCore
@testable import Boards
import Foundation
import ProvisionerTesting
import Testing

private let firmware = "/usr/lib/u-boot/qemu_arm64/u-boot.bin"
private let qemuAvailable = Tools.isInstalled("qemu-system-aarch64") && FileManager.default.fileExists(atPath: firmware)

/// A virtual arm64 board (real U-Boot under QEMU) built from a config, as the agent builds it.
private func virtualBoard(in folder: TemporaryDirectory) throws -> Board {
    let yaml = """
        agent: { name: test, data_dir: \(folder.path("data")) }
        boards:
          - name: vboard
            serial: { device: \(folder.path("dev/vboard-serial")) }
            power: { type: qemu, arch: aarch64, firmware: \(firmware), memory: 256M, cycle_delay: 100ms }
        """
    let config = try AgentConfig(text: yaml, file: folder.path("agent.yaml"))
    return try #require(try Board.boards(of: config, logger: testLogger).first)
}

@Suite("QEMUPowerSwitch with real U-Boot", .enabled(if: qemuAvailable, "needs qemu-system-aarch64 and u-boot-qemu"))
struct QEMUBoardTests {
    @Test func powerOnShowsTheWholeBootAndTakesInputThenCycleOffAndKill() async throws {
        let folder = try TemporaryDirectory(prefix: "qemu-board")
        let board = try virtualBoard(in: folder)
        let power = try #require(board.powerSwitch as? QEMUPowerSwitch)
        try board.start()
        defer {
            try? board.power.powerOff()
            if let pid = power.processID { kill(pid, SIGKILL) }
            board.stop()
        }
        #expect(try board.perform(.status, by: "tester") == .off)
        let typing = Collector()
        let watching = Collector()
        let sessions = [board.console.attach(readOnly: false, deliver: typing.deliver),
                        board.console.attach(readOnly: true, deliver: watching.deliver)]

        #expect(try await DedicatedThread.run { try board.perform(.on, by: "tester") } == .on)
        #expect(await typing.waitForText("Hit any key to stop autoboot", timeout: .seconds(30)), "\(typing.text)")
        // From the very beginning: the banner is U-Boot's first line.
        let firstLine = typing.text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" })
            .first { !$0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }
        #expect(firstLine?.hasPrefix("U-Boot 20") == true, "\(typing.text.prefix(300))")
        #expect(watching.text.contains("U-Boot 20"))

        try sessions[0].write([0x20])
        #expect(await typing.waitForText("=> "), "\(typing.text.suffix(300))")
        try sessions[0].write(Array("printenv\r".utf8))
        #expect(await typing.waitForText("bootcmd="), "\(typing.text.suffix(300))")
        #expect(throws: BoardError.self) { try sessions[1].write([0x20]) }

        // Cycle: a reset, the banner again.
        let before = typing.text.components(separatedBy: "U-Boot 20").count
        #expect(try await DedicatedThread.run { try board.perform(.cycle, by: "tester") } == .on)
        #expect(await typing.wait(timeout: .seconds(30)) {
            String(decoding: $0.bytes, as: UTF8.self).components(separatedBy: "U-Boot 20").count > before
        })

        // Killed from outside: off, and the sessions are told.
        let killed = try #require(power.processID)
        kill(killed, SIGKILL)
        #expect(await typing.waitForNotice(containing: "is gone"), "\(typing.notices)")
        let deadline = Date().addingTimeInterval(5)
        while power.processID != nil && Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(try board.perform(.status, by: "tester") == .off)

        // On again: the same sessions see the board boot.
        let bannersBefore = watching.text.components(separatedBy: "U-Boot 20").count
        let promptsBefore = watching.text.components(separatedBy: "Hit any key").count
        #expect(try await DedicatedThread.run { try board.perform(.on, by: "tester") } == .on)
        #expect(await watching.wait(timeout: .seconds(30)) {
            let text = String(decoding: $0.bytes, as: UTF8.self)
            return text.components(separatedBy: "U-Boot 20").count > bannersBefore
                && text.components(separatedBy: "Hit any key").count > promptsBefore
        }, "\(watching.text.suffix(300))")
        #expect(typing.notices.contains { $0.contains("is back") }, "\(typing.notices)")

        // Off: QEMU is gone.
        let pid = try #require(power.processID)
        #expect(try await DedicatedThread.run { try board.perform(.off, by: "tester") } == .off)
        #expect(kill(pid, 0) == -1 && errno == ESRCH, "QEMU (pid \(pid)) still exists")
        #expect(power.processID == nil)
        #expect(!FileManager.default.fileExists(atPath: board.config.serial.device))
        let log = try board.console.logLines(since: nil).joined(separator: "\n")
        #expect(log.contains("U-Boot 20"))
        for session in sessions { session.detach() }
    }
}
