#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ProvisionerTesting
import Testing

/// What a hostile or careless client sends the agent's SSH port (issue 15):
/// each gets one clear refusal, and the agent serves everyone else on.
@Suite(.enabled(if: Tools.isInstalled("ssh"), "needs OpenSSH"))
struct HostileInputTests {
    static let board = """
          - name: b1
            serial: { device: data/b1.console }
            power: { type: command, on: "true", off: "true" }
            network: { board_ip: 127.0.0.9, server_ip: 127.0.0.1 }
        """

    /// Idle connections that never log in: at most 16 from one address
    /// wait (each up to 60 s); the next is held back, accepted but not
    /// answered, while a client from another address logs in; when the idle
    /// ones go, the held one is answered.
    @Test func idleConnectionsFromOneAddressCannotKeepOthersOut() async throws {
        let agent = try await ServedAgent(prefix: "ssh-flood", boards: Self.board)
        var idle: [Int32] = []
        defer { idle.forEach { close($0) } }
        for _ in 0..<16 { idle.append(try tcpConnection(from: "127.0.0.1", to: agent.port)) }
        // The accept thread counts them once their connections are registered.
        try await Task.sleep(for: .milliseconds(300))
        let held = try tcpConnection(from: "127.0.0.1", to: agent.port)
        defer { close(held) }
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(held, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var banner = [UInt8](repeating: 0, count: 64)
        #expect(recv(held, &banner, banner.count, 0) < 0, "a 17th connection from 127.0.0.1 was answered at once")
        #expect(await eventually { agent.process.stderr.contains("connections from 127.0.0.1 are waiting to log in already") },
                "\(agent.process.stderr.suffix(800))")

        let other = try await RunningProcess.run("ssh", ["-b", "127.0.0.2"] + agent.sshArguments() + ["whoami"], timeout: .seconds(30))
        #expect(other.exitCode == 0 && other.stdout == "user\n", "from 127.0.0.2: \(other)")
        idle.forEach { close($0) }
        idle.removeAll()
        timeout.tv_sec = 10
        setsockopt(held, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let count = recv(held, &banner, banner.count, 0)
        #expect(count > 0 && String(decoding: banner.prefix(max(count, 0)), as: UTF8.self).hasPrefix("SSH-2.0-"),
                "the held connection was not answered once the idle ones went")
        #expect(try await agent.ssh("whoami").stdout == "user\n")
    }

