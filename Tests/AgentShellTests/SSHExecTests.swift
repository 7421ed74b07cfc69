import AgentCore
import Foundation
import ProvisionerTesting
import SystemSupport
import Testing

/// The real OpenSSH client against an in-process AgentSSHServer: keys,
/// exit statuses and one-line errors of exec requests.
@Suite(.enabled(if: Tools.isInstalled("ssh") && Tools.isInstalled("ssh-keygen")))
struct SSHExecTests {
    @Test func ed25519ECDSAAndRSAKeysLogIn() async throws {
        let fixture = try AgentSSHFixture()
        let keys = fixture.keys
        let ed25519 = try await fixture.ssh(key: keys.alice, "whoami")
        #expect(ed25519.exitCode == 0, "\(ed25519.stderr)")
        #expect(ed25519.stdout == "alice\n")
        let ecdsa = try await fixture.ssh(key: keys.bob, "whoami")
        #expect(ecdsa.exitCode == 0, "\(ecdsa.stderr)")
        #expect(ecdsa.stdout == "bob-smith\n")
        for algorithm in ["rsa-sha2-256", "rsa-sha2-512"] {
            let rsa = try await fixture.ssh(key: keys.carol, options: ["-o", "PubkeyAcceptedAlgorithms=\(algorithm)"], "whoami")
            #expect(rsa.exitCode == 0, "\(algorithm): \(rsa.stderr)")
            #expect(rsa.stdout == "carol\n", "\(algorithm)")
        }
    }

    @Test func aKeyListedNowhereIsRefused() async throws {
        let fixture = try AgentSSHFixture()
        let result = try await fixture.ssh(key: fixture.keys.stranger, "version")
        #expect(result.exitCode == 255)
        #expect(result.stderr.contains("Permission denied"), "\(result.stderr)")
        #expect(result.stdout.isEmpty)
    }

    @Test func versionPrintsAndExitsZero() async throws {
        let fixture = try AgentSSHFixture()
        let result = try await fixture.ssh("version")
        #expect(result.exitCode == 0, "\(result.stderr)")
        #expect(result.stdout.hasPrefix("provisioner-agent \(Provisioner.version) (agent bench-test, libssh "), "\(result.stdout)")
        #expect(result.stderr.isEmpty)
    }

    @Test func anUnknownCommandIsAUsageErrorWithOneLine() async throws {
        let fixture = try AgentSSHFixture()
        let result = try await fixture.ssh("frobnicate", "board1")
        #expect(result.exitCode == 2)
        #expect(result.stderrLines == ["unknown command 'frobnicate' (try 'help')"])
        #expect(result.stdout.isEmpty)
    }

    @Test func anUnknownBoardFailsWithOneLine() async throws {
        let fixture = try AgentSSHFixture()
        let result = try await fixture.ssh("power", "board9", "status")
        #expect(result.exitCode == 1)
        #expect(result.stderrLines == ["power: no board 'board9' (boards: board1, board2)"])
        #expect(fixture.board1.fakePower.calls.isEmpty)
    }

    @Test func aBadPowerActionIsAUsageError() async throws {
        let fixture = try AgentSSHFixture()
        let result = try await fixture.ssh("power", "board1", "explode")
        #expect(result.exitCode == 2)
        #expect(result.stderrLines.count == 1)
        #expect(result.stderr.contains("unknown action 'explode'"))
    }

    @Test func powerCycleCallsTheSwitchAndPrintsTheState() async throws {
        let fixture = try AgentSSHFixture()
        let result = try await fixture.ssh("power", "board1", "cycle")
        #expect(result.exitCode == 0, "\(result.stderr)")
        #expect(result.stdout == "board1: on\n")
        #expect(fixture.board1.fakePower.calls == [.cycle, .status])
        #expect(fixture.boards[1].fakePower.calls.isEmpty)

        let off = try await fixture.ssh("power", "board1", "off")
        #expect(off.stdout == "board1: off\n")
        #expect(fixture.board1.fakePower.current == .off)
    }

