import AgentCore
@testable import Jobs
import Testing

/// The flash machine driven by hand: the flasher's boot, its events, its
/// silence, the job's deadline and the reboot into the written image.
struct FlashStateMachineTests {
    func flash(_ config: BoardConfig, fit: Bool = false, success: ExpectPattern? = nil,
               timeout: Double = 600) throws -> MachineDriver<FlashStateMachine> {
        var request = FlashRequest(user: "ana", images: [], verify: true, flasherKernel: "shared/flasher/Image",
                                   flasherInitrd: "shared/flasher/initrd", success: success, timeout: timeout)
        if fit { request.flasherFIT = "shared/flasher/flasher.itb" }
        let network = try #require(config.network)
        return MachineDriver(FlashStateMachine(request: request, profile: config.uboot, network: network, board: config.name,
                                               baud: config.serial.baud, jobURL: "http://10.0.0.1:8080/api/v1/jobs/7-abc"))
    }

    /// Answers obligingly until the flasher is polled the first time.
    func reachFlasher(_ driver: inout MachineDriver<FlashStateMachine>) {
        driver.start()
        driver.run(until: { $0.operation == .awaitFlasher })
    }

    @Test func theFlasherBootsWithItsJobAndTheBoardComesBackIntoU_Boot() throws {
        var driver = try flash(try boardConfig { $0.linuxConsole = "ttyS0" })
        reachFlasher(&driver)
        #expect(driver.steps == ["power", "U-Boot prompt", "environment", "tftp flasher", "boot the flasher", "flasher"])
        #expect(driver.typed.contains(
            "setenv bootargs 'console=ttyS0,115200 provisioner.job=http://10.0.0.1:8080/api/v1/jobs/7-abc ip=10.0.0.5::127.0.0.1:255.255.255.0 quiet'\r"))
        #expect(driver.typed.suffix(4) == [
            "tftpboot ${kernel_addr_r} shared/flasher/Image\r", "tftpboot ${ramdisk_addr_r} shared/flasher/initrd\r",
            "setenv provisioner_initrd_size ${filesize}\r", "booti ${kernel_addr_r} ${ramdisk_addr_r}:${provisioner_initrd_size}\r",
        ])
        let progress = FlashProgress(phase: "write", image: "rootfs", done: 5, total: 10)
        #expect(driver.answer(.flasher(.inventory("memory 512 MiB"))) == JobAction([.report("flasher: memory 512 MiB")], .awaitFlasher))
        #expect(driver.answer(.flasher(.progress(progress))) == JobAction([.progress(progress)], .awaitFlasher))
        #expect(driver.answer(.flasher(.other(message: nil))) == JobAction([], .awaitFlasher))
        #expect(driver.answer(.flasher(.imageDone("rootfs: 10 bytes written"))).notices == [.report("flasher: rootfs: 10 bytes written")])
        let reboot = driver.answer(.flasher(.success))
        #expect(reboot.notices == [.report("flasher: written and verified"), .beginStep("reboot into the image")])
        #expect(reboot.operation == .expect(Expectation([.literal("Hit any key to stop autoboot")], fail: [.literal("Kernel panic")],
                                                        timeout: 600)))
        #expect(driver.answer(.matched(ExpectMatch(index: 0, matched: "", before: ""))).operation == .succeed)
    }

    @Test func aBootmBoardLoadsAndBootsTheFITImage() throws {
        var driver = try flash(try boardConfig { $0.boot = "bootm"; $0.builtInFDT = "${fdtcontroladdr}" }, fit: true)
        reachFlasher(&driver)
        #expect(driver.typed.suffix(2) == ["tftpboot ${kernel_addr_r} shared/flasher/flasher.itb\r",
                                           "bootm ${kernel_addr_r}#conf-1 ${kernel_addr_r}:ramdisk-1 ${fdtcontroladdr}\r"])
    }

    @Test func aFlasherErrorFailsTheFlasherStepWithItsReason() throws {
        var driver = try flash(try boardConfig())
        reachFlasher(&driver)
        let event = try flasherEvent(#"{"event":"error","phase":"write","what":"short write","errno":"ENOSPC","offset":4096}"#)
        let failure = try #require(driver.answer(.flasher(event)).operation.failure)
        #expect(failure.step == "flasher")
        #expect(failure.reason == "the flasher failed in write: short write (ENOSPC) at byte 4096")
    }

    @Test func aFlasherThatFallsSilentFails() throws {
        var fetched = try flash(try boardConfig())
        reachFlasher(&fetched)
        #expect(fetched.answer(.flasherQuiet(fetched: true), after: 59).operation == .awaitFlasher)
        #expect(fetched.answer(.flasher(.inventory("x")), after: 1).operation == .awaitFlasher, "an event restarts the silence")
        #expect(fetched.answer(.flasherQuiet(fetched: true), after: 59.5).operation == .awaitFlasher)
        #expect(fetched.answer(.flasherQuiet(fetched: true), after: 1).operation.failure?.reason == "the flasher fell silent for a minute")

        var never = try flash(try boardConfig())
        reachFlasher(&never)
        #expect(never.answer(.flasherQuiet(fetched: false), after: 179).operation == .awaitFlasher)
        #expect(never.answer(.flasherQuiet(fetched: false), after: 2).operation.failure?.reason
                == "the flasher never fetched its job (did it boot, is network.http_url right?)")
    }

    @Test func theJobsDeadlineEndsTheFlasherStepAndBoundsTheReboot() throws {
        var late = try flash(try boardConfig(), timeout: 100)
        reachFlasher(&late)
        late.answer(.flasher(.inventory("x")), after: 50)
        let failure = try #require(late.answer(.flasher(.inventory("x")), after: 50).operation.failure)
        #expect(failure.step == "flasher" && failure.reason == "the job took longer than 100s")
        #expect(late.last.notices == [.report("flasher: x")], "what came is still told")

        var tight = try flash(try boardConfig(), timeout: 100)
        reachFlasher(&tight)
        #expect(tight.answer(.flasher(.success), after: 70).operation
                == .expect(Expectation([.literal("Hit any key to stop autoboot")], fail: [.literal("Kernel panic")], timeout: 60)),
                "at least a minute for the reboot")
        var roomy = try flash(try boardConfig(), timeout: 1000)
        reachFlasher(&roomy)
        #expect(roomy.answer(.flasher(.success), after: 100).operation
                == .expect(Expectation([.literal("Hit any key to stop autoboot")], fail: [.literal("Kernel panic")], timeout: 900)))
    }

    @Test func aRebootThatNeverComesFailsTheLastStep() throws {
        var driver = try flash(try boardConfig(), success: .literal("login:"))
        reachFlasher(&driver)
        #expect(driver.answer(.flasher(.success)).operation.isWait)
        let never = JobFailure(reason: "'login:' did not come within 10m")
        let failure = try #require(driver.answer(.failed(never)).operation.failure)
        #expect(failure.step == "reboot into the image" && failure.reason == "'login:' did not come within 10m")
    }

    @Test func aCancelInAnyStateNamesTheStepItStopped() throws {
        let config = try boardConfig()
        var whole = try flash(config)
        whole.start()
        whole.run()
        for answered in 0..<(whole.actions.count - 1) {
            var driver = try flash(config)
            driver.start()
            for _ in 0..<answered { driver.answer(obligingBoard(driver.last.operation)) }
            let failure = try #require(driver.answer(.cancelled).operation.failure, "after \(answered) answers")
            #expect(failure.cancelled && failure.step == driver.steps.last, "after \(answered) answers")
            if failure.step == "flasher" { #expect(failure.reason == "cancelled while the flasher ran") }
        }
        #expect(whole.steps.contains("flasher") && whole.steps.last == "reboot into the image")
    }
}
