import Foundation
import ProvisionerTesting
import Testing

/// `tags` in agent.yaml, as a lone agent's `boards` shows and selects them.
@Suite(.enabled(if: Tools.isInstalled("ssh"), "needs OpenSSH"))
struct BoardTagsTests {
    /// Two i.MX 8M Plus boards, one with eMMC.
    static let imxBoards = """
          - name: imx1
            serial: { device: data/imx1.console }
            power: { type: command, on: "true", off: "true" }
            tags: [imx8mp, emmc]
          - name: imx2
            serial: { device: data/imx2.console }
            power: { type: command, on: "true", off: "true" }
            tags: [imx8mp]
        """

    @Test func boardsShowsTagsAndSelectsBoardsWithAllOfThem() async throws {
        let agent = try await ServedAgent(prefix: "tags", boards: Self.imxBoards + """

              - name: plain
                serial: { device: data/plain.console }
                power: { type: command, on: "true", off: "true" }
            """)
        let table = try await agent.ssh("boards", "--tag", "imx8mp")
        #expect(table.exitCode == 0, "\(table)")
        let lines = table.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 3, "\(table.stdout)")
        #expect(lines.first?.hasSuffix("TAGS") == true, "\(table.stdout)")
        #expect(lines.dropFirst().map { $0.split(separator: " ").first.map(String.init) ?? "" } == ["imx1", "imx2"], "\(table.stdout)")
        #expect(lines[1].hasSuffix("imx8mp,emmc") && lines[2].hasSuffix("imx8mp"), "\(table.stdout)")

