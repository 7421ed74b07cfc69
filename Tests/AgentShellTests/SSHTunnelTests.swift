import Foundation
import ProvisionerTesting
import SystemSupport
import Testing

/// A board's TCP port through the agent alone: `ssh -J agent root@BOARD`
/// (here `ssh -W BOARD:PORT`, which -J runs) and `connect BOARD PORT`, the
/// command the coordinator's tunnels run. The board's "sshd" is socat
/// echoing on 127.0.0.1, board1's board_ip.
@Suite(.enabled(if: Tools.isInstalled("ssh") && Tools.isInstalled("ssh-keygen") && Tools.isInstalled("socat")))
struct SSHTunnelTests {
    @Test func aTunnelAndConnectCarryBytesBothWaysForTheHolder() async throws {
        let echoPort = try freeTCPPort()
        let echo = try RunningProcess("socat", ["TCP-LISTEN:\(echoPort),bind=127.0.0.1,fork,reuseaddr", "EXEC:cat"])
        defer { echo.signal(SIGTERM) }
        let fixture = try AgentSSHFixture(boardIP: "127.0.0.1")
        let message = "ssh-2.0 hello\n" + String(repeating: "x", count: 300_000) + "\nbye\n"
        let input = try fixture.directory.createFile("input", text: message)
        _ = await eventually { (try? SocketAddress(host: "127.0.0.1", port: echoPort)).flatMap { try? TCPConnection(to: $0, timeout: 1) } != nil }

        // By board name and by its address.
        for target in ["board1:\(echoPort)", "127.0.0.1:\(echoPort)"] {
            let tunnel = try await fixture.ssh(options: ["-W", target], stdinPath: input)
            #expect(tunnel.exitCode == 0 && tunnel.stdout == message, "\(target): \(tunnel.exitCode) \(tunnel.stdout.count) bytes \(tunnel.stderr)")
        }
        let connect = try await fixture.ssh(stdinPath: input, "connect", "board1", "\(echoPort)")
        #expect(connect.exitCode == 0 && connect.stdout == message, "\(connect.exitCode) \(connect.stdout.count) bytes \(connect.stderr)")

        // Held by someone else: refused both ways.
        let until = Int(wallClock()) + 3600
        #expect(try await fixture.ssh(key: fixture.keys.coordinator, "hold", "board1", "bob-smith", "\(until)").exitCode == 0)
        let refused = try await fixture.ssh(options: ["-W", "board1:\(echoPort)"], stdinPath: input)
        #expect(refused.exitCode == 255 && refused.stdout.isEmpty, "\(refused)")
        let connectRefused = try await fixture.ssh(stdinPath: input, "connect", "board1", "\(echoPort)")
        #expect(connectRefused.exitCode == 3 && connectRefused.stderrLines == ["connect: board1 is held by bob-smith until \(isoTime(Double(until)))"],
                "\(connectRefused)")
        let bob = try await fixture.ssh(key: fixture.keys.bob, stdinPath: input, "connect", "board1", "\(echoPort)")
        #expect(bob.exitCode == 0 && bob.stdout == message, "\(bob.exitCode) \(bob.stderr)")
        // --check (the coordinator's question before a tunnel): reach, close, say so.
        let check = try await fixture.ssh(key: fixture.keys.bob, "connect", "board1", "\(echoPort)", "--check")
        #expect(check.exitCode == 0 && check.stdout == "board1 port \(echoPort): reachable\n", "\(check)")
        #expect(try await fixture.ssh("connect", "board1", "\(echoPort)", "--check").exitCode == 3, "held by bob")
    }

    @Test func connectSaysWhyItCannot() async throws {
        let fixture = try AgentSSHFixture(boardIP: "127.0.0.1")
        let closed = try freeTCPPort()
        let refused = try await fixture.ssh("connect", "board1", "\(closed)")
        #expect(refused.exitCode == 1 && refused.stderrLines.count == 1, "\(refused)")
        #expect(refused.stderr.contains("Connection refused"), "\(refused)")
        let noNetwork = try await fixture.ssh("connect", "board2", "22")
        #expect(noNetwork.exitCode == 1 && noNetwork.stderrLines == ["connect: board2 has no network.board_ip in the agent's config"], "\(noNetwork)")
        #expect(try await fixture.ssh("connect", "board1", "ssh").exitCode == 2)
        #expect(try await fixture.ssh("connect", "board1").exitCode == 2)
        #expect(try await fixture.ssh("connect", "board1", "22", "--chek").exitCode == 2)
        let checkClosed = try await fixture.ssh("connect", "board1", "\(closed)", "--check")
        #expect(checkClosed.exitCode == 1 && checkClosed.stderrLines.count == 1 && checkClosed.stderr.contains("Connection refused"), "\(checkClosed)")
        #expect(try await fixture.ssh("connect", "nope", "22").exitCode == 1)
        // Not on a terminal: a tunnel carries raw bytes.
        let terminal = try await fixture.ssh(options: ["-tt"], "connect", "board1", "22")
        #expect(terminal.exitCode == 2, "\(terminal)")
        // A tunnel that cannot reach its port is refused when it opens
        // (OpenSSH: "open failed"), not opened and closed at once.
        for target in ["10.9.9.9:22", "board1:\(closed)", "board2:22"] {
            let tunnel = try await fixture.ssh(options: ["-W", target])
            #expect(tunnel.exitCode == 255 && tunnel.stderr.contains("forwarding failed"), "\(target): \(tunnel)")
        }
    }
}
