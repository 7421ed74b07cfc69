import Foundation
import Synchronization

/// `provisioner-agent serve` in a folder of its own, as a user meets it: an
/// ed25519 key per user (comment `NAME@test`, so the key names the user),
/// listed in `authorized_keys`, the SSH port on 127.0.0.1, and the boards a
/// test gives as YAML. Reached with the real OpenSSH client.
public final class ServedAgent: Sendable {
    public let folder: TemporaryDirectory
    public let port: UInt16
    public let process: RunningProcess

    /// Starts the agent and waits until its SSH port listens.
    /// - Parameters:
    ///   - boards: the `boards:` list, indented by two spaces (`  - name: …`);
    ///     relative paths are taken from `folder`, `data_dir` is `data`.
    ///   - users: a key is made for each, and listed in `authorized_keys`.
    ///   - settings: more lines of the `agent:` section (`on_stop: off`).
    ///   - dataSize: a tmpfs of this size (`8m`) as `data_dir`, mounted in a
    ///     mount namespace of the agent's own (root only): a small disk that
    ///     fills up. Its files are seen through `/proc/PID/root` (`dataPath`).
    public init(prefix: String = "served-agent", users: [String] = ["user"], settings: String = "", boards: String,
                dataSize: String? = nil) async throws {
        folder = try TemporaryDirectory(prefix: prefix)
        var authorized = ""
        for user in users {
            authorized += try await Self.makeKey(user, in: folder)
        }
        try folder.createFile("authorized_keys", text: authorized)
        port = try freeTCPPort()
        try folder.createFile("agent.yaml", text: Self.agentYAML(sshPort: port, settings: settings, boards: boards))
        self.dataSize = dataSize
        process = try await Self.serve(folder, dataSize: dataSize)
    }

    /// The size of the agent's tmpfs `data_dir`, when it has one.
    public let dataSize: String?

    /// Another agent on the same folder and config (after this one stopped
    /// or died), once its SSH port listens.
    /// (A tmpfs `data_dir` starts empty again.)
    public func startAgain() async throws -> RunningProcess {
        try await Self.serve(folder, dataSize: dataSize)
    }

    /// `provisioner-agent serve` on the `agent.yaml` in `folder`, once its SSH port listens.
    public static func serve(_ folder: TemporaryDirectory, dataSize: String? = nil) async throws -> RunningProcess {
        let process: RunningProcess
        if let dataSize {
            try FileManager.default.createDirectory(atPath: folder.path("data"), withIntermediateDirectories: true)
            // unshare makes the new namespace's mounts private: the tmpfs goes with the agent.
            let script = #"mount -t tmpfs -o size="$0",mode=0700 provisioner-test "$1" && exec "$2" serve --config "$3""#
            process = try RunningProcess("unshare", ["-m", "--", "sh", "-c", script, dataSize, folder.path("data"), try Tools.agent(),
                                                     folder.path("agent.yaml")])
        } else {
            process = try RunningProcess(try Tools.agent(), ["serve", "--config", folder.path("agent.yaml")])
        }
        try await process.waitForLine(containing: "ssh: listening on", timeout: .seconds(20))
        return process
    }

    /// The agent.yaml of a served agent: SSH on 127.0.0.1:`sshPort`, TFTP and
    /// HTTP on ports the kernel picks, `data_dir` data, and `boards`.
    public static func agentYAML(sshPort: UInt16, settings: String = "", boards: String) -> String {
        """
        agent:
          name: test
          data_dir: data
          ssh: { listen: "127.0.0.1:\(sshPort)", authorized_keys: authorized_keys }
          tftp: { listen: "127.0.0.1:0" }
          http: { listen: "127.0.0.1:0" }
        \(settings.isEmpty ? "" : "  " + settings)
        boards:
        \(boards)

        """
    }

    /// Makes a key for `user` that the agent does not know (to be refused).
    public func makeKey(_ user: String) async throws {
        _ = try await Self.makeKey(user, in: folder)
    }

    /// The path of a folder or file of the agent's `data_dir`.
    public func dataPath(_ relative: String) -> String {
        (dataSize == nil ? "" : "/proc/\(process.pid)/root") + folder.path("data/" + relative)
    }

    /// The ssh options and destination, for `user`'s key: `ssh` + these + a command.
    public func sshArguments(as user: String = "user", terminal: Bool = false) -> [String] {
        (terminal ? ["-tt", "-e", "none"] : [])
            + ["-p", "\(port)", "-i", folder.path(user), "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
               "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
               "127.0.0.1"]
    }

    /// Runs one command over SSH as `user` (`ssh -p PORT 127.0.0.1 COMMAND…`).
    public func ssh(as user: String = "user", _ command: String...) async throws -> ProcessResult {
        try await RunningProcess.run("ssh", sshArguments(as: user) + command, timeout: .seconds(30))
    }

    /// `ssh -tt … console BOARD [--ro]` on a pseudo-terminal, as a person types it.
    public func console(_ board: String, readOnly: Bool = false, as user: String = "user") throws -> ConsoleProcess {
        try ConsoleProcess("ssh", sshArguments(as: user, terminal: true) + ["console", board] + (readOnly ? ["--ro"] : []),
                           terminal: true)
    }

    /// SIGTERM, and the agent's exit status (nil when it did not end within 10 s).
    public func stop() async -> Int32? {
        process.signal(SIGTERM)
        return await process.waitForExit(timeout: .seconds(10))
    }

    private static func makeKey(_ user: String, in folder: TemporaryDirectory) async throws -> String {
        let made = try await RunningProcess.run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "\(user)@test",
                                                               "-f", folder.path(user)])
        guard made.exitCode == 0 else { throw TestSetupError("ssh-keygen failed: \(made)") }
        return try String(contentsOfFile: folder.path(user + ".pub"), encoding: .utf8)
    }
}

/// A TCP port nobody listens on right now, for a server a test starts.
///
/// Below the kernel's ephemeral range (32768–60999 here), so no client
/// connection of a parallel test takes it in the moment before the server
/// binds it, and never the same one twice in a test process.
public func freeTCPPort() throws -> UInt16 {
    for _ in 0..<200 {
        let port = UInt16.random(in: 20000...32000)
        guard handedOutPorts.withLock({ $0.insert(port).inserted }) else { continue }
        if isBindable(port) { return port }
    }
    throw TestSetupError("no free TCP port between 20000 and 32000")
}

private let handedOutPorts = Mutex<Set<UInt16>>([])

private func isBindable(_ port: UInt16) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = port.bigEndian
    return withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
}
