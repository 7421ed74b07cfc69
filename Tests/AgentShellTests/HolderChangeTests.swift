import Foundation
import ProvisionerTesting
import SystemSupport
import Testing

/// Sessions do not outlive the caller's right to a board (issue 15): a
/// console, a `connect` and a direct tunnel opened on a free board are
/// re-checked the moment someone else comes to hold it — the console turns
/// read-only, the others are closed — each with one line saying why.
@Suite(.enabled(if: Tools.isInstalled("ssh") && Tools.isInstalled("ssh-keygen") && Tools.isInstalled("socat")))
struct HolderChangeTests {
    @Test func aReadWriteConsoleTurnsReadOnlyWhenSomeoneElseHoldsTheBoard() async throws {
        let fixture = try AgentSSHFixture()
        let console = try fixture.terminal("console", "board1")
        try await console.waitFor("board1 console: Ctrl-]")
        console.type("before\r")
        #expect(await eventually { String(decoding: fixture.board1.fakeConsole.typed, as: UTF8.self).contains("before\r") })

        let until = Int(wallClock()) + 3600
        #expect(try await fixture.ssh(key: fixture.keys.coordinator, "hold", "board1", "bob-smith", "\(until)").exitCode == 0)
        try await console.waitFor("board1 is now held by bob-smith until \(isoTime(Double(until))): read-only from now on")
        console.type("after\r")
        try await console.waitFor("read-only: what you type is not sent")
        #expect(!String(decoding: fixture.board1.fakeConsole.typed, as: UTF8.self).contains("after"), "typed on bob's board")
        console.type([0x1D, UInt8(ascii: ".")])
        #expect(await console.waitForExit() == 0)
    }

    @Test func connectAndATunnelAreClosedWhenSomeoneElseHoldsTheBoard() async throws {
        let echoPort = try freeTCPPort()
        let echo = try RunningProcess("socat", ["TCP-LISTEN:\(echoPort),bind=127.0.0.1,fork,reuseaddr", "EXEC:cat"])
        defer { echo.signal(SIGTERM) }
        let fixture = try AgentSSHFixture(boardIP: "127.0.0.1")
        _ = await eventually { (try? SocketAddress(host: "127.0.0.1", port: echoPort)).flatMap { try? TCPConnection(to: $0, timeout: 1) } != nil }

        let connect = try TerminalClient(fixture.sshArguments(key: fixture.keys.alice, ["connect", "board1", "\(echoPort)"]))
        let tunnel = try TerminalClient(fixture.sshArguments(key: fixture.keys.alice, options: ["-W", "board1:\(echoPort)"], []))
        for client in [connect, tunnel] {
            client.type("ping\n")
            try await client.waitFor("ping")
        }
        let until = Int(wallClock()) + 3600
        #expect(try await fixture.ssh(key: fixture.keys.coordinator, "hold", "board1", "bob-smith", "\(until)").exitCode == 0)
        #expect(await connect.waitForExit(timeout: .seconds(10)) == 3, "\(connect.errorText)")
        #expect(connect.errorText.contains("board1 is now held by bob-smith until \(isoTime(Double(until))): this session is closed"),
                "\(connect.errorText)")
        #expect(await tunnel.waitForExit(timeout: .seconds(10)) != nil, "the tunnel is still open")
        // bob's own come through.
        let bob = try await fixture.ssh(key: fixture.keys.bob, "connect", "board1", "\(echoPort)", "--check")
        #expect(bob.exitCode == 0, "\(bob)")
    }

    /// An admin's --force goes on when someone else comes to hold the board.
    @Test func anAdminsForcedConsoleStaysReadWrite() async throws {
        let fixture = try AgentSSHFixture()
        let until = Int(wallClock()) + 3600
        #expect(try await fixture.ssh(key: fixture.keys.coordinator, "hold", "board1", "bob-smith", "\(until)").exitCode == 0)
        let forced = try TerminalClient(fixture.sshArguments(key: fixture.keys.coordinator, options: ["-tt"],
                                                             ["--as", "carol", "console", "--force", "board1"]))
        try await forced.waitFor("board1 console: Ctrl-]")
        #expect(try await fixture.ssh(key: fixture.keys.coordinator, "hold", "board1", "dave", "\(until)").exitCode == 0)
        try await Task.sleep(for: .seconds(1.5))
        forced.type("still\r")
        #expect(await eventually { String(decoding: fixture.board1.fakeConsole.typed, as: UTF8.self).contains("still\r") })
        #expect(!forced.text.contains("read-only"), "\(forced.text)")
        forced.type([0x1D, UInt8(ascii: ".")])
        _ = await forced.waitForExit()
    }
}
