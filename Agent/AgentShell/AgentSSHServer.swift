import AgentCore
import Artifacts
import Jobs
import Logging
import Reservations
import SFTP
import SSH
import ShellSupport
import Synchronization
import SystemSupport
import Web

/// The agent's SSH control port: listens on `ssh.listen`, lets in the keys
/// of `ssh.authorized_keys` and `ssh.coordinator_keys` (DESIGN.md "Who
/// acts"), and runs the agent's commands, exec or in the lab shell.
///
/// Threads: one accepts; each connection has one that alone calls libssh;
/// each shell or exec request runs its command on one more. None of them is
/// Swift's cooperative pool.
public final class AgentSSHServer: CommandFrontDoor {
    public let door: SSHFrontDoor
    public let shell: AgentShell
    private let keyring: AgentKeyring
    private let logger: Logger

    /// Loads (or, on first start, generates) the host key and binds the
    /// port; a taken port or an unreadable key fails here, with the reason.
    /// `artifacts`: the store the HTTP server uses (so quotas count both
    /// ways in); nil opens one on `data_dir`.
    /// `jobAPI`: the one the HTTP server routes `/api/v1/jobs/` to.
    public init(config: AgentConfig, boards: [any BoardHandle], artifacts: ShellArtifacts? = nil, jobAPI: JobAPI = JobAPI(),
                holders: BoardHolders = BoardHolders(clock: wallClock), logger: Logger) throws {
        let ssh = config.agent.ssh
        door = try SSHFrontDoor(listen: ssh.listen, hostKeyPath: ssh.hostKey, stopping: "the agent",
                                stopMessage: "the agent \(config.agent.name) is stopping (a restart or an upgrade): this session ends; "
                                    + (config.agent.onStop == .off ? "its boards are powered off (agent.on_stop: off)"
                                                                   : "the boards are left as they are"),
                                logger: logger)
        keyring = AgentKeyring(authorizedKeysFile: ssh.authorizedKeys, coordinatorKeysFile: ssh.coordinatorKeys, logger: logger)
        let store = try artifacts?.store ?? ArtifactStore(dataDirectory: config.agent.dataDirectory, quota: config.agent.http.quota)
        let space = try artifacts ?? ShellArtifacts(store: store, tokens: TokenStore(directory: store.tokensDirectory),
                                                    publicURL: config.agent.http.publicURL)
        // Without a coordinator, the agent keeps its own reservations; with
        // one, its boards are locked until it says who holds each.
        let events = try EventLog(path: config.agent.dataDirectory + "/events.sqlite", origin: config.agent.name, logger: logger)
        let reservations = ssh.coordinatorKeys == nil
            ? try LocalReservations(path: config.agent.dataDirectory + "/reservations.sqlite", holders: holders, events: events,
                                    logger: logger) : nil
        if ssh.coordinatorKeys != nil {
            for board in boards {
                holders.lock(board.config.name, reason: "waiting for the coordinator to say who holds it (the agent started)")
            }
        }
        let history = JobHistory(folder: config.agent.dataDirectory + "/jobs")
        for board in history.recoverInterrupted() {
            logger.warning("jobs: a job on \(board) was running when the agent stopped: recorded as interrupted")
        }
        shell = AgentShell(agentName: config.agent.name, boards: boards, artifacts: space, jobAPI: jobAPI,
                           history: history, holders: holders,
                           reservations: reservations, events: events,
                           web: config.web.map { (WebAccess(store: reservations?.service.store.engine), $0.publicURL) }, logger: logger)
        self.logger = logger
        if ssh.authorizedKeys == nil && ssh.coordinatorKeys == nil {
            logger.warning("ssh: neither ssh.authorized_keys nor ssh.coordinator_keys is set: nobody can log in")
        }
    }

    /// Accepts connections on a thread of its own until `stop()`.
    public func start() throws {
        try door.start(handler: self)
        try shell.startReservationWatch()
    }

    /// Stops listening and ends every connection: each session is told
    /// why in one line (exit 1) and given a moment to end (consoles
    /// detach, jobs are cancelled), then the connections close.
    public func stop() {
        shell.stopReservationWatch()
        door.stop()
    }

    public var localAddress: SocketAddress { door.localAddress }
    public var hostKeyFingerprint: String { door.hostKeyFingerprint }
    /// Connections being served.
    public var connectionCount: Int { door.connectionCount }

    // MARK: SSHServerHandler

    public func authenticate(user: String, key: SSHPublicKey, peer: String) -> Bool {
        keyring.role(of: key) != nil
    }

