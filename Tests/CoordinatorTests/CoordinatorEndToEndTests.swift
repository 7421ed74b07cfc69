import Foundation
import ProvisionerTesting
import Testing

/// The coordinator as users meet it: OpenSSH to `provisioner-coordinator
/// serve`, routed to two real agents (LabFixture).
@Suite(.enabled(if: Tools.isInstalled("ssh") && Tools.isInstalled("socat") && Tools.isInstalled("ssh-keygen"),
                "needs OpenSSH and socat"))
struct CoordinatorEndToEndTests {
    @Test func reservationsGuardPowerAcrossTwoAgents() async throws {
        let lab = try await LabFixture()
        // Both agents' boards, online, through the coordinator.
        let rows = try await lab.waitForBoards { rows in
            rows.count == 2 && rows.allSatisfy { $0["online"] as? Bool == true }
        }
        #expect(rows.map { $0["name"] as? String } == ["b1", "b2"])
        #expect(rows.map { $0["agent"] as? String } == ["bench-1", "bench-2"])

        let stranger = try await lab.ssh("stranger", "whoami")
        #expect(stranger.exitCode == 255 && stranger.stderr.contains("Permission denied"), "\(stranger)")
        #expect(try await lab.ssh("bob", "whoami").stdout == "bob\n")

        let unreserved = try await lab.ssh("bob", "power", "b2", "on")
        #expect(unreserved.exitCode == 3 && unreserved.stderrLines.count == 1, "\(unreserved)")
        #expect(unreserved.stderr.contains("needs a reservation of b2"), "\(unreserved)")

        let reserved = try await lab.ssh("bob", "reserve", "b2", "--for", "2h")
        #expect(reserved.exitCode == 0 && reserved.stdout.hasPrefix("b2: reserved by bob until "), "\(reserved)")
        let on = try await lab.ssh("bob", "power", "b2", "on")
        #expect(on.exitCode == 0 && on.stdout == "b2: on\n", "\(on)")
        #expect(FileManager.default.fileExists(atPath: lab.folder.path("agent2/power-on")))

        let refused = try await lab.ssh("alice", "power", "b2", "off")
        #expect(refused.exitCode == 3 && refused.stderr.contains("held by bob until"), "\(refused)")
        // The agent is told the holder too (DESIGN.md, "Holders and TFTP").
        #expect(await eventually { lab.agents[1].stderr.contains("hold: b2 held by bob until") },
                "agent2: \(lab.agents[1].stderr.suffix(1500))")
        let conflict = try await lab.ssh("alice", "reserve", "b2")
        #expect(conflict.exitCode == 1 && conflict.stderr.contains("held by bob until"), "\(conflict)")
        #expect(FileManager.default.fileExists(atPath: lab.folder.path("agent2/power-on")))

        let held = try await lab.waitForBoards { $0.contains { $0["name"] as? String == "b2" && $0["holder"] as? String == "bob" } }
        #expect(held.first { $0["name"] as? String == "b2" }?["power"] as? String == "on")

        // Audit: admins only; it records the reservation and the power switch.
        #expect(try await lab.ssh("bob", "audit").exitCode == 3)
        let audit = try await lab.ssh("alice", "audit", "--json")
        #expect(audit.exitCode == 0 && audit.stdout.contains("\"action\":\"reserve\"") && audit.stdout.contains("\"action\":\"power\""), "\(audit)")

        let usage = try await lab.ssh("bob", "reserve")
        #expect(usage.exitCode == 2, "\(usage)")
        let released = try await lab.ssh("bob", "release", "b2")
        #expect(released.exitCode == 0, "\(released)")

