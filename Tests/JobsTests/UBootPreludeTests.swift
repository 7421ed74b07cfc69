import AgentCore
@testable import Jobs
import Testing

/// The prelude every job shares, and the prompt machine inside it, driven
/// by hand: what is typed and waited for, and how each step fails.
struct UBootPreludeTests {
    func prelude(_ config: BoardConfig, arguments: String = "console=ttyAMA0,115200") -> MachineDriver<UBootPrelude> {
        MachineDriver(UBootPrelude(profile: config.uboot, network: config.network, board: config.name, bootArguments: arguments))
    }

    @Test func theCountdownIsInterruptedThenOneRoundTripCleansTheLine() throws {
        var driver = prelude(try boardConfig())
        #expect(driver.start() == JobAction([.beginStep("power")], .powerUp))
        let first = driver.answer(.done)
        #expect(first.notices == [.beginStep("U-Boot prompt")])
        #expect(first.operation == .expect(Expectation([.literal("Hit any key to stop autoboot"), .literal("=> ")], fail: [], timeout: 60)))
        #expect(driver.answer(.matched(ExpectMatch(index: 0, matched: "Hit any key to stop autoboot", before: ""))).operation == .send(" "))
        #expect(driver.answer(.done).operation == .expect(Expectation([.literal("=> ")], fail: [], timeout: 30)),
                "after the interrupt no error counts yet")
        #expect(driver.answer(.matched(ExpectMatch(index: 0, matched: "=> ", before: ""))).operation == .send("\u{3}"))
        driver.run(until: { $0.notices.contains(.beginStep("environment")) })
        #expect(driver.typed == [" ", "\u{3}", "setenv provisioner_sync 1\r", "echo sync${provisioner_sync}ok\r", "setenv autoload no\r"])
        #expect(driver.waits.map(\.patterns).suffix(3) == [[.literal("=> ")], [.literal("sync1ok")], [.literal("=> ")]])
        #expect(driver.waits.last?.fail.contains(.literal("Unknown command")) == true, "U-Boot's errors count from here")
    }

    @Test func aPromptThatIsAlreadyThereIsNotInterrupted() throws {
        var driver = prelude(try boardConfig())
        driver.start()
        driver.answer(.done)
        #expect(driver.answer(.matched(ExpectMatch(index: 1, matched: "=> ", before: ""))).operation == .send("\u{3}"))
    }

    @Test func theEnvironmentSetsTuningAddressesAndArgumentsThenSucceeds() throws {
        var driver = prelude(try boardConfig { $0.preboot = ["pci enum", "virtio scan"]; $0.environment = [("fdt_high", "0xffffffff")] })
        driver.start()
        #expect(driver.run().operation == .succeed)
        #expect(driver.steps == ["power", "U-Boot prompt", "preboot 'pci enum'", "preboot 'virtio scan'", "environment"])
        #expect(driver.typed.suffix(10) == [
            "pci enum\r", "virtio scan\r",
            "setenv autoload no\r", "setenv tftpblocksize 1468\r", "setenv tftpwindowsize 16\r", "setenv fdt_high 0xffffffff\r",
            "setenv ipaddr 10.0.0.5\r", "setenv serverip 127.0.0.1\r", "setenv netmask 255.255.255.0\r",
            "setenv bootargs 'console=ttyAMA0,115200'\r",
        ])
    }

    @Test func aDHCPBoardWaitsForItsAddress() throws {
        var driver = prelude(try boardConfig(network: false) { $0.dhcp = true })
        driver.start()
        #expect(driver.run().operation == .succeed)
        #expect(driver.typed.contains("dhcp\r") && !driver.typed.contains { $0.hasPrefix("setenv ipaddr") })
        #expect(driver.waits.contains { $0.patterns == [.literal("DHCP client bound to address")] && $0.timeout == 300 })
    }

    @Test func noNetworkAndNoDHCPFailsTheEnvironmentStep() throws {
        var driver = prelude(try boardConfig(network: false))
        driver.start()
        let failure = try #require(driver.run().operation.failure)
        #expect(failure.reason == "b1 has no network block in agent.yaml (board_ip, server_ip), and its U-Boot profile does not use dhcp")
        #expect(driver.steps.last == "environment")
    }

    @Test func aPowerSwitchThatFailsEndsThePowerStep() throws {
        var driver = prelude(try boardConfig())
        driver.start()
        let failure = try #require(driver.answer(.failed(JobFailure(reason: "the power switch failed: relay stuck"))).operation.failure)
        #expect(failure.reason == "the power switch failed: relay stuck")
    }

    @Test func aPromptThatNeverComesAndAPrebootErrorFail() throws {
        var driver = prelude(try boardConfig())
        driver.start()
        driver.answer(.done)
        let timeout = JobFailure(reason: "'Hit any key to stop autoboot' or '=> ' did not come within 60s")
        #expect(driver.answer(.failed(timeout)).operation == .fail(timeout))

        var preboot = prelude(try boardConfig { $0.preboot = ["virtio scan"] })
        preboot.start()
        preboot.run(until: { $0.notices.contains(.beginStep("preboot 'virtio scan'")) })
        preboot.answer(.done)
        #expect(preboot.answer(boardSaid("Unknown command 'virtio' - try 'help'")).operation.failure?.reason
                == "the board said 'Unknown command 'virtio' - try 'help''")
    }

    @Test func aCancelInAnyStateEndsThePrelude() throws {
        let config = try boardConfig { $0.preboot = ["pci enum"] }
        var whole = prelude(config)
        whole.start()
        whole.run()
        for answered in 0..<(whole.actions.count - 1) {
            var driver = prelude(config)
            driver.start()
            for _ in 0..<answered { driver.answer(obligingBoard(driver.last.operation)) }
            let failure = try #require(driver.answer(.cancelled).operation.failure, "after \(answered) answers")
            #expect(failure.cancelled && failure.reason == "cancelled")
        }
    }

    @Test func theConsoleResetsPromptMachineEndsAtThePrompt() throws {
        var driver = MachineDriver(UBootPrompt(profile: try boardConfig().uboot))
        driver.start()
        #expect(driver.run().operation == .succeed)
        #expect(driver.steps.isEmpty, "the reset tells no steps")
        #expect(driver.typed == [" ", "\u{3}", "setenv provisioner_sync 1\r", "echo sync${provisioner_sync}ok\r"])
    }
}
