import AgentCore
@testable import Jobs
import Testing

/// The netboot machine driven by hand: the steps after the prelude, what
/// each types, and the step each failure names.
struct NetbootStateMachineTests {
    func netboot(_ config: BoardConfig, initrd: String? = "b1/initrd", dtb: String? = nil, wait: ExpectPattern? = nil,
                 arguments: String? = "quiet") -> MachineDriver<NetbootStateMachine> {
        let request = NetbootRequest(user: "ana", kernel: "b1/kernel", dtb: dtb, initrd: initrd, arguments: arguments,
                                     wait: wait, waitTimeout: 120)
        return MachineDriver(NetbootStateMachine(request: request, board: config))
    }

    /// Board b1 whose profile scripts its netboot with `steps` (YAML, indented as a list).
    func scriptedConfig(_ steps: String) throws -> BoardConfig {
        let list = steps.split(separator: "\n").map { "          " + $0 }.joined(separator: "\n")
        let yaml = """
            agent: { name: a, data_dir: /nonexistent }
            boards:
              - name: b1
                serial: { device: /dev/null }
                power: { type: command, on: "true", off: "true" }
                network: { board_ip: 10.0.0.5, server_ip: 127.0.0.1 }
                uboot:
                  netboot:
            \(list)
            """
        return try #require(try AgentConfig(text: yaml, file: "test.yaml").boards.first)
    }

    /// Answers obligingly until step `name` begins.
    func reach(_ name: String, _ driver: inout MachineDriver<NetbootStateMachine>) {
        driver.start()
        driver.run(until: { $0.notices.contains(.beginStep(name)) })
    }

