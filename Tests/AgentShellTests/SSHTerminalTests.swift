import AgentCore
import Foundation
import ProvisionerTesting
import Testing

/// `ssh -tt`: the console (scrollback, live bytes, typing, the escape,
/// read-only, detaching) and the interactive lab shell.
// Serialized: each test drives one ssh -tt whose stdin EOF matters, and
// ssh processes started at the same time inherit each other's pipe ends.
@Suite(.serialized, .enabled(if: Tools.isInstalled("ssh") && Tools.isInstalled("ssh-keygen")))
struct SSHTerminalTests {
    @Test func consoleReplaysScrollbackStreamsTypesAndDetachesWithTheEscape() async throws {
        let fixture = try AgentSSHFixture(scrollback: "U-Boot 2023.01 banner\r\n")
        let hub = fixture.board1.fakeConsole
        let client = try fixture.terminal("console", "board1")
        try await client.waitFor("U-Boot 2023.01 banner")
        #expect(await hub.wait { $0.attachedSessions == 1 })
        hub.emit(Array("Hit any key to stop autoboot\r\n".utf8))
        try await client.waitFor("Hit any key to stop autoboot")
        client.type("printenv\r")
        #expect(await hub.wait { $0.typed == Array("printenv\r".utf8) }, "typed: \(hub.typed)")
        client.type([0x1D, UInt8(ascii: ".")])
        let status = await client.waitForExit()
        #expect(status == 0, "output: \(client.text) stderr: \(client.errorText)")
        #expect(hub.detachCount == 1)
        #expect(hub.typed == Array("printenv\r".utf8), "the escape must not reach the board")
    }

    @Test func aReadOnlyConsoleCannotType() async throws {
        let fixture = try AgentSSHFixture(scrollback: "login: ")
        let hub = fixture.board1.fakeConsole
        let client = try fixture.terminal("console", "board1", "--ro")
        try await client.waitFor("login: ")
        client.type("root\r")
        try await client.waitFor("read-only")
        hub.emit(Array("still watching".utf8))
        try await client.waitFor("still watching")
        client.type([0x1D, UInt8(ascii: ".")])
        #expect(await client.waitForExit() == 0)
        #expect(hub.typed.isEmpty)
        #expect(hub.detachCount == 1)
    }

    @Test func openSSHsBreakReachesTheLineOfAReadWriteSessionOnly() async throws {
        let fixture = try AgentSSHFixture(scrollback: "=> ")
        let hub = fixture.board1.fakeConsole
        let client = try fixture.terminal("console", "board1")
        try await client.waitFor("=> ")
        client.type("\r~B")  // OpenSSH's escape: ~B at the start of a line sends a break request
        #expect(await hub.wait { $0.breaks == 1 }, "breaks: \(hub.breaks)")
        client.type([0x1D, UInt8(ascii: ".")])
        #expect(await client.waitForExit() == 0)

        let watcher = try fixture.terminal("console", "board1", "--ro")
        try await watcher.waitFor("=> ")
        watcher.type("\r~B")
        watcher.type([0x1D, UInt8(ascii: ".")])
        #expect(await watcher.waitForExit() == 0)
        #expect(hub.breaks == 1, "a read-only session sends no break")
    }

    @Test func endOfInputDetaches() async throws {
        let fixture = try AgentSSHFixture()
        let hub = fixture.board1.fakeConsole
        let client = try fixture.terminal("console", "board1")
        try await client.waitFor("board1 console")
        #expect(await hub.wait { $0.attachedSessions == 1 })
        client.closeInput()
        #expect(await hub.wait { $0.detachCount == 1 }, "EOF did not detach")
        #expect(await client.waitForExit() == 0)
    }

    @Test func aClientThatGoesAwayDetaches() async throws {
        let fixture = try AgentSSHFixture()
        let hub = fixture.board1.fakeConsole
        let client = try fixture.terminal("console", "board1")
        try await client.waitFor("board1 console")
        #expect(await hub.wait { $0.attachedSessions == 1 })
        client.signal(SIGKILL)
        #expect(await hub.wait { $0.detachCount == 1 && $0.attachedSessions == 0 }, "a vanished client stayed attached")
    }

    @Test func theBoardAsSSHUserNameOpensItsConsole() async throws {
        let fixture = try AgentSSHFixture(scrollback: "=> ")
        let client = try fixture.terminal(user: "board2")
        try await client.waitFor("board2 console")
        #expect(await fixture.boards[1].fakeConsole.wait { $0.attachedSessions == 1 })
        client.type([0x1D, UInt8(ascii: ".")])
        #expect(await client.waitForExit() == 0)
        #expect(fixture.board1.fakeConsole.attachCount == 0)
    }

    @Test func logFollowPrintsEachNewLineOnceUntilCtrlC() async throws {
        let fixture = try AgentSSHFixture()
        let hub = fixture.board1.fakeConsole
        hub.appendLogLine("earlier line")
        let client = try fixture.terminal("log", "board1", "--follow")
        try await client.waitFor("earlier line")
        hub.appendLogLine("later line")
        try await client.waitFor("later line")
        try await Task.sleep(for: .seconds(1.2))  // two more polls, nothing new
        client.type([0x03])
        #expect(await client.waitForExit() == 0)
        #expect(client.text.components(separatedBy: "line").count == 3, "each line once: \(client.text.debugDescription)")
    }

    @Test func theInteractiveShellPromptsAndRunsHelp() async throws {
        let fixture = try AgentSSHFixture()
        let client = try fixture.terminal()
        try await client.waitFor("alice@bench-test> ")
        client.type("hepl")
        client.type([0x7F, 0x7F])
        client.type("lp\r")
        try await client.waitFor("Commands:")
        try await client.waitFor("Exit status: 0 success")
        client.type("power board1 cycle\r")
        try await client.waitFor("board1: on\r\n")
        client.type("nonsense\r")
        try await client.waitFor("alice@bench-test> nonsense\r\nalice@bench-test> ")
        // stderr travels as extended data, read by another thread: give it a moment.
        for _ in 0..<100 where !client.errorText.contains("unknown command") { try await Task.sleep(for: .milliseconds(50)) }
        #expect(client.errorText.contains("unknown command 'nonsense' (try 'help')\r\n"), "\(client.errorText)")
        client.type("partial line")
        client.type([0x03])
        try await client.waitFor("^C")
        // The session's exit status is the last command's, as in a Unix shell.
        client.type("whoami\r")
        try await client.waitFor("alice\r\n")
        client.type("exit\r")
        #expect(await client.waitForExit() == 0, "\(client.text)")
        #expect(fixture.board1.fakePower.calls.contains(.cycle))
        #expect(!client.text.contains("partial linehelp"))
    }

    @Test func ctrlDLeavesTheShell() async throws {
        let fixture = try AgentSSHFixture()
        let client = try fixture.terminal()
        try await client.waitFor("> ")
        client.type([0x04])
        #expect(await client.waitForExit() == 0)
    }
}
