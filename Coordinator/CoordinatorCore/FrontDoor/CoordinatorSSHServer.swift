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
public final class CoordinatorSSHServer: CommandFrontDoor {
    public let door: SSHFrontDoor
    public let shell: LabShell
    private let users: [CoordinatorConfig.User]
    private let logger: Logger

    /// Loads (or, on first start, generates) the host key and binds the port.
    public init(config: CoordinatorConfig, shell: LabShell, logger: Logger) throws {
        let ssh = config.coordinator.ssh
        // Stopping tells every session why; the boards are not touched.
        door = try SSHFrontDoor(listen: ssh.listen, hostKeyPath: ssh.hostKey, stopping: "the coordinator",
                                stopMessage: "the lab's coordinator is stopping (a restart or an upgrade): this session ends; "
                                    + "the boards are left as they are",
                                logger: logger)
        users = config.users
        self.shell = shell
        self.logger = logger
        if users.isEmpty { logger.warning("ssh: the config lists no users: nobody can log in") }
    }

    public func start() throws { try door.start(handler: self) }

    public func stop() { door.stop() }

    public var localAddress: SocketAddress { door.localAddress }
    public var hostKeyFingerprint: String { door.hostKeyFingerprint }

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

    /// `ssh -J lab root@BOARD`: a tunnel to the board's port through its
    /// agent, for the holder (LabShell.tunnel decides).
    public func tunnel(_ request: SSHTunnelRequest) -> (@Sendable (SSHChannelIO) -> Void)? {
        guard let user = user(for: request.key) else { return nil }
        return shell.tunnel(to: request.host, port: request.port, for: user.name, peer: request.peer)
    }

    /// `sftp lab` and `scp … lab:BOARD/`: the caller's artifact spaces.
    public func acceptsSubsystem(_ name: String) -> Bool { name == "sftp" }

    /// Runs one request to its end and returns its exit status.
    public func serve(_ request: SSHProgramRequest, io: SSHChannelIO) -> Int32 {
        guard let user = user(for: request.key) else {
            _ = io.writeError(Array("this key is not known to the lab\n".utf8)) as Bool
            return ExitStatus.notAllowed.rawValue
        }
        let session = ShellSession(streams: io, identity: ShellIdentity(user: user.name, admin: user.admin), loginName: request.user)
        if request.subsystem != nil {
            return door.run(session) {
                shell.sftp(SFTPSessionChannel(session, io: io), user: user.name, peer: request.peer)
                return ExitStatus.success.rawValue
            }
        }
        return door.run(session) { serve(request, as: user, session) }
    }

    private func serve(_ request: SSHProgramRequest, as user: CoordinatorConfig.User, _ session: ShellSession) -> Int32 {
        do throws(ShellError) {
            let words = try request.words()
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