    @Test func everyFileIsLoadedThenBootedAndTheTransfersAreKept() throws {
        var driver = netboot(try boardConfig { $0.linuxConsole = "ttyAMA0" }, dtb: "b1/dtb", wait: .literal("login:"))
        driver.start()
        #expect(driver.run().operation == .succeed)
        #expect(driver.steps == ["power", "U-Boot prompt", "environment", "tftp kernel", "tftp initrd", "tftp dtb", "boot",
                                 "wait for 'login:'"])
        #expect(driver.typed.contains("setenv bootargs 'console=ttyAMA0,115200 quiet'\r"))
        #expect(driver.typed.suffix(5) == [
            "tftpboot ${kernel_addr_r} b1/kernel\r", "tftpboot ${ramdisk_addr_r} b1/initrd\r",
            "setenv provisioner_initrd_size ${filesize}\r", "tftpboot ${fdt_addr_r} b1/dtb\r",
            "booti ${kernel_addr_r} ${ramdisk_addr_r}:${provisioner_initrd_size} ${fdt_addr_r}\r",
        ])
        #expect(driver.machine.transfers.map(\.file) == ["b1/kernel", "b1/initrd", "b1/dtb"])
        #expect(driver.machine.transfers.first?.bytes == 1234 && driver.machine.transfers.first?.rate == "1.5 MiB/s")
        #expect(driver.reports == ["  b1/kernel: 1234 bytes at 1.5 MiB/s", "  b1/initrd: 1234 bytes at 1.5 MiB/s",
                                   "  b1/dtb: 1234 bytes at 1.5 MiB/s"])
        #expect(driver.waits.last == Expectation([.literal("login:")], fail: [.literal("Kernel panic")], timeout: 120))
    }

    @Test func withoutAWaitPatternStartingKernelIsSuccess() throws {
        var driver = netboot(try boardConfig(), initrd: nil)
        reach("boot", &driver)
        #expect(driver.last.operation == JobOperation.send("booti ${kernel_addr_r}\r"))
        let failures = UBootCommands(try boardConfig().uboot).failures
        #expect(driver.answer(.done).operation == JobOperation.expect(Expectation([.literal("Starting kernel")], fail: failures, timeout: 60)))
        #expect(driver.answer(.matched(ExpectMatch(index: 0, matched: "Starting kernel", before: ""))).operation == JobOperation.succeed)
    }

    @Test func aTFTPErrorFailsTheLoadWithTheBoardsWords() throws {
        var driver = netboot(try boardConfig())
        reach("tftp kernel", &driver)
        driver.answer(.done)
        let failure = try #require(driver.answer(boardSaid("TFTP error: 'b1/kernel' not found (1)")).operation.failure)
        #expect(failure.step == "tftp kernel")
        #expect(failure.reason == "the board said 'TFTP error: 'b1/kernel' not found (1)'")
        #expect(driver.machine.transfers.isEmpty)
    }

    @Test func aKernelThatNeverStartsAndAPatternThatNeverComesTimeOut() throws {
        var boot = netboot(try boardConfig(), wait: .literal("login:"))
        reach("boot", &boot)
        boot.answer(.done)
        let never = JobFailure(reason: "'Starting kernel' did not come within 60s")
        #expect(boot.answer(.failed(never)).operation.failure?.step == "boot")

        var wait = netboot(try boardConfig(), wait: .literal("login:"))
        reach("wait for 'login:'", &wait)
        #expect(wait.answer(boardSaid("Kernel panic - not syncing: VFS")).operation.failure?.step == "wait for 'login:'")
    }

    @Test func aScriptedBoardRunsItsStepsWithThePlaceholdersFilledIn() throws {
        let config = try scriptedConfig("""
            - { send: "tftpboot 0x80000 {kernel}", expect: "Bytes transferred" }
            - { send: "bootz 0x80000 - ; echo {bootargs}", expect: "Starting kernel", timeout: 20s, fail: ["Bad magic"] }
            """)
        var driver = netboot(config, initrd: nil)
        driver.start()
        #expect(driver.run().operation == .succeed)
        #expect(driver.steps.suffix(2) == ["step 1: 'tftpboot 0x80000 b1/kernel'", "step 2: 'bootz 0x80000 - ; echo quiet'"])
        #expect(driver.waits.last?.timeout == 20 && driver.waits.last?.fail.last == .literal("Bad magic"))
        #expect(driver.machine.transfers.isEmpty, "scripted loads report nothing of their own")
    }

    /// A profile's `expect_regex` that could backtrack without end is
    /// refused when the config is read, naming the pattern.
    @Test func aProfilesRegexThatCanTakeForeverIsRefusedAtLoad() {
        do {
            _ = try scriptedConfig(#"- { send: "version", expect_regex: "(a+)+b" }"#)
            Issue.record("accepted")
        } catch {
            #expect("\(error)".contains("(a+)+ repeats a repetition"), "\(error)")
        }
    }

    @Test func aScriptedStepWithABadRegularExpressionFailsAfterTypingItsLine() throws {
        // The config refuses such a pattern; the machine still fails cleanly on one.
        var config = try scriptedConfig(#"- { send: "version", expect_regex: "U-Boot [0-9]+" }"#)
        config.uboot.netbootSteps?[0].expect = "([unclosed"
        var driver = netboot(config, initrd: nil)
        reach("step 1: 'version'", &driver)
        #expect(driver.last.operation == JobOperation.send("version\r"))
        let failure = try #require(driver.answer(.done).operation.failure)
        #expect(failure.step == "step 1: 'version'" && failure.reason.hasPrefix("'([unclosed' is not a regular expression"))
    }

    @Test func aCancelInAnyStateNamesTheStepItStopped() throws {
        let config = try boardConfig { $0.preboot = ["pci enum"] }
        var whole = netboot(config, dtb: "b1/dtb", wait: .literal("login:"))
        whole.start()
        whole.run()
        for answered in 0..<(whole.actions.count - 1) {
            var driver = netboot(config, dtb: "b1/dtb", wait: .literal("login:"))
            driver.start()
            for _ in 0..<answered { driver.answer(obligingBoard(driver.last.operation)) }
            let failure = try #require(driver.answer(.cancelled).operation.failure, "after \(answered) answers")
            #expect(failure.cancelled && failure.step == driver.steps.last, "after \(answered) answers")
        }
        #expect(Set(whole.steps).count == 9, "the cancels covered every step: \(whole.steps)")
    }
}