        let both = try await agent.ssh("boards", "--tag", "imx8mp", "--tag", "emmc", "--json")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(both.stdout.utf8)) as? [[String: Any]], "\(both)")
        #expect(rows.map { $0["name"] as? String } == ["imx1"])
        #expect(rows.first?["tags"] as? [String] == ["imx8mp", "emmc"])

        let all = try await agent.ssh("boards", "--json")
        let every = try #require(try JSONSerialization.jsonObject(with: Data(all.stdout.utf8)) as? [[String: Any]], "\(all)")
        #expect(every.map { $0["tags"] as? [String] ?? ["missing"] } == [["imx8mp", "emmc"], ["imx8mp"], []])
        let none = try await agent.ssh("boards", "--tag", "riscv", "--json")
        #expect(none.exitCode == 0 && none.stdout == "[]\n", "\(none)")
        let bad = try await agent.ssh("boards", "--tag")
        #expect(bad.exitCode == 2, "\(bad)")
    }

    /// `reserve --tag`: the first free board with every tag, its name alone
    /// on stdout; a second call gets the next; when all are taken, one line
    /// names the one that frees first.
    @Test func reserveByTagTakesTheFirstFreeBoardWithAllTheTags() async throws {
        let agent = try await ServedAgent(prefix: "reserve-tag", users: ["alice", "bob"], boards: Self.imxBoards)
        let first = try await agent.ssh(as: "alice", "reserve", "--tag", "imx8mp", "--for", "1h")
        #expect(first.exitCode == 0 && first.stdout == "imx1\n", "\(first)")
        #expect(first.stderr.hasPrefix("imx1: reserved by alice until "), "\(first.stderr)")
        let second = try await agent.ssh(as: "alice", "reserve", "--tag", "imx8mp", "--for", "30m")
        #expect(second.exitCode == 0 && second.stdout == "imx2\n", "a second board, not the first again: \(second)")
        let none = try await agent.ssh(as: "bob", "reserve", "--tag", "imx8mp")
        #expect(none.exitCode == 1 && none.stdout.isEmpty, "\(none)")
        #expect(none.stderr.hasPrefix("reserve: every board with the tags imx8mp is taken; the first to be free is imx2, held by alice until "),
                "\(none.stderr)")
        #expect(try await agent.ssh(as: "alice", "release", "imx1").exitCode == 0)
        let emmc = try await agent.ssh(as: "bob", "reserve", "--tag", "imx8mp", "--tag", "emmc")
        #expect(emmc.exitCode == 0 && emmc.stdout == "imx1\n", "\(emmc)")
        let unknown = try await agent.ssh(as: "bob", "reserve", "--tag", "riscv")
        #expect(unknown.exitCode == 1 && unknown.stderr == "reserve: no board has the tags riscv\n", "\(unknown)")
        let both = try await agent.ssh(as: "bob", "reserve", "imx1", "--tag", "emmc")
        #expect(both.exitCode == 2 && both.stderr.hasPrefix("reserve: name a BOARD or give --tag, not both"), "\(both)")
        let neither = try await agent.ssh(as: "bob", "reserve", "--for", "1h")
        #expect(neither.exitCode == 2 && neither.stderr.hasPrefix("reserve: name a BOARD, or give --tag"), "\(neither)")
        let audit = try await agent.ssh(as: "bob", "audit")
        #expect(audit.stdout.contains("reserve") && audit.stdout.contains("imx2"), "\(audit.stdout)")
    }

    /// `reserve --tag … --wait`: two users queue for the one emmc board;
    /// each release hands it to the first waiter, who gets its name alone
    /// on stdout; positions are told on stderr; `queue` lists the waiters;
    /// one who disconnects is gone from it; `--timeout` gives up.
    @Test func waitersGetAFreedBoardInTheOrderTheyCame() async throws {
        let agent = try await ServedAgent(prefix: "queue", users: ["alice", "bob", "carol", "dave"], boards: Self.imxBoards)
        #expect(try await agent.ssh(as: "alice", "reserve", "--tag", "emmc").stdout == "imx1\n")
        let bob = try RunningProcess("ssh", agent.sshArguments(as: "bob") + ["reserve", "--tag", "emmc", "--wait", "--for", "10m"])
        defer { bob.signal(SIGKILL) }
        try await bob.waitForLine(containing: "number 1 in the queue")
        let carol = try RunningProcess("ssh", agent.sshArguments(as: "carol") + ["reserve", "--tag", "emmc", "--tag", "imx8mp", "--wait"])
        defer { carol.signal(SIGKILL) }
        try await carol.waitForLine(containing: "number 2 in the queue")
        #expect(carol.stderr.hasPrefix("reserve: waiting for a board with the tags emmc, imx8mp: number 2 in the queue"), "\(carol.stderr)")

        let queue = try await agent.ssh(as: "dave", "queue", "--json")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(queue.stdout.utf8)) as? [[String: Any]], "\(queue)")
        #expect(rows.map { $0["user"] as? String } == ["bob", "carol"])
        #expect(rows.map { $0["position"] as? Int } == [1, 2])
        #expect(rows.last?["tags"] as? [String] == ["emmc", "imx8mp"])
        let table = try await agent.ssh(as: "dave", "queue").stdout
        #expect(table.split(separator: "\n").contains { $0.hasPrefix("2 ") && $0.contains(" carol ") && $0.contains("emmc,imx8mp") }, "\(table)")

        // The first release goes to bob, at once; carol moves up.
        #expect(try await agent.ssh(as: "alice", "release", "imx1").exitCode == 0)
        #expect(await bob.waitForExit(timeout: .seconds(5)) == 0, "\(bob.stderr)")
        #expect(bob.stdout == "imx1\n")
        #expect(bob.stderr.contains("imx1: reserved by bob until "), "\(bob.stderr)")
        try await carol.waitForLine(containing: "number 1 in the queue")
        #expect(carol.isRunning)
        #expect(try await agent.ssh(as: "bob", "release", "imx1").exitCode == 0)
        #expect(await carol.waitForExit(timeout: .seconds(5)) == 0, "\(carol.stderr)")
        #expect(carol.stdout == "imx1\n")

        // A waiter whose ssh goes leaves the queue.
        let dave = try RunningProcess("ssh", agent.sshArguments(as: "dave") + ["reserve", "--tag", "emmc", "--wait"])
        defer { dave.signal(SIGKILL) }
        try await dave.waitForLine(containing: "number 1 in the queue")
        dave.signal(SIGTERM)
        _ = await dave.waitForExit(timeout: .seconds(5))
        var left = false
        for _ in 0..<50 where !left {
            left = try await agent.ssh(as: "alice", "queue", "--json").stdout == "[]\n"
            if !left { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(left, "dave is still queued")
        #expect(try await agent.ssh(as: "carol", "release", "imx1").exitCode == 0)
        #expect(try await agent.ssh(as: "alice", "boards", "--json").stdout.contains("\"holder\":null,\"locked\":null,\"name\":\"imx1\""),
                "nobody got imx1 for the waiter who left")

        let timed = try await agent.ssh(as: "dave", "reserve", "--tag", "riscv", "--wait", "--timeout", "2s")
        #expect(timed.exitCode == 1 && timed.stderr.hasSuffix("reserve: no board has the tags riscv\n"), "\(timed)")
        #expect(try await agent.ssh(as: "alice", "reserve", "imx1").exitCode == 0)
        let gaveUp = try await agent.ssh(as: "dave", "reserve", "--tag", "emmc", "--wait", "--timeout", "2s")
        #expect(gaveUp.exitCode == 1 && gaveUp.stderr.hasSuffix("reserve: no board with the tags emmc came free within 2s\n"), "\(gaveUp)")
        let usage = try await agent.ssh(as: "dave", "reserve", "imx1", "--wait")
        #expect(usage.exitCode == 2 && usage.stderr.hasPrefix("reserve: --wait is for --tag"), "\(usage)")
    }

    /// A reservation that runs out hands the board to the waiter within a
    /// second or so (the watch's pass), and Ctrl-C on a terminal leaves the queue.
    @Test func aReservationsEndHandsTheBoardOnAndCtrlCLeaves() async throws {
        let agent = try await ServedAgent(prefix: "queue-end", users: ["alice", "bob", "carol"], boards: """
              - name: imx1
                serial: { device: data/imx1.console }
                power: { type: command, on: "true", off: "true" }
                tags: [imx8mp]
            """)
        let formatter = ISO8601DateFormatter()
        let end = Date().addingTimeInterval(4)
        #expect(try await agent.ssh(as: "alice", "reserve", "imx1", "--until", formatter.string(from: end)).exitCode == 0)
        let bob = try RunningProcess("ssh", agent.sshArguments(as: "bob") + ["reserve", "--tag", "imx8mp", "--wait"])
        defer { bob.signal(SIGKILL) }
        try await bob.waitForLine(containing: "number 1 in the queue")
        #expect(await bob.waitForExit(timeout: .seconds(15)) == 0 && bob.stdout == "imx1\n", "\(bob.stdout) \(bob.stderr)")
        let late = Date().timeIntervalSince(end)
        #expect(late < 3, "handed on \(late) s after the end")

        // On a terminal (ssh -t), Ctrl-C leaves the queue.
        let waiting = try ConsoleProcess("ssh", agent.sshArguments(as: "carol", terminal: true) + ["reserve", "--tag", "imx8mp", "--wait"],
                                         terminal: true)
        _ = try await waiting.expect("number 1 in the queue")
        waiting.send("\u{03}")
        _ = try await waiting.expect("reserve: left the queue")
        #expect(await eventually { !waiting.isRunning })
        #expect(try await agent.ssh(as: "alice", "queue", "--json").stdout == "[]\n")
    }
}
