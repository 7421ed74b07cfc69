import Commands
import Logging
import SSH
import ShellSupport
import Synchronization
import SystemSupport

/// The lab's SSH front door: listens on `ssh.listen`, knows people by their
/// keys (`users[].keys`; any other key is refused at authentication), and
/// reads the SSH user name as a target (DESIGN.md "Data flow"):
/// `ssh BOARD@lab` opens that board's console, `ssh lab` the lab shell,
/// `ssh lab COMMAND…` runs one command.
///
/// Threads, as the agent's SSH port: one accepts; each connection has one
/// that alone calls libssh; each request runs on one more (and a routed
/// command adds the agent session's and an input thread).
public final class CoordinatorSSHServer: SSHServerHandler {
    public let localAddress: SocketAddress
    public let hostKeyFingerprint: String
    public let shell: LabShell
    private let users: [CoordinatorConfig.User]
    private let server: SSHServer
    private let logger: Logger
    private let live = LiveSessions()

    /// Loads (or, on first start, generates) the host key and binds the port.
    public init(config: CoordinatorConfig, shell: LabShell, logger: Logger) throws {
        let ssh = config.coordinator.ssh
        let hostKey = try SSHHostKey.ensure(at: ssh.hostKey)
        if hostKey.generated {
            logger.notice("ssh: generated the host key \(ssh.hostKey) (\(hostKey.fingerprint))")
        }
        hostKeyFingerprint = hostKey.fingerprint
        server = try SSHServer(host: ssh.listen.host, port: ssh.listen.port, hostKeyPath: ssh.hostKey)
        localAddress = ssh.listen.withPort(server.port)
        users = config.users
        self.shell = shell
        self.logger = logger
        if users.isEmpty { logger.warning("ssh: the config lists no users: nobody can log in") }
    }

    public func start() throws {
        logger.info("ssh: listening on \(localAddress), host key \(hostKeyFingerprint)")
        try server.start(handler: self)
    }

    /// Stops listening and ends every connection: each session is told
    /// why in one line (exit 1) and given a moment to end, then the
    /// connections close. The boards are not touched.
    public func stop() {
        let left = live.endAll("the lab's coordinator is stopping (a restart or an upgrade): this session ends; "
                               + "the boards are left as they are", timeout: 5)
        if left > 0 { logger.warning("ssh: \(left) sessions had not ended 5 s after they were told the coordinator stops") }
        server.stop()
    }

    /// The user whose `keys` list `key`.
    func user(for key: SSHPublicKey) -> CoordinatorConfig.User? {
        users.first { $0.keys.contains { $0.matches(key) } }
    }

    // MARK: SSHServerHandler

    public func authenticate(user: String, key: SSHPublicKey, peer: String) -> Bool {
        guard self.user(for: key) != nil else {
            logger.info("ssh: refused key \(key.type) \(key.fingerprint) from \(peer)")
            return false
        }
        return true
    }

    public func start(_ request: SSHProgramRequest, io: SSHChannelIO) {
        do {
            try startThread(named: "ssh-command") { [self] in
                io.exit(serve(request, io: io))
            }
        } catch {
            logger.warning("ssh: cannot run a command for \(request.peer): \(error)")
            io.exit(ExitStatus.failure.rawValue)
        }
    }

    /// `ssh -J lab root@BOARD`: a tunnel to the board's port through its
    /// agent, for the holder (LabShell.tunnel decides).
    public func tunnel(_ request: SSHTunnelRequest) -> (@Sendable (SSHChannelIO) -> Void)? {
        guard let user = user(for: request.key) else { return nil }
        return shell.tunnel(to: request.host, port: request.port, for: user.name, peer: request.peer)
    }

    public func log(_ level: SSHLogLevel, _ message: String) {
        switch level {
        case .debug: logger.debug("\(message)")
        case .info: logger.info("\(message)")
        case .warning: logger.warning("\(message)")
        }
    }

    /// Runs one request to its end and returns its exit status.
    func serve(_ request: SSHProgramRequest, io: SSHChannelIO) -> Int32 {
        guard let user = user(for: request.key) else {
            _ = io.writeError(Array("this key is not known to the lab\n".utf8)) as Bool
            return ExitStatus.notAllowed.rawValue
        }
        let session = ShellSession(streams: io, identity: ShellIdentity(user: user.name, admin: user.admin), loginName: request.user)
        return live.run(session) { serve(request, as: user, session) }
    }

    private func serve(_ request: SSHProgramRequest, as user: CoordinatorConfig.User, _ session: ShellSession) -> Int32 {
        do throws(ShellError) {
            let words: [String]
            do {
                words = try request.command.map(ShellWords.split) ?? []
            } catch {
                throw ShellError.usage(error.message)
            }
            let what = request.command == nil ? "the shell" : "'\(words.joined(separator: " "))'"
            logger.info("ssh: \(user.name) from \(request.peer) as \(request.user) runs \(what)")
            if !words.isEmpty { return shell.execute(words, in: session) }
            if request.command != nil { throw .usage("no command given (try 'help')") }
            if shell.registry.board(request.user) != nil {
                // `ssh board1@lab`: that board's console.
                return shell.execute(["console", request.user], in: session)
            }
            return shell.interactive(session)
        } catch {
            session.printError(error.message)
            return error.status.rawValue
        }
    }
}
