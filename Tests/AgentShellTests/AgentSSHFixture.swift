import AgentCore
import AgentShell
import Foundation
import Logging
import ProvisionerCore
import ProvisionerTesting
import SystemSupport

/// Key pairs made once with ssh-keygen for every test of this target.
struct TestKeys: Sendable {
    let folder: String
    /// Private key paths.
    let alice: String   // ed25519, comment alice@laptop: a person
    let bob: String     // ecdsa, comment "Bob Smith": a person
    let carol: String   // rsa, comment carol: a person
    let coordinator: String  // ed25519 in coordinator_keys
    let stranger: String     // listed nowhere

    static let shared: Result<TestKeys, any Error> = Result { try TestKeys() }

    static func get() throws -> TestKeys { try shared.get() }

    private init() throws {
        // Kept for the whole test run (one per test process).
        folder = NSTemporaryDirectory() + "/agent-shell-keys-\(getpid())"
        try? FileManager.default.removeItem(atPath: folder)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let folder = self.folder
        func make(_ name: String, _ type: String, _ comment: String) throws -> String {
            let path = "\(folder)/\(name)"
            let size = type == "rsa" ? ["-b", "2048"] : type == "ecdsa" ? ["-b", "256"] : []
            let process = Process()
            process.executableURL = URL(fileURLWithPath: try Tools.resolve("ssh-keygen"))
            process.arguments = ["-q", "-t", type] + size + ["-N", "", "-C", comment, "-f", path]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw TestSetupError("ssh-keygen -t \(type) failed") }
            return path
        }
        alice = try make("alice", "ed25519", "alice@laptop")
        bob = try make("bob", "ecdsa", "Bob Smith")
        carol = try make("carol", "rsa", "carol")
        coordinator = try make("coordinator", "ed25519", "coordinator@lab")
        stranger = try make("stranger", "ed25519", "stranger")
    }

    static func publicLine(_ privateKey: String) throws -> String {
        try String(contentsOfFile: privateKey + ".pub", encoding: .utf8)
    }
}

/// An in-process AgentSSHServer on 127.0.0.1:0 with fake boards, and the
/// real OpenSSH client pointed at it.
final class AgentSSHFixture: Sendable {
    let keys: TestKeys
    let boards: [FakeBoard]
    let server: AgentSSHServer
    let directory: TemporaryDirectory

    var port: UInt16 { server.localAddress.port }
    var board1: FakeBoard { boards[0] }

    /// `agentYAML`: more keys of the `agent:` block, e.g. `http: { quota: 1M }`.
    /// `boardIP`: board1's network.board_ip (for tunnels).
    /// `coordinator`: false leaves out ssh.coordinator_keys (a lone agent,
    /// which keeps its own reservations). A coordinator's agent starts with
    /// its boards locked; `locked`: false frees them, as the coordinator's
    /// first `hold BOARD --none` does.
    init(boardNames: [String] = ["board1", "board2"], boardIP: String? = nil, scrollback: String = "", agentYAML: String = "",
         coordinator: Bool = true, locked: Bool = false) throws {
        keys = try TestKeys.get()
        directory = try TemporaryDirectory(prefix: "agent-shell")
        let people = try [keys.alice, keys.bob, keys.carol].map(TestKeys.publicLine).joined()
        try people.write(toFile: directory.path("authorized_keys"), atomically: true, encoding: .utf8)
        try TestKeys.publicLine(keys.coordinator).write(toFile: directory.path("coordinator_keys"), atomically: true, encoding: .utf8)
        let coordinatorKeys = coordinator ? ",\n         coordinator_keys: \(directory.path("coordinator_keys"))" : ""
        let yaml = """
            agent:
              name: bench-test
              data_dir: \(directory.path)
              ssh: { listen: "127.0.0.1:0", host_key: \(directory.path("host_key")),
                     authorized_keys: \(directory.path("authorized_keys"))\(coordinatorKeys) }
              \(agentYAML)
            """
        let config = try AgentConfig(text: yaml, file: directory.path("agent.yaml"))
        boards = try boardNames.enumerated().map { index, name in
            try FakeBoard(name: name, boardIP: index == 0 ? boardIP : nil, scrollback: Array(scrollback.utf8))
        }
        var logger = Logger(label: "agent-shell-test") { StderrLogHandler(label: $0, level: .warning) }
        logger.logLevel = .warning
        let holders = BoardHolders(clock: wallClock)
        server = try AgentSSHServer(config: config, boards: boards, holders: holders, logger: logger)
        if coordinator && !locked {
            for board in boardNames { holders.set(board, to: nil) }
        }
        try server.start()
    }

    deinit { server.stop() }

    /// The OpenSSH client's arguments for `key`, then `arguments` (options,
    /// then the command words).
    func sshArguments(key: String, options: [String] = [], user: String? = nil, _ command: [String]) -> [String] {
        ["-F", "/dev/null", "-p", "\(port)", "-i", key,
         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
         "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10"]
            + options + ["--", "\(user.map { $0 + "@" } ?? "")127.0.0.1"] + command
    }

    /// Runs `ssh … COMMAND` to its end.
    func ssh(key: String? = nil, options: [String] = [], user: String? = nil, stdinPath: String? = nil,
             _ command: String...) async throws -> ProcessResult {
        try await ssh(key: key, options: options, user: user, stdinPath: stdinPath, command)
    }

    func ssh(key: String? = nil, options: [String] = [], user: String? = nil, stdinPath: String? = nil,
             _ command: [String]) async throws -> ProcessResult {
        try await RunningProcess.run("ssh", sshArguments(key: key ?? keys.alice, options: options, user: user, command),
                                     timeout: .seconds(30), stdinPath: stdinPath)
    }

    /// Starts `ssh -tt … COMMAND` with its stdin on a pipe.
    func terminal(key: String? = nil, user: String? = nil, _ command: String...) throws -> TerminalClient {
        try TerminalClient(sshArguments(key: key ?? keys.alice, options: ["-tt"], user: user, command))
    }
}
