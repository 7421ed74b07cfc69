import Foundation
import ProvisionerTesting

/// A small lab as users meet it: two real `provisioner-agent serve`
/// processes on 127.0.0.1, each with one board whose serial port is a socat
/// pty pair and whose power switch is a file (`command` type), and the real
/// `provisioner-coordinator serve` in front of them, reached with OpenSSH.
/// Agent `bench-1` is pinned by its whole host key, `bench-2` by fingerprint.
final class LabFixture: Sendable {
    let folder: TemporaryDirectory
    let port: UInt16
    let agentPorts: [UInt16]
    let coordinator: RunningProcess
    /// A second coordinator on the same store (`coordinators: 2`) and its port.
    let coordinator2: RunningProcess?
    let port2: UInt16
    let agents: [RunningProcess]
    let socats: [RunningProcess]
    /// Users whose keys the coordinator knows; the first is an admin.
    let users: [String]

    /// `keyTypes`: a user's key type other than ed25519 (`rsa`, `ecdsa`).
    /// `agent2Pin`: pin bench-2 to this key instead of its own.
    /// `extraConfig` is appended to coordinator.yaml (e.g. a `calendar:` block).
    /// `virtualBoards`: each board is QEMU with Debian's arm64 U-Boot
    /// (TESTING.md's virtual board) instead of a socat pty.
    /// `healthInterval`: the coordinator's `health_interval`.
    /// `storeURL`: `coordinator.store.url` (a PostgreSQL); `coordinators: 2`
    /// starts a second coordinator on it (its own data_dir, port and client
    /// key; the agents list both keys), as docs/scale.md says.
    init(users: [String] = ["alice", "bob"], keyTypes: [String: String] = [:], agent2Pin: String? = nil,
         extraConfig: String = "", virtualBoards: Bool = false, healthInterval: String = "300ms",
         storeURL: String? = nil, coordinators: Int = 1) async throws {
        let folder = try TemporaryDirectory(prefix: "coordinator-lab")
        self.folder = folder
        self.users = users
        for user in users + ["stranger"] {
            try await Self.keygen(folder.path(user), comment: "\(user)@test", type: keyTypes[user] ?? "ed25519")
        }
        var agentPorts: [UInt16] = []
        var socats: [RunningProcess] = []
        var pins: [String] = []
        for index in 1...2 {
            let agent = "agent\(index)"
            try folder.createDirectory(agent)
            try await Self.keygen(folder.path("\(agent)/host_key"), comment: "")
            let publicKey = try String(contentsOfFile: folder.path("\(agent)/host_key.pub"), encoding: .utf8)
                .split(separator: " ").prefix(2).joined(separator: " ")
            if index == 1 {
                pins.append(publicKey)
            } else {
                let listed = try await RunningProcess.run("ssh-keygen", ["-lf", folder.path("\(agent)/host_key.pub")])
                pins.append(agent2Pin ?? String(listed.stdout.split(separator: " ")[1]))
            }
            try folder.createFile("\(agent)/coordinator_keys", text: "")
            if !virtualBoards {
                let socat = try RunningProcess("socat", ["-d", "pty,link=\(folder.path("\(agent)/tty")),rawer",
                                                         "pty,link=\(folder.path("\(agent)/tty-board")),rawer"])
                socats.append(socat)
            }
            let port = try freeTCPPort()
            agentPorts.append(port)
            let power = folder.path("\(agent)/power-on")
            let board = virtualBoards ? """
                    serial: { device: b\(index).console }
                    power: { type: qemu, arch: aarch64, firmware: \(Self.armUBoot), memory: 256M }
                """ : """
                    serial: { device: tty }
                    power: { type: command, on: "touch \(power)", off: "rm -f \(power)", status: "test -e \(power)",
                             cycle_delay: 100ms }
                """
            try folder.createFile("\(agent)/agent.yaml", text: """
                agent:
                  name: bench-\(index)
                  data_dir: data
                  ssh: { listen: "127.0.0.1:\(port)", host_key: host_key, coordinator_keys: coordinator_keys }
                  tftp: { listen: "127.0.0.1:0" }
                  http: { listen: "127.0.0.1:0" }
                boards:
                  - name: b\(index)
                \(board)
                    network: { board_ip: 127.0.0.1, server_ip: 127.0.0.1 }
                    tags: [\(index == 1 ? "arm, emmc" : "arm"), bench-\(index)]

                """)
        }
        self.socats = socats
        self.agentPorts = agentPorts
        port = try freeTCPPort()
        var userLines = ""
        for (index, user) in users.enumerated() {
            let key = try String(contentsOfFile: folder.path(user + ".pub"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            userLines += "  - { name: \(user), email: \(user)@example.com, admin: \(index == 0), keys: [\"\(key)\"] }\n"
        }
        port2 = try freeTCPPort()
        var clientKeys = ""
        for number in 1...coordinators {
            try folder.createFile(number == 1 ? "coordinator.yaml" : "coordinator\(number).yaml", text: """
                coordinator:
                  data_dir: coordinator\(number == 1 ? "" : "\(number)")
                  ssh: { listen: "127.0.0.1:\(number == 1 ? port : port2)" }
                  health_interval: \(healthInterval)
                \(storeURL.map { "  store: { url: \"\($0)\" }" } ?? "")
                users:
                \(userLines)agents:
                  - { name: bench-1, address: "127.0.0.1:\(agentPorts[0])", host_key: "\(pins[0])" }
                  - { name: bench-2, address: "127.0.0.1:\(agentPorts[1])", host_key: "\(pins[1])" }
                \(extraConfig)

                """)
            // Each coordinator makes its client key; each agent lists them all.
            let config = folder.path(number == 1 ? "coordinator.yaml" : "coordinator\(number).yaml")
            let clientKey = try await RunningProcess.run(try Tools.coordinator(), ["client-key", "--config", config])
            guard clientKey.exitCode == 0, clientKey.stdout.hasPrefix("ssh-ed25519 ") else { throw TestSetupError("client-key: \(clientKey)") }
            clientKeys += clientKey.stdout
        }
        for index in 1...2 {
            try folder.createFile("agent\(index)/coordinator_keys", text: clientKeys)
            for _ in 0..<200 where !virtualBoards && !FileManager.default.fileExists(atPath: folder.path("agent\(index)/tty")) {
                try await Task.sleep(for: .milliseconds(10))
            }
        }
        var agents: [RunningProcess] = []
        for index in 1...2 {
            let agent = try RunningProcess(try Tools.agent(), ["serve", "--config", folder.path("agent\(index)/agent.yaml")])
            try await agent.waitForLine(containing: "ssh: listening on", timeout: .seconds(20))
            agents.append(agent)
        }
        self.agents = agents
        coordinator = try RunningProcess(try Tools.coordinator(), ["serve", "--config", folder.path("coordinator.yaml")])
        try await coordinator.waitForLine(containing: "ssh: listening on", timeout: .seconds(20))
        if coordinators > 1 {
            let second = try RunningProcess(try Tools.coordinator(), ["serve", "--config", folder.path("coordinator2.yaml")])
            try await second.waitForLine(containing: "ssh: listening on", timeout: .seconds(20))
            coordinator2 = second
        } else {
            coordinator2 = nil
        }
    }

    /// The ssh options and destination for `user`'s key.
    func sshArguments(as user: String, login: String? = nil, terminal: Bool = false, via number: Int = 1) -> [String] {
        (terminal ? ["-tt", "-e", "none"] : [])
            + ["-p", "\(number == 1 ? port : port2)", "-i", folder.path(user), "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
               "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
               (login.map { "\($0)@" } ?? "") + "127.0.0.1"]
    }

    /// `ssh -W BOARD:PORT lab` as `user` (what `ssh -J lab BOARD` does):
    /// the tunnel's bytes are stdin and stdout.
    func tunnel(_ user: String, to target: String, stdinPath: String) async throws -> ProcessResult {
        try await RunningProcess.run("ssh", ["-W", target] + sshArguments(as: user), timeout: .seconds(30), stdinPath: stdinPath)
    }

    /// `ssh lab COMMAND…` as `user`.
    func ssh(_ user: String, _ command: String..., stdinPath: String? = nil) async throws -> ProcessResult {
        try await ssh(user, command, stdinPath: stdinPath)
    }

    func ssh(_ user: String, _ command: [String], stdinPath: String? = nil, via number: Int = 1) async throws -> ProcessResult {
        try await RunningProcess.run("ssh", sshArguments(as: user, via: number) + command, timeout: .seconds(30), stdinPath: stdinPath)
    }

    /// Waits until `boards --json` (as the first user) satisfies `condition`.
    func waitForBoards(timeout: Duration = .seconds(15), via number: Int = 1,
                       _ condition: ([[String: Any]]) -> Bool) async throws -> [[String: Any]] {
        let deadline = ContinuousClock.now + timeout
        var last: ProcessResult?
        while ContinuousClock.now < deadline {
            let result = try await ssh(users[0], ["boards", "--json"], via: number)
            last = result
            if result.exitCode == 0, let rows = try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]],
               condition(rows) {
                return rows
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw TestSetupError("boards --json never matched: \(last.map { "\($0)" } ?? "no answer")\n\(coordinator.stderr)")
    }

    /// Stops the coordinator (SIGTERM) and starts another on the same
    /// config and data folder; returns the new one (stop it when done).
    func restartCoordinator() async throws -> RunningProcess {
        await coordinator.terminate()
        let restarted = try RunningProcess(try Tools.coordinator(), ["serve", "--config", folder.path("coordinator.yaml")])
        try await restarted.waitForLine(containing: "ssh: listening on", timeout: .seconds(20))
        return restarted
    }

    /// Starts agent `index` (1 or 2) again on its config, after it stopped
    /// or was killed; returns it once it listens (stop it when done).
    func startAgent(_ index: Int) async throws -> RunningProcess {
        let agent = try RunningProcess(try Tools.agent(), ["serve", "--config", folder.path("agent\(index)/agent.yaml")])
        try await agent.waitForLine(containing: "ssh: listening on", timeout: .seconds(20))
        return agent
    }

    /// Debian's U-Boot for QEMU's arm64 virt machine (u-boot-qemu).
    static let armUBoot = "/usr/lib/u-boot/qemu_arm64/u-boot.bin"

    static var canRunVirtualBoards: Bool {
        Tools.isInstalled("qemu-system-aarch64") && FileManager.default.fileExists(atPath: armUBoot)
    }

    /// A test that failed half-way never called `stop`: its virtual boards
    /// (QEMU outlives the agent that started it) are killed here, by PID.
    deinit {
        for pid in processIDs(withArgument: folder.path) { kill(pid, SIGKILL) }
    }

    /// The board's side of agent `agent`'s socat pty: what is written there
    /// is the board printing; what is read there was typed to it.
    func boardSide(_ agent: Int = 1) -> Int32 {
        open(folder.path("agent\(agent)/tty-board"), O_RDWR | O_NOCTTY | O_NONBLOCK)
    }

    /// Once both boards are online, `user` reserves b1 for 30 minutes; b1's
    /// side of its pty (see `boardSide`), which the caller closes.
    func holdB1(as user: String) async throws -> Int32 {
        _ = try await waitForBoards { $0.count == 2 && $0.allSatisfy { $0["online"] as? Bool == true } }
        let reserved = try await ssh(user, "reserve", "b1", "--for", "30m")
        guard reserved.exitCode == 0 else { throw TestSetupError("reserve b1: \(reserved)") }
        let board = boardSide()
        guard board >= 0 else { throw TestSetupError("cannot open b1's side of the pty") }
        return board
    }

    /// What reached the board (`fd` from `boardSide`) until it holds `text`, or 10 s passed.
    static func typed(on fd: Int32, until text: String) async throws -> String {
        var typed = ""
        let deadline = ContinuousClock.now + .seconds(10)
        var buffer = [UInt8](repeating: 0, count: 256)
        while !typed.contains(text) && ContinuousClock.now < deadline {
            let count = read(fd, &buffer, buffer.count)
            if count > 0 { typed += String(decoding: buffer[..<count], as: UTF8.self) } else { try await Task.sleep(for: .milliseconds(20)) }
        }
        return typed
    }

    /// `ssh -tt b1@lab` as `user`, once the board (`board`, from
    /// `boardSide`) printed U-Boot's banner and it arrived.
    func console(as user: String, board: Int32) async throws -> ConsoleProcess {
        let console = try ConsoleProcess("ssh", sshArguments(as: user, login: "b1", terminal: true), terminal: true)
        try await console.expect("b1 console")
        _ = "U-Boot 2023.01\r\n=> ".withCString { write(board, $0, strlen($0)) }
        try await console.expect("U-Boot 2023.01")
        return console
    }

    func stop() async {
        await coordinator.terminate()
        if let coordinator2 { await coordinator2.terminate() }
        for agent in agents { await agent.terminate() }
        for socat in socats { await socat.terminate() }
        // A virtual board keeps running without its agent.
        for pid in processIDs(withArgument: folder.path) { kill(pid, SIGKILL) }
    }

    private static func keygen(_ path: String, comment: String, type: String = "ed25519") async throws {
        let size = type == "rsa" ? ["-b", "3072"] : type == "ecdsa" ? ["-b", "256"] : []
        let made = try await RunningProcess.run("ssh-keygen", ["-q", "-t", type] + size + ["-N", "", "-C", comment, "-f", path])
        guard made.exitCode == 0 else { throw TestSetupError("ssh-keygen failed: \(made)") }
    }
}
