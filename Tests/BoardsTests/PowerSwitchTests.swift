import AgentCore
@testable import Boards
import Foundation
import ProvisionerTesting
import Testing

@Suite("CommandPowerSwitch with shell commands")
struct CommandPowerSwitchTests {
    @Test func onOffAndStatusRunTheirCommands() throws {
        let folder = try TemporaryDirectory(prefix: "power-command")
        let state = folder.path("state")
        let power = CommandPowerSwitch(on: "echo on > '\(state)'", off: "echo off > '\(state)'",
                                       status: "grep -qx on '\(state)'", timeout: 5, cycleDelay: 0.1)
        try power.powerOn()
        #expect(try String(contentsOfFile: state, encoding: .utf8) == "on\n")
        #expect(try power.status() == .on)
        try power.powerOff()
        #expect(try String(contentsOfFile: state, encoding: .utf8) == "off\n")
        #expect(try power.status() == .off)
        try power.cycle()
        #expect(try power.status() == .on)
    }

    @Test func cycleIsOffDelayOn() throws {
        let folder = try TemporaryDirectory(prefix: "power-cycle")
        let log = folder.path("log")
        let power = CommandPowerSwitch(on: "echo on $(date +%s.%N) >> '\(log)'", off: "echo off $(date +%s.%N) >> '\(log)'",
                                       status: nil, timeout: 5, cycleDelay: 0.5)
        try power.cycle()
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").map { $0.split(separator: " ") }
        #expect(lines.map { String($0[0]) } == ["off", "on"])
        let gap = (Double(lines[1][1]) ?? 0) - (Double(lines[0][1]) ?? 0)
        #expect(gap >= 0.45, "off to on took \(gap) s")
        #expect(try power.status() == .unknown)
    }

    @Test func timeoutKillsTheWholeProcessGroup() throws {
        let folder = try TemporaryDirectory(prefix: "power-timeout")
        let pidFile = folder.path("pid")
        let power = CommandPowerSwitch(on: "sleep 100 & echo $! > '\(pidFile)'; wait", off: "true", status: nil,
                                       timeout: 0.5)
        let started = Date()
        let error = try #require(throws: BoardError.self) { try power.powerOn() }
        #expect(Date().timeIntervalSince(started) < 5)
        #expect(error.description.contains("did not finish within"), "\(error)")
        let pid = try #require(Int32(try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        // The sleep is gone (or a zombie waiting for init to reap it).
        let deadline = Date().addingTimeInterval(3)
        var alive = true
        while alive && Date() < deadline {
            let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
            alive = !stat.isEmpty && !stat.contains(") Z ")
            if alive { usleep(20_000) }
        }
        #expect(!alive, "sleep (pid \(pid)) still runs")
    }

    @Test func failingCommandReportsExitCodeAndStderr() throws {
        let power = CommandPowerSwitch(on: "echo relay R1 is busy >&2; exit 3", off: "exit 0", status: "exit 1", timeout: 5)
        let error = try #require(throws: BoardError.self) { try power.powerOn() }
        #expect(error.description == "power on: 'echo relay R1 is busy >&2; exit 3' exited with status 3: relay R1 is busy")
        try power.powerOff()
        #expect(try power.status() == .off)
    }
}

@Suite("GPIOPowerSwitch (no GPIO hardware here)")
struct GPIOPowerSwitchTests {
    @Test func missingChipIsAClearErrorNamingChipAndLine() throws {
        let power = GPIOPowerSwitch(chip: "gpiochip99", line: 17, activeLow: true)
        let expected = "power: gpio chip 'gpiochip99' line 17 is not available: gpio chip 'gpiochip99' cannot be opened: No such file or directory"
        #expect(throws: BoardError(expected)) { try power.powerOn() }
        #expect(throws: BoardError(expected)) { try power.status() }
        #expect(throws: BoardError(expected)) { try power.cycle() }
    }
}