    @Test func aFailingSwitchIsExitOneWithTheReason() async throws {
        let fixture = try AgentSSHFixture()
        fixture.board1.fakePower.failNext("relay not answering")
        let result = try await fixture.ssh("power", "board1", "on")
        #expect(result.exitCode == 1)
        #expect(result.stderrLines == ["power: board1: on failed: relay not answering"])
    }

    @Test func boardsJSONParses() async throws {
        let fixture = try AgentSSHFixture()
        try fixture.boards[1].fakePower.powerOn()
        let result = try await fixture.ssh("boards", "--json")
        #expect(result.exitCode == 0, "\(result.stderr)")
        let parsed = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]]
        let rows = try #require(parsed)
        #expect(rows.map { $0["name"] as? String } == ["board1", "board2"])
        #expect(rows.map { $0["power"] as? String } == ["off", "on"])
        #expect(rows.allSatisfy { $0["agent"] as? String == "bench-test" })

        let table = try await fixture.ssh("boards")
        #expect(table.stdout.split(separator: "\n").first?.hasPrefix("NAME") == true)
        #expect(table.stdout.contains("board2  bench-test"))
    }

    @Test func logPrintsTheLinesSinceADuration() async throws {
        let fixture = try AgentSSHFixture()
        let now = Date().timeIntervalSince1970
        fixture.board1.fakeConsole.appendLogLine("old line", at: now - 7200)
        fixture.board1.fakeConsole.appendLogLine("new line", at: now - 60)
        let all = try await fixture.ssh("log", "board1")
        #expect(all.stdout == "old line\nnew line\n")
        let recent = try await fixture.ssh("log", "board1", "--since", "10m")
        #expect(recent.exitCode == 0)
        #expect(recent.stdout == "new line\n")
        let bad = try await fixture.ssh("log", "board1", "--since", "soon")
        #expect(bad.exitCode == 2)
        #expect(bad.stderrLines.count == 1)
    }

    @Test func plainLogPrintsItsLastFourMiBOnly() async throws {
        let fixture = try AgentSSHFixture()
        let now = Date().timeIntervalSince1970
        fixture.board1.fakeConsole.appendLogLine(String(repeating: "o", count: 4 << 20), at: now - 60)
        fixture.board1.fakeConsole.appendLogLine("new line", at: now - 30)
        let plain = try await fixture.ssh("log", "board1")
        #expect(plain.exitCode == 0)
        #expect(plain.stdout == "new line\n")
        let since = try await fixture.ssh("log", "board1", "--since", "2m")
        #expect(since.stdout.utf8.count == (4 << 20) + 1 + "new line\n".utf8.count)
    }

    @Test func consoleWithoutATerminalIsAUsageError() async throws {
        let fixture = try AgentSSHFixture()
        let result = try await fixture.ssh("console", "board1")
        #expect(result.exitCode == 2)
        #expect(result.stderrLines == ["console: needs a terminal: use ssh -t"])
        #expect(fixture.board1.fakeConsole.attachCount == 0)
    }

    @Test func aCoordinatorNamesTheActingUser() async throws {
        let fixture = try AgentSSHFixture()
        let keys = fixture.keys
        let byArgument = try await fixture.ssh(key: keys.coordinator, "--as", "dave", "whoami")
        #expect(byArgument.stdout == "dave\n", "\(byArgument.stderr)")
        let byEnvironment = try await fixture.ssh(key: keys.coordinator, options: ["-o", "SetEnv=PROVISIONER_USER=erin"], "whoami")
        #expect(byEnvironment.stdout == "erin\n", "\(byEnvironment.stderr)")
        let itself = try await fixture.ssh(key: keys.coordinator, "whoami")
        #expect(itself.stdout == "coordinator\n")
        let badName = try await fixture.ssh(key: keys.coordinator, "--as", "Dave!", "whoami")
        #expect(badName.exitCode == 2)
        #expect(badName.stderrLines.count == 1)
    }

    @Test func aPersonCannotActForAnotherUser() async throws {
        let fixture = try AgentSSHFixture()
        let result = try await fixture.ssh(key: fixture.keys.alice, "--as", "bob", "whoami")
        #expect(result.exitCode == 3)
        #expect(result.stderrLines == ["only a coordinator's key may act for another user (this key is alice)"])
    }
}