        // An agent killed: its board goes offline within seconds; commands say so in one line.
        await lab.agents[0].terminate()
        _ = try await lab.waitForBoards(timeout: .seconds(10)) { rows in
            rows.first { $0["name"] as? String == "b1" }?["online"] as? Bool == false
                && rows.first { $0["name"] as? String == "b2" }?["online"] as? Bool == true
        }
        let offline = try await lab.ssh("alice", "files", "b1")
        #expect(offline.exitCode == 1 && offline.stderrLines.count == 1 && offline.stderr.contains("offline"), "\(offline)")
        await lab.stop()
    }

    @Test func reservationsAndTheAuditSurviveARestart() async throws {
        let lab = try await LabFixture()
        _ = try await lab.waitForBoards { rows in rows.count == 2 && rows.allSatisfy { $0["online"] as? Bool == true } }
        let reserved = try await lab.ssh("bob", "reserve", "b1", "--for", "1h")
        #expect(reserved.exitCode == 0, "\(reserved)")
        #expect(try await lab.ssh("bob", "power", "b1", "on").exitCode == 0)
        let before = try await lab.ssh("alice", "audit", "--json")
        #expect(before.exitCode == 0, "\(before)")

        let restarted = try await lab.restartCoordinator()
        let reservations = try await lab.ssh("alice", "reservations", "--json")
        #expect(reservations.exitCode == 0, "\(reservations)")
        #expect(reservations.stdout.contains("\"board\":\"b1\"") && reservations.stdout.contains("\"user\":\"bob\""),
                "\(reservations.stdout)")
        let after = try await lab.ssh("alice", "audit", "--json")
        #expect(after.stdout.contains("\"action\":\"reserve\"") && after.stdout.contains("\"action\":\"power\""), "\(after.stdout)")
        // The reservation still guards the board: bob may, alice may not.
        _ = try await lab.waitForBoards { rows in rows.allSatisfy { $0["online"] as? Bool == true } }
        #expect(try await lab.ssh("bob", "power", "b1", "off").exitCode == 0)
        #expect(try await lab.ssh("alice", "power", "b1", "on").exitCode == 3)
        await restarted.terminate()
        await lab.stop()
    }

    @Test func uploadThroughTheCoordinatorArrivesWhole() async throws {
        let lab = try await LabFixture()
        _ = try await lab.waitForBoards { $0.count == 2 }
        let contents = try lab.folder.createRandomFile("image.bin", size: 16 << 20)
        let sha256 = try await RunningProcess.run("sha256sum", [lab.folder.path("image.bin")]).stdout.prefix(64)
        let upload = try await lab.ssh("bob", "upload", "b1", "image.bin", "--sha256", String(sha256),
                                       stdinPath: lab.folder.path("image.bin"))
        #expect(upload.exitCode == 0, "\(upload)\n\(lab.coordinator.stderr)\n\(lab.agents[0].stderr)")
        // Stored in bob's space on bench-1's data_dir, whole.
        let stored = try await RunningProcess.run("find", [lab.folder.path("agent1/data"), "-type", "f", "-name", "image.bin"])
        let path = try #require(stored.stdout.split(separator: "\n").first.map(String.init), "\(stored)")
        #expect(path.contains("/bob/"), "\(path)")
        let storedSHA = try await RunningProcess.run("sha256sum", [path]).stdout.prefix(64)
        #expect(storedSHA == sha256)
        #expect(FileManager.default.contents(atPath: path)?.count == contents.count)
        let files = try await lab.ssh("bob", "files", "b1")
        #expect(files.exitCode == 0 && files.stdout.contains("image.bin"), "\(files)")
        await lab.stop()
    }

    /// Each agent's tags reach the coordinator's `boards`; `--tag` selects
    /// the boards with all the tags given, across agents.
    @Test func boardsByTagAcrossAgents() async throws {
        let lab = try await LabFixture()
        let rows = try await lab.waitForBoards { $0.count == 2 }
        #expect(rows.map { $0["tags"] as? [String] ?? [] } == [["arm", "emmc", "bench-1"], ["arm", "bench-2"]], "\(rows)")
        func names(_ tags: String...) async throws -> [String] {
            let result = try await lab.ssh("alice", ["boards", "--json"] + tags.flatMap { ["--tag", $0] })
            #expect(result.exitCode == 0, "\(result)")
            let rows = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]]
            return (rows ?? []).compactMap { $0["name"] as? String }
        }
        #expect(try await names("arm") == ["b1", "b2"])
        #expect(try await names("arm", "emmc") == ["b1"])
        #expect(try await names("bench-2") == ["b2"])
        #expect(try await names("emmc", "bench-2") == [])
        let table = try await lab.ssh("alice", "boards", "--tag", "emmc")
        let lines = table.stdout.split(separator: "\n")
        #expect(lines.count == 2 && lines[0].hasSuffix("TAGS") && lines[1].hasSuffix("arm,emmc,bench-1"), "\(table.stdout)")
        await lab.stop()
    }

    /// `reserve --tag` through the coordinator picks among every agent's
    /// boards, and never one whose agent is offline (labgrid #1477).
    @Test func reserveByTagAndItsQueueNeverTakeAnOfflineBoard() async throws {
        let lab = try await LabFixture()
        _ = try await lab.waitForBoards { $0.count == 2 && $0.allSatisfy { $0["online"] as? Bool == true } }
        lab.agents[0].signal(SIGKILL)
        _ = try await lab.waitForBoards(timeout: .seconds(30)) { rows in rows.first { $0["name"] as? String == "b1" }?["online"] as? Bool == false }
        let alice = try await lab.ssh("alice", "reserve", "--tag", "arm", "--for", "1h")
        #expect(alice.exitCode == 0 && alice.stdout == "b2\n", "b1 is offline: \(alice)")
        let bob = try await lab.ssh("bob", "reserve", "--tag", "arm")
        #expect(bob.exitCode == 1, "\(bob)")
        #expect(bob.stderr.hasPrefix("reserve: every board with the tags arm is taken; the first to be free is b2, held by alice until "),
                "\(bob.stderr)")
        let emmc = try await lab.ssh("bob", "reserve", "--tag", "emmc")
        #expect(emmc.exitCode == 1 && emmc.stderr == "reserve: no board with the tags emmc is online and unlocked (b1)\n", "\(emmc)")
        let reservations = try await lab.ssh("alice", "reservations")
        #expect(!reservations.stdout.contains("b1"), "\(reservations.stdout)")

        // bob waits for any arm board: b1 stays offline and is never his;
        // alice's release of b2 is. A waiter for emmc gets b1 as its agent
        // comes back.
        let waiter = try RunningProcess("ssh", lab.sshArguments(as: "bob") + ["reserve", "--tag", "arm", "--wait"])
        defer { waiter.signal(SIGKILL) }
        try await waiter.waitForLine(containing: "number 1 in the queue")
        try await Task.sleep(for: .seconds(2))
        #expect(waiter.isRunning, "\(waiter.stdout) \(waiter.stderr)")
        #expect(try await lab.ssh("alice", "release", "b2").exitCode == 0)
        #expect(await waiter.waitForExit(timeout: .seconds(5)) == 0 && waiter.stdout == "b2\n", "\(waiter.stdout) \(waiter.stderr)")
        let emmcWaiter = try RunningProcess("ssh", lab.sshArguments(as: "alice") + ["reserve", "--tag", "emmc", "--wait"])
        defer { emmcWaiter.signal(SIGKILL) }
        try await emmcWaiter.waitForLine(containing: "number 1 in the queue")
        let agent1 = try await lab.startAgent(1)
        #expect(await emmcWaiter.waitForExit(timeout: .seconds(10)) == 0 && emmcWaiter.stdout == "b1\n",
                "\(emmcWaiter.stdout) \(emmcWaiter.stderr)")
        await agent1.terminate()
        await lab.stop()
    }

    /// `events` through the coordinator: its own (reservations, agents
    /// going and coming) and every agent's (power), merged as they happen,
    /// and `--since` resumes without a gap or a duplicate.
    @Test func eventsMergeEveryAgentsWithTheCoordinatorsOwn() async throws {
        let lab = try await LabFixture()
        _ = try await lab.waitForBoards { $0.count == 2 && $0.allSatisfy { $0["online"] as? Bool == true } }
        func parse(_ text: String) -> [[String: Any]] {
            text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        }
        let follower = try RunningProcess("ssh", lab.sshArguments(as: "bob") + ["events", "--since", "0", "--follow", "--json"])
        defer { follower.signal(SIGKILL) }
        #expect(try await lab.ssh("alice", "reserve", "b1").exitCode == 0)
        _ = try await lab.waitForBoards { $0.first { $0["name"] as? String == "b1" }?["holder"] as? String == "alice" }
        #expect(try await lab.ssh("alice", "power", "b1", "on").exitCode == 0)
        #expect(await eventually { parse(follower.stdout).contains { $0["type"] as? String == "power" } }, "\(follower.stdout)")
        let followed = parse(follower.stdout).filter { ["reservation.start", "power"].contains($0["type"] as? String ?? "") }
        #expect(followed.map { $0["type"] as? String } == ["reservation.start", "power"], "\(follower.stdout)")
        #expect(followed.first?["agent"] is NSNull && followed.first?["user"] as? String == "alice", "the coordinator's own")
        #expect(followed.last?["agent"] as? String == "bench-1" && followed.last?["board"] as? String == "b1"
                && followed.last?["action"] as? String == "on", "bench-1's, merged: \(followed)")

        lab.agents[1].signal(SIGKILL)
        #expect(await eventually(timeout: .seconds(15)) {
            parse(follower.stdout).contains { $0["type"] as? String == "agent.offline" && $0["agent"] as? String == "bench-2" }
        }, "\(follower.stdout)")
        let again = try await lab.startAgent(2)
        // Back online: an agent.online after the agent.offline.
        #expect(await eventually(timeout: .seconds(15)) {
            let bench2 = parse(follower.stdout).filter { $0["agent"] as? String == "bench-2" }.compactMap { $0["type"] as? String }
            guard let offline = bench2.lastIndex(of: "agent.offline") else { return false }
            return bench2[offline...].contains("agent.online")
        }, "\(follower.stdout)")

        let lastSeen = try #require(parse(follower.stdout).compactMap { $0["id"] as? Int }.max())
        follower.signal(SIGKILL)
        _ = await follower.waitForExit(timeout: .seconds(5))
        #expect(try await lab.ssh("alice", "power", "b1", "off").exitCode == 0)
        var resumed: [[String: Any]] = []
        for _ in 0..<50 {
            resumed = parse(try await lab.ssh("bob", "events", "--since", "\(lastSeen)", "--json").stdout)
            if resumed.contains(where: { $0["type"] as? String == "power" }) { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(resumed.filter { $0["type"] as? String == "power" }.map { $0["action"] as? String } == ["off"], "\(resumed)")
        #expect(resumed.allSatisfy { ($0["id"] as? Int ?? 0) > lastSeen })
        await again.terminate()
        await lab.stop()
    }

    /// An agent whose data_dir lost its events (emptied, restored from an
    /// old backup) numbers them from 1 again: the coordinator notices the
    /// ids going back and merges its new events all the same.
    @Test func anAgentWhoseEventsBeganAnewIsStillMerged() async throws {
        let lab = try await LabFixture()
        _ = try await lab.waitForBoards { $0.count == 2 && $0.allSatisfy { $0["online"] as? Bool == true } }
        #expect(try await lab.ssh("alice", "reserve", "b1").exitCode == 0)
        _ = try await lab.waitForBoards { $0.first { $0["name"] as? String == "b1" }?["holder"] as? String == "alice" }
        for action in ["on", "off", "on"] { #expect(try await lab.ssh("alice", "power", "b1", action).exitCode == 0) }
        func powers() async throws -> [String] {
            try await lab.ssh("bob", "events", "--board", "b1", "--json").stdout.split(separator: "\n").compactMap {
                let event = try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
                return event?["type"] as? String == "power" ? event?["action"] as? String : nil
            }
        }
        #expect(await eventuallyAsync { try await powers() == ["on", "off", "on"] })
        await lab.agents[0].terminate()
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: lab.folder.path("agent1/data/events.sqlite" + suffix)) }
        let again = try await lab.startAgent(1)
        // Its boards are locked until the coordinator's next `hold`.
        #expect(await eventuallyAsync { try await lab.ssh("alice", "power", "b1", "off").exitCode == 0 })
        #expect(await eventuallyAsync { try await powers() == ["on", "off", "on", "off"] })
        #expect(await eventually { lab.coordinator.stderr.contains("its event ids began anew") }, "\(lab.coordinator.stderr.suffix(1000))")
        await again.terminate()
        await lab.stop()
    }

    /// `run` through the coordinator: routed to the board's agent, its
    /// output and the command's own exit status come back; holder only.
    @Test func runThroughTheCoordinatorPassesTheExitStatusOn() async throws {
        let lab = try await LabFixture()
        _ = try await lab.waitForBoards { $0.count == 2 && $0.allSatisfy { $0["online"] as? Bool == true } }
        // A shell on the board's end of bench-1's serial line, set up as a
        // console is (Enter is CR: icrnl).
        let board = lab.folder.path("agent1/tty-board")
        let shell = try RunningProcess("setsid", ["sh", "-c", "stty sane <'\(board)'; exec sh -i <'\(board)' >'\(board)' 2>&1"],
                                       environment: ["PS1": "# ", "PATH": "/usr/bin:/bin"])
        defer { shell.signal(SIGKILL) }
        #expect(try await lab.ssh("alice", "reserve", "b1").exitCode == 0)
        _ = try await lab.waitForBoards { $0.first { $0["name"] as? String == "b1" }?["holder"] as? String == "alice" }
        let off = try await lab.ssh("alice", "run", "b1", "--", "true")
        #expect(off.exitCode == 1 && off.stderr == "run: b1 is off\n", "\(off)")
        #expect(try await lab.ssh("alice", "power", "b1", "on").exitCode == 0)
        let result = try await lab.ssh("alice", "run", "b1", "--", "echo", "hi;", "exit", "5")
        #expect(result.exitCode == 5 && result.stdout == "hi\n", "\(result)")
        let bob = try await lab.ssh("bob", "run", "b1", "--", "true")
        #expect(bob.exitCode == 3, "\(bob)")
        await lab.stop()
    }

    /// The coordinator is killed (`kill -9`) in the middle of an upload it
    /// relays: the agent sees its connection go, and nothing of the upload
    /// is left on it, under its name or as a temp file; a coordinator
    /// started again relays the next upload whole.
    @Test func aCoordinatorKilledMidUploadLeavesNoPartialArtifactOnTheAgent() async throws {
        let lab = try await LabFixture()
        _ = try await lab.waitForBoards { $0.count == 2 }
        let command = "head -c 2000000000 /dev/zero | ssh " + lab.sshArguments(as: "bob").map { "'\($0)'" }.joined(separator: " ")
            + " upload b1 big.img"
        let upload = try RunningProcess("sh", ["-c", command])
        defer { upload.signal(SIGKILL) }
        let folder = lab.folder.path("agent1/data/users/bob")
        func names() -> [String] { (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] }
        #expect(await eventually(timeout: .seconds(20)) { names().contains { $0.hasPrefix(".upload-") } },
                "no upload under way: \(upload.stderr)\n\(lab.coordinator.stderr)")
        lab.coordinator.signal(SIGKILL)
        _ = await lab.coordinator.waitForExit(timeout: .seconds(10))
        #expect(await upload.waitForExit(timeout: .seconds(10)) != 0, "the upload was cut: \(upload.stderr)")
        #expect(await eventually(timeout: .seconds(10)) { names().isEmpty }, "left on the agent: \(names())\n\(lab.agents[0].stderr)")
        #expect(lab.agents[0].isRunning, "\(lab.agents[0].stderr)")

        let restarted = try RunningProcess(try Tools.coordinator(), ["serve", "--config", lab.folder.path("coordinator.yaml")])
        try await restarted.waitForLine(containing: "ssh: listening on", timeout: .seconds(20))
        _ = try await lab.waitForBoards { $0.count == 2 && $0.allSatisfy { $0["online"] as? Bool == true } }
        let contents = try lab.folder.createRandomFile("image.bin", size: 4 << 20)
        let again = try await lab.ssh("bob", "upload", "b1", "image.bin", stdinPath: lab.folder.path("image.bin"))
        #expect(again.exitCode == 0, "\(again)")
        #expect(names().filter { !$0.hasPrefix(".") } == ["image.bin"] && !names().contains { $0.hasPrefix(".upload-") }, "\(names())")
        #expect(FileManager.default.contents(atPath: folder + "/image.bin") == contents)
        await restarted.terminate()
        await lab.stop()
    }

    /// A power action starts the console's scrollback afresh: a console
    /// opened afterwards replays this power-up's output, not the last
    /// boot's (a tool that opens the console and then powers on would take
    /// the old prompt for the new one); `log` still has it all.
    @Test func aPowerActionStartsTheScrollbackAfresh() async throws {
        let lab = try await LabFixture()
        let board = try await lab.holdB1(as: "alice")
        defer { close(board) }
        let first = try await lab.console(as: "alice", board: board)
        _ = "last boot's prompt\r\n".withCString { write(board, $0, strlen($0)) }
        try await first.expect("last boot's prompt")
        first.send("\u{1D}.")
        try await first.expect("detached from b1")
        for action in ["off", "on"] {
            #expect(try await lab.ssh("alice", "power", "b1", action).exitCode == 0)
            let watcher = try ConsoleProcess("ssh", lab.sshArguments(as: "bob", login: "b1", terminal: true), terminal: true)
            try await watcher.expect("read-only")
            _ = "this boot after \(action)\r\n".withCString { write(board, $0, strlen($0)) }
            try await watcher.expect("this boot after \(action)")
            let seen = watcher.transcript
            #expect(!seen.contains("last boot's prompt") && !seen.contains("U-Boot 2023.01"), "replayed after power \(action): \(seen)")
            watcher.send("\u{1D}.")
            try await watcher.expect("detached from b1")
        }
        let log = try await lab.ssh("alice", "log", "b1")
        #expect(log.stdout.contains("last boot's prompt") && log.stdout.contains("U-Boot 2023.01"), "\(log)")
        await lab.stop()
    }

    @Test func boardAtLabOpensTheConsoleForTheHolderAndWatchersReadOnly() async throws {
        let lab = try await LabFixture()
        let board = try await lab.holdB1(as: "alice")
        defer { close(board) }

        let holder = try await lab.console(as: "alice", board: board)
        holder.send("version\r")
        let typed = try await LabFixture.typed(on: board, until: "version")
        #expect(typed.contains("version"), "the holder's typing did not reach the board: \(typed)")

        let watcher = try ConsoleProcess("ssh", lab.sshArguments(as: "bob", login: "b1", terminal: true), terminal: true)
        try await watcher.expect("watching read-only")
        try await watcher.expect("read-only")
        watcher.send("\u{1D}.")
        try await watcher.expect("detached from b1")
        holder.send("\u{1D}.")
        try await holder.expect("detached from b1")
        let audit = try await lab.ssh("alice", "audit")
        #expect(audit.stdout.contains("console-attach") && audit.stdout.contains("console-detach"), "\(audit)")
        await lab.stop()
    }
}