    /// `ssh -J agent root@BOARD` (or `-W BOARD:PORT`): a tunnel to the
    /// board's TCP port, named by board name or `board_ip`, for a person's
    /// key while nobody else holds the board. A coordinator's key cannot say
    /// for whom it opens a tunnel: it runs `connect` instead.
    public func tunnel(_ request: SSHTunnelRequest) -> (@Sendable (SSHChannelIO) -> Void)? {
        guard case .person(let user) = keyring.role(of: request.key) else {
            logger.info("ssh: refused a tunnel to \(request.host):\(request.port) from \(request.peer): not a person's key")
            return nil
        }
        guard let board = shell.boards.first(where: { $0.config.name == request.host || $0.config.network?.boardIP == request.host }) else {
            logger.info("ssh: refused \(user)'s tunnel to \(request.host):\(request.port): no such board here")
            return nil
        }
        // Reached before the channel opens, so a board that is not there
        // gets OpenSSH's "open failed" rather than a tunnel that closes at once.
        let connection: TCPConnection
        do throws(ShellError) {
            _ = try shell.decide(ConnectCommand(board: board.config.name, port: request.port), ShellIdentity(user: user))
            connection = try shell.openConnection(to: board, port: request.port, for: "tunnel")
        } catch {
            logger.info("ssh: refused \(user)'s tunnel to \(request.host):\(request.port): \(error.message)")
            return nil
        }
        let name = board.config.name
        logger.info("ssh: \(user) tunnels to \(name) port \(request.port) (\(connection.peer))")
        return { [shell, logger] io in
            do {
                try startThread(named: "ssh-tunnel") {
                    // Closed at the reservation's end, or when someone else comes to hold the board.
                    shell.guarding(name, user: user, grant: .granted, cutsOnChange: true, warn: { _ in }, cut: { why in
                        logger.info("ssh: \(user)'s tunnel to \(name) port \(request.port) closed: \(why)")
                        connection.shutDown()
                    }) { AgentShell.carry(io, connection) }
                    io.exit(0)
                }
            } catch {
                io.exit(0)
            }
        }
    }

    /// `sftp` (and `scp`, which speaks it): the caller's artifact space.
    public func acceptsSubsystem(_ name: String) -> Bool { name == "sftp" && shell.artifacts != nil }

    /// Runs one request to its end and returns its exit status.
    public func serve(_ request: SSHProgramRequest, io: SSHChannelIO) -> Int32 {
        let errorSession = ShellSession(streams: io, identity: ShellIdentity(user: "?"))
        guard let role = keyring.role(of: request.key) else {
            // The key was removed from the files since it logged in.
            errorSession.printError("this key is no longer allowed on this agent")
            return ExitStatus.notAllowed.rawValue
        }
        do throws(ShellError) {
            if request.subsystem != nil { return try serveSFTP(request, role: role, io: io) }
            let words = try request.words()
            let (identity, command) = try ShellIdentity.resolve(role: role, environment: request.environment, words: words)
            let session = ShellSession(streams: io, identity: identity, loginName: request.user)
            return door.run(session) { serve(command, request, session) }
        } catch {
            errorSession.printError(error.message)
            return error.status.rawValue
        }
    }

    /// An SFTP session in the caller's space (a coordinator names the
    /// caller with PROVISIONER_USER): `/BOARD/…` for each board here.
    private func serveSFTP(_ request: SSHProgramRequest, role: AgentKeyring.Role, io: SSHChannelIO) throws(ShellError) -> Int32 {
        let (identity, _) = try ShellIdentity.resolve(role: role, environment: request.environment, words: [])
        guard let artifacts = shell.artifacts else { throw .failure("sftp: this agent keeps no artifacts") }
        guard ArtifactRoute.isValidUserName(identity.user) else { throw .failure("sftp: '\(identity.user)' has no artifact space") }
        let via = identity.coordinator.map { " via coordinator \($0)" } ?? ""
        logger.info("ssh: \(identity.user)\(via) from \(request.peer) opens sftp")
        let session = ShellSession(streams: io, identity: identity, loginName: request.user)
        let channel = SFTPSessionChannel(session, io: io)
        return door.run(session) {
            SFTPServer.serve(channel, ArtifactSFTP(store: artifacts.store, user: identity.user, boards: shell.boards.map(\.config.name),
                                                   logger: logger, via: identity.coordinator, complain: channel.tell))
            return ExitStatus.success.rawValue
        }
    }

    private func serve(_ command: [String], _ request: SSHProgramRequest, _ session: ShellSession) -> Int32 {
        let identity = session.identity
        do throws(ShellError) {
            let via = identity.coordinator.map { " via coordinator \($0)" } ?? ""
            let what = request.command == nil ? "the shell" : "'\(command.joined(separator: " "))'"
            logger.info("ssh: \(identity.user)\(via) from \(request.peer) runs \(what)")
            if !command.isEmpty { return shell.execute(command, in: session) }
            if request.command == nil, let board = shell.boards.first(where: { $0.config.name == request.user }) {
                // `ssh board1@agent`: that board's console.
                guard session.isTerminal else {
                    session.printError("console: needs a terminal: use ssh -t")
                    return ExitStatus.usage.rawValue
                }
                return shell.execute(["console", board.config.name], in: session)
            }
            if request.command != nil {
                // `ssh agent ''` or only `--as USER`: nothing to run.
                throw ShellError.usage("no command given (try 'help')")
            }
            return shell.interactive(session)
        } catch {
            session.printError(error.message)
            return error.status.rawValue
        }
    }
}
