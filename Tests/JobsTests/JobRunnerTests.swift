import AgentCore
import Foundation
import HTTPDaemon
@testable import Jobs
import ProvisionerTesting
import Synchronization
import Testing

/// The jobs with their runner, against a fake U-Boot on a fake console
/// (no QEMU): what the user is told, what the board log keeps, and what a
/// failure carries.
struct JobRunnerTests {
    /// Lines the user was told, collected from the job's thread.
    final class Told: Sendable {
        private let lines = Mutex<[String]>([])
        func append(_ line: String) { lines.withLock { $0.append(line) } }
        var all: [String] { lines.withLock { $0 } }
    }

    func request(wait: String? = "PROVISIONER-MARKER") -> NetbootRequest {
        NetbootRequest(user: "ana", kernel: "b1/kernel", initrd: "b1/initrd", arguments: "quiet",
                       wait: wait.map(ExpectPattern.literal), waitTimeout: 5)
    }

    @Test func aNetbootRunsEveryStepAndKeepsItsTransfers() throws {
        let board = try FakeBoard(name: "b1", boardIP: "10.0.0.5")
        let uboot = FakeUBoot(board) { line in
            line.hasPrefix("booti ") ? "Starting kernel ...\r\nPROVISIONER-MARKER\r\n" : FakeUBoot.reply(to: line)
        }
        defer { uboot.stop() }
        let told = Told()
        let job = NetbootJob(board: board, request: request(), report: told.append, isCancelled: { false })
        try job.run()
        #expect(job.steps.finished.map(\.name) == ["power", "U-Boot prompt", "environment", "tftp kernel", "tftp initrd", "boot",
                                                   "wait for 'PROVISIONER-MARKER'"])
        #expect(job.transfers.map(\.summary) == ["1234 bytes at 2.5 MiB/s", "1234 bytes at 2.5 MiB/s"])
        #expect(told.all.contains("  b1/kernel: 1234 bytes at 2.5 MiB/s"))
        #expect(told.all.contains { $0.hasSuffix(" tftp kernel…") } && told.all.contains { $0.contains(" tftp kernel: ok (") })
        #expect(board.fakePower.calls == [.status, .on])
        let typed = String(decoding: board.fakeConsole.typed, as: UTF8.self)
        #expect(typed.contains("setenv bootargs 'quiet'\r") && typed.contains("booti ${kernel_addr_r} ${ramdisk_addr_r}:${provisioner_initrd_size}\r"))
        let log = try board.fakeConsole.logLines(since: nil)
        #expect(log.contains("[provisioner] netboot by ana: kernel b1/kernel, initrd b1/initrd"))
        #expect(log.contains("[provisioner] netboot: tftp kernel"))
        #expect(log.last?.hasPrefix("[provisioner] netboot by ana: done in ") == true, "\(log)")
        #expect(board.fakeConsole.attachedSessions == 0, "the job detached")
    }

    @Test func aUBootErrorEndsTheJobWithTheBoardsLinesAndTheStepInTheLog() throws {
        let board = try FakeBoard(name: "b1", boardIP: "10.0.0.5")
        let uboot = FakeUBoot(board) { line in
            line.hasSuffix("b1/kernel") ? "TFTP error: 'b1/kernel' not found (1)\r\nNot retrying...\r\n=> " : FakeUBoot.reply(to: line)
        }
        defer { uboot.stop() }
        let job = NetbootJob(board: board, request: request(), report: { _ in }, isCancelled: { false })
        let failure = try #require(throws: JobFailure.self) { try job.run() }
        #expect(failure.step == "tftp kernel" && !failure.cancelled)
        #expect(failure.reason == "the board said 'TFTP error: 'b1/kernel' not found (1)'")
        #expect(failure.recentLines.suffix(3) == ["=> tftpboot ${kernel_addr_r} b1/kernel", "TFTP error: 'b1/kernel' not found (1)", "Not retrying..."], "\(failure.recentLines)")
        let log = try board.fakeConsole.logLines(since: nil)
        #expect(log.last == "[provisioner] netboot by ana: tftp kernel failed: the board said 'TFTP error: 'b1/kernel' not found (1)'")
        #expect(job.transfers.isEmpty && job.steps.finished.map(\.name).last == "environment")
    }

    @Test func aCancelStopsTheJobInTheStepItCameIn() throws {
        let board = try FakeBoard(name: "b1", boardIP: "10.0.0.5")
        let cancelled = Atomic(false)
        // The load never ends: only the cancel does.
        let uboot = FakeUBoot(board) { line in
            if line.hasPrefix("tftpboot") {
                cancelled.store(true, ordering: .relaxed)
                return "Loading: #"
            }
            return FakeUBoot.reply(to: line)
        }
        defer { uboot.stop() }
        let started = ContinuousClock.now
        let job = NetbootJob(board: board, request: request(), report: { _ in },
                             isCancelled: { cancelled.load(ordering: .relaxed) })
        #expect {
            try job.run()
        } throws: { error in
            guard let failure = error as? JobFailure else { return false }
            return failure.cancelled && failure.step == "tftp kernel" && failure.reason == "cancelled"
        }
        #expect(ContinuousClock.now - started < .seconds(5), "a cancel does not wait for the TFTP timeout")
    }

    @Test func theConsoleResetStopsAtThePrompt() throws {
        let board = try FakeBoard(name: "b1")
        let uboot = FakeUBoot(board)
        defer { uboot.stop() }
        let driver = UBootDriver(board: board, isCancelled: { false })
        defer { driver.detach() }
        try driver.powerUp()
        try driver.reachPrompt()
        #expect(String(decoding: board.fakeConsole.typed, as: UTF8.self) == " \u{3}setenv provisioner_sync 1\recho sync${provisioner_sync}ok\r")
    }

    @Test func aFlashFollowsTheFlashersEventsAndWaitsForTheReboot() throws {
        let board = try FakeBoard(name: "b1", boardIP: "10.0.0.5")
        let api = JobAPI()
        let jobURL = Mutex<String?>(nil)
        let console = board.fakeConsole
        let uboot = FakeUBoot(board) { line in
            if line.hasPrefix("setenv bootargs") {
                jobURL.withLock { $0 = line.split(separator: " ").map { $0.trimmingCharacters(in: ["'"]) }
                    .first { $0.hasPrefix("provisioner.job=") }.map { String($0.dropFirst(16)) } }
            }
            if line.hasPrefix("booti ") {
                let id = String(jobURL.withLock { $0 }?.split(separator: "/").last ?? "")
                Thread.detachNewThread {
                    // As the flasher does: the manifest first, for the job's secret.
                    let secret = fetchSecret(of: id, api)
                    for event in [#"{"event":"inventory","memory_bytes":536870912,"serial":"S1"}"#,
                                  #"{"event":"progress","phase":"write","image":"rootfs","bytes_done":5,"bytes_total":10}"#,
                                  #"{"event":"image_done","image":"rootfs","bytes":10,"sha256":"ab","verified":true}"#,
                                  #"{"event":"success"}"#] {
                        post(event, to: id, api, secret: secret)
                    }
                    usleep(100_000)
                    console.emit(Array("\r\nU-Boot 2023.01\r\nHit any key to stop autoboot:  2 ".utf8))
                }
            }
            return FakeUBoot.reply(to: line)
        }
        defer { uboot.stop() }
        let told = Told()
        let progress = Mutex<[FlashProgress]>([])
        let flash = FlashRequest(user: "ana", images: [], verify: true, flasherKernel: "shared/f/Image",
                                 flasherInitrd: "shared/f/initrd", success: nil, timeout: 60)
        let job = FlashJob(board: board, request: flash, api: api, report: told.append,
                           progress: { update in progress.withLock { $0.append(update) } }, isCancelled: { false })
        try job.run()
        #expect(job.steps.finished.map(\.name).suffix(4) == ["tftp flasher", "boot the flasher", "flasher", "reboot into the image"])
        #expect(told.all.contains("flasher: memory 512 MiB; serial S1"))
        #expect(told.all.contains("flasher: rootfs: 10 bytes written, sha256 ab, verified"))
        #expect(told.all.contains("flasher: written and verified"))
        #expect(progress.withLock { $0.map(\.line) } == ["write rootfs [##########..........] 50%"])
        #expect(job.inventory?.serial == "S1" && job.inventory?.memoryBytes == 536_870_912, "the record keeps the inventory")
    }
}

/// Fetches job `id`'s manifest, through the API's handler; its secret.
func fetchSecret(of id: String, _ api: JobAPI) -> String? {
    guard case .respond(let response) = api.handle(HTTPRequest(method: "GET", target: JobAPI.prefix + id)),
          case .bytes(let bytes) = response.body,
          let manifest = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else { return nil }
    return manifest["secret"] as? String
}

/// Posts one event to job `id` the way the flasher does, through the API's handler.
func post(_ event: String, to id: String, _ api: JobAPI, secret: String?) {
    let headers = secret.map { [(name: "Authorization", value: "Bearer " + $0)] } ?? []
    guard case .receive(let receiver) = api.handle(HTTPRequest(method: "POST", target: JobAPI.prefix + id + "/events",
                                                               headers: headers)) else { return }
    Array(event.utf8).withUnsafeBytes { _ = receiver.receive($0) }
    _ = receiver.finish()
}