    /// A burst of logins from one host (a CI runner, the coordinator) waits
    /// its turn past the limit instead of being turned away.
    @Test func aBurstOfLoginsFromOneHostAllGetIn() async throws {
        let agent = try await ServedAgent(prefix: "ssh-burst", boards: Self.board)
        let results = try await withThrowingTaskGroup(of: ProcessResult.self) { group in
            for _ in 0..<40 {
                group.addTask { try await RunningProcess.run("ssh", agent.sshArguments() + ["whoami"], timeout: .seconds(60)) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let failed = results.filter { $0.exitCode != 0 || $0.stdout != "user\n" }
        #expect(failed.isEmpty, "\(failed.count) of 40 failed: \(failed.first.map { "\($0)" } ?? "")")
    }

    /// A newline or an escape in a command's words: refused in one line
    /// (exit 2) before anything runs, and the agent's log keeps one line
    /// per event (a forged `<2>` journald line stays inside its own).
    @Test(arguments: ["power 'b1\n<2>forged' on", "netboot b1 --kernel k --args 'quiet\nreset'",
                      "flash b1 --rootfs r --target '/dev/x\u{1b}[2J'", "files 'b1\r'"])
    func controlCharactersInWordsAreRefusedAndNeverLoggedRaw(_ command: String) async throws {
        let agent = try await ServedAgent(prefix: "ssh-control", boards: Self.board)
        let result = try await RunningProcess.run("ssh", agent.sshArguments() + [command], timeout: .seconds(30))
        #expect(result.exitCode == 2, "\(result)")
        #expect(result.stderrLines.count == 1 && result.stderr.contains("control characters (newlines, tabs, escapes) are not allowed"),
                "\(result.stderr)")
        #expect(await eventually { agent.process.stderr.contains("runs '") }, "\(agent.process.stderr)")
        for line in agent.process.stderr.split(separator: "\n") {
            #expect(line.hasPrefix("20") && !line.contains("\u{1b}") && !line.contains("\r"), "a forged or raw log line: \(line)")
        }
        #expect(agent.process.stderr.contains("\\x0a") || agent.process.stderr.contains("\\x1b") || agent.process.stderr.contains("\\x0d"),
                "\(agent.process.stderr)")
    }

    /// A reservations database that is not one (a disk error, a stray
    /// file): the agent does not start, and says which file and what to do.
    @Test func aCorruptReservationsDatabaseStopsTheStartWithOneLine() async throws {
        let folder = try TemporaryDirectory(prefix: "corrupt-store")
        try folder.createFile("authorized_keys", text: "")
        try folder.createFile("agent.yaml", text: ServedAgent.agentYAML(sshPort: try freeTCPPort(), boards: Self.board))
        try FileManager.default.createDirectory(atPath: folder.path("data"), withIntermediateDirectories: true)
        try Data("SQLite format 3\u{0}".utf8 + (0..<4000).map { UInt8(truncatingIfNeeded: $0 &* 37) })
            .write(to: URL(fileURLWithPath: folder.path("data/reservations.sqlite")))
        let started = try await RunningProcess.run(try Tools.agent(), ["serve", "--config", folder.path("agent.yaml")], timeout: .seconds(30))
        #expect(started.exitCode == 1, "\(started)")
        #expect(started.stderr.contains("the reservations database \(folder.path("data/reservations.sqlite")): "), "\(started.stderr)")
        #expect(started.stderr.contains("move it aside to start with no reservations, or restore it from a backup"), "\(started.stderr)")
        #expect(!started.stderr.contains("Fatal error"), "\(started.stderr)")
    }

    /// A reservations database another process holds locked (a backup tool,
    /// an `sqlite3` shell left open in a transaction): the agent starts
    /// (WAL lets it read), a reservation waits at most 5 s and then fails in
    /// one line naming the file, the agent serves on, and once the lock goes
    /// the reservation is made.
    @Test(.enabled(if: Tools.isInstalled("python3"), "needs python3"))
    func aLockedReservationsDatabaseFailsAReservationInOneLine() async throws {
        let agent = try await ServedAgent(prefix: "locked-store", boards: Self.board)
        #expect(try await agent.ssh("reserve", "b1", "--for", "1m").exitCode == 0)
        #expect(try await agent.ssh("release", "b1").exitCode == 0)
        let database = agent.dataPath("reservations.sqlite")
        let locker = try RunningProcess("python3", ["-c", """
            import sqlite3, sys, time
            db = sqlite3.connect(sys.argv[1], isolation_level=None)
            db.execute("BEGIN EXCLUSIVE")
            print("locked", flush=True)
            time.sleep(300)
            """, database])
        defer { locker.signal(SIGKILL) }
        try await locker.waitForLine(containing: "locked", in: .stdout, timeout: .seconds(10))
        let reserve = try await agent.ssh("reserve", "b1", "--for", "1h")
        #expect(reserve.exitCode == 1, "\(reserve)")
        #expect(reserve.stderr.split(separator: "\n").count == 1 && reserve.stderr.contains(database), "\(reserve.stderr)")
        #expect(reserve.stderr.contains("locked"), "\(reserve.stderr)")
        #expect(try await agent.ssh("whoami").stdout == "user\n", "the agent serves on")
        let free = try await agent.ssh("boards")
        #expect(free.exitCode == 0 && !free.stdout.contains("user"), "no holder was written: \(free)")

        locker.signal(SIGKILL)
        _ = await locker.waitForExit(timeout: .seconds(10))
        let again = try await agent.ssh("reserve", "b1", "--for", "1h")
        #expect(again.exitCode == 0, "\(again)")
        #expect(!agent.process.stderr.contains("Fatal error"), "\(agent.process.stderr)")
    }
}
