import Logging
import SSH
import ShellSupport
import SystemSupport

/// How the coordinator reaches one agent: its SSH port, its pinned host key
/// and the coordinator's client key (DESIGN.md "Data flow"). Each request is
/// its own SSH connection, naming the acting user with `--as USER`.
public final class AgentLink: Sendable {
    public let agent: CoordinatorConfig.Agent
    let identity: SSHPrivateKey
    /// Seconds to connect and log in.
    let timeout: Double

    public init(agent: CoordinatorConfig.Agent, identity: SSHPrivateKey, timeout: Double = 5) {
        self.agent = agent
        self.identity = identity
        self.timeout = timeout
    }

    public var name: String { agent.name }

    /// The command line the agent runs: `--as USER` then the words, quoted
    /// for the agent's word splitting.
    static func commandLine(_ words: [String], as user: String?) -> String {
        ((user.map { ["--as", $0] } ?? []) + words).map(ShellWords.quote).joined(separator: " ")
    }

    /// Starts `words` on the agent and a thread that moves its bytes; the
    /// caller reads and writes through the returned session.
    public func open(_ words: [String], as user: String?, terminal: SSHTerminal? = nil) throws -> SSHClientSession {
        try started(SSHClientSession(options, command: Self.commandLine(words, as: user), terminal: terminal))
    }

    /// Opens the agent's SFTP subsystem as `user` (named with
    /// PROVISIONER_USER, as a subsystem has no words) and a thread that
    /// moves its bytes.
    public func openSFTP(as user: String) throws -> SSHClientSession {
        try started(SSHClientSession(options, command: "", subsystem: "sftp", environment: ["PROVISIONER_USER": user]))
    }

    private var options: SSHClientOptions {
        SSHClientOptions(host: agent.host, port: agent.port, user: "provisioner", identity: identity,
                         hostKey: agent.hostKey, timeout: timeout, ciphers: SSHCiphers.agentLink)
    }

    private func started(_ session: SSHClientSession) throws -> SSHClientSession {
        do {
            try startThread(named: "agent-\(agent.name)") { session.run() }
        } catch {
            session.hangUp()
            throw error
        }
        return session
    }

    /// Runs a short command with no input; its status (nil: the connection
    /// broke or `limit` seconds passed), stdout and stderr.
    public func run(_ words: [String], as user: String?, limit: Double) throws -> (status: Int32?, stdout: [UInt8], stderr: [UInt8]) {
        let session = try open(words, as: user)
        return session.collect(timeout: limit)
    }
}
