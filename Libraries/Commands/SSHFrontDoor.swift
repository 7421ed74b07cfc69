#if canImport(Glibc)
import Glibc
#endif
import LabMetrics
import Logging
import SSH
import ShellSupport
import SystemSupport

/// What the agent's SSH port and the coordinator's share: the host key
/// (generated on first start), the listening socket, a thread per request,
/// libssh's log lines, and the stop that tells every live session why it
/// ends before the connections close. The two differ only in who a key is
/// and what a request runs (`CommandFrontDoor.serve`).
public final class SSHFrontDoor: Sendable {
    /// The bound address (the kernel's port when the config asked for 0).
    public let localAddress: SocketAddress
    /// The host key's `SHA256:…` fingerprint, for the other side's config.
    public let hostKeyFingerprint: String
    private let server: SSHServer
    private let live = LiveSessions()
    /// What the sessions are told when the server stops, and who stops.
    private let stopMessage: String
    private let stopping: String
    let logger: Logger

    /// Loads (or generates) the host key and binds `listen`; a taken port
    /// or an unreadable key fails here, with the reason.
    public init(listen: SocketAddress, hostKeyPath: String, stopping: String, stopMessage: String, logger: Logger) throws {
        let hostKey = try SSHHostKey.ensure(at: hostKeyPath)
        if hostKey.generated {
            logger.notice("ssh: generated the host key \(hostKeyPath) (\(hostKey.fingerprint))")
        }
        hostKeyFingerprint = hostKey.fingerprint
        server = try SSHServer(host: listen.host, port: listen.port, hostKeyPath: hostKeyPath)
        localAddress = listen.withPort(server.port)
        self.stopping = stopping
        self.stopMessage = stopMessage
        self.logger = logger
    }

    /// Accepts connections for `handler` on a thread of its own until `stop()`.
    public func start(handler: any SSHServerHandler) throws {
        logger.info("ssh: listening on \(localAddress), host key \(hostKeyFingerprint)")
        try server.start(handler: handler)
    }

    /// Stops listening and ends every connection: each live session is told
    /// why in one line (exit 1) and given up to 5 s to end (consoles detach,
    /// jobs are cancelled), then the connections close.
    public func stop() {
        let left = live.endAll(stopMessage, timeout: 5)
        if left > 0 { logger.warning("ssh: \(left) sessions had not ended 5 s after they were told \(stopping) stops") }
        // Their last line and exit status are still on the way out: the
        // clients close once they have them (up to 2 s), then the rest goes.
        let deadline = monotonicSeconds() + 2
        while server.connectionCount > 0 && monotonicSeconds() < deadline { usleep(20_000) }
        server.stop()
    }

    /// Connections being served.
    public var connectionCount: Int { server.connectionCount }

    /// Runs `body` with `session` counted as live (told when the server stops).
    public func run(_ session: ShellSession, _ body: () -> Int32) -> Int32 {
        live.run(session, body)
    }
}

/// An SSH port that runs the lab's commands: each shell or exec request on
/// a thread of its own (never Swift's cooperative pool), libssh's lines in
/// the server's log.
public protocol CommandFrontDoor: SSHServerHandler {
    var door: SSHFrontDoor { get }
    /// Runs one request to its end; its exit status.
    func serve(_ request: SSHProgramRequest, io: SSHChannelIO) -> Int32
}

extension CommandFrontDoor {
    public func start(_ request: SSHProgramRequest, io: SSHChannelIO) {
        let metrics = LabMetrics.shared
        metrics.count("provisioner_ssh_sessions_total")
        do {
            try startThread(named: "ssh-command") { [self] in
                metrics.adjust("provisioner_ssh_sessions_open", by: 1)
                defer { metrics.adjust("provisioner_ssh_sessions_open", by: -1) }
                io.exit(serve(request, io: io))
            }
        } catch {
            door.logger.warning("ssh: cannot run a command for \(request.peer): \(error)")
            io.exit(ExitStatus.failure.rawValue)
        }
    }

    /// A connection that never logged in is a refused login.
    public func connectionEnded(peer: String, authenticated: Bool) {
        if !authenticated { LabMetrics.shared.count("provisioner_ssh_refused_logins_total") }
    }

    public func log(_ level: SSHLogLevel, _ message: String) {
        switch level {
        case .debug: door.logger.debug("\(message)")
        case .info: door.logger.info("\(message)")
        case .warning: door.logger.warning("\(message)")
        }
    }
}

extension SSHProgramRequest {
    /// The exec request's command split into words as a shell would (none
    /// for a shell request); bad quoting is a usage error.
    public func words() throws(ShellError) -> [String] {
        do {
            return try command.map(ShellWords.split) ?? []
        } catch {
            throw .usage(error.message)
        }
    }
}
