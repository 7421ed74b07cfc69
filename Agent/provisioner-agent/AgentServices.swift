import AgentCore
import AgentShell
import Artifacts
import Boards
import Jobs
import Logging
import Synchronization
import SystemSupport
import TFTP
import Web

/// The running parts of the agent, in the order `serve` starts them: each
/// board's console, TFTP, the HTTP artifact server and the SSH port. They
/// stop in reverse.
struct AgentServices: Sendable {
    let boards: [Board]
    let tftp: TFTPServer
    let http: HTTPService
    let ssh: SSHService
    /// A lone agent's web page (`web:` in agent.yaml), made once SSH (its shell) started.
    let web: ClosureService?
    let onStop: AgentConfig.StopPolicy

    /// Makes the boards and binds TFTP (no thread starts yet); HTTP and SSH
    /// are made as they start.
    init(_ settings: AgentConfig, logger: Logger) throws {
        let data = settings.agent.dataDirectory
        onStop = settings.agent.onStop
        boards = try Board.boards(of: settings, logger: logger)
        var prefixes = ["shared": data + "/shared"]
        for board in settings.boards { prefixes[board.name] = data + "/staging/" + board.name }
        // A request from a board's own address: its holder's artifact space.
        let holders = BoardHolders(clock: wallClock)
        let boardIPs = Dictionary(settings.boards.compactMap { board in board.network.map { ($0.boardIP, board.name) } },
                                  uniquingKeysWith: { first, _ in first })
        let spaces = TFTPSpaces(prefixes: prefixes) { client in
            guard let board = boardIPs[client.host], let holding = holders.holding(of: board) else { return nil }
            return data + "/users/" + holding.user
        }
        tftp = try TFTPServer(listeningOn: settings.agent.tftp.listen, provider: spaces, logger: logger)
        let jobAPI = JobAPI()
        let http = HTTPService {
            // Before anything is served: no upload of this run is under way.
            let removed = try ArtifactStore(dataDirectory: data).removeInterruptedUploads()
            if removed > 0 { logger.notice("artifacts: removed \(removed) uploads that the last run of the agent left unfinished") }
            return try ArtifactHTTPServer(listeningOn: settings.agent.http.listen, dataDirectory: data,
                                          quota: settings.agent.http.quota, routes: [(JobAPI.prefix, jobAPI)], logger: logger)
        }
        self.http = http
        let boards = boards
        // A virtual board's QEMU outlives the agent, and so does the thread
        // that waits for it, started by the command that powered it on.
        ssh = SSHService(lingeringThreads: Set(boards.map { "qemu-" + $0.name })) {
            guard let server = http.server else { preconditionFailure("ssh starts after http") }
            let artifacts = ShellArtifacts(store: server.store, tokens: server.tokens, publicURL: settings.agent.http.publicURL)
            return try AgentSSHServer(config: settings, boards: boards, artifacts: artifacts, jobAPI: jobAPI, holders: holders,
                                      logger: logger)
        }
        let ssh = self.ssh
        let page = Mutex<WebService?>(nil)
        web = settings.web.map { web in
            ClosureService(name: "web", start: {
                guard let shell = ssh.server?.shell, let access = shell.web?.access else { preconditionFailure("web starts after ssh") }
                let server = WebServer(access: access, publicURL: web.publicURL, boards: { _ in shell.boardReports() },
                                       execute: { words, session in shell.execute(words, in: session) }, events: shell.events,
                                       log: { logger.notice("\($0)") })
                let service = WebService(server: server, listen: web.listen,
                                         tls: web.tlsCertificate.flatMap { certificate in web.tlsKey.map { (certificate, $0) } },
                                         log: { logger.info("\($0)") })
                try service.start()
                page.withLock { $0 = service }
            }, stop: { page.withLock { $0?.stop(); $0 = nil } })
        }
    }

    var all: [any Service] {
        // A virtual board taken over at start is watched by a thread that
        // outlives the agent as its QEMU does.
        boards.map { [onStop] board in
            ClosureService(name: "console \(board.name)", lingeringThreads: ["qemu-" + board.name],
                           start: { try board.start() }, stop: { board.stop(poweringOff: onStop == .off) })
        } + [ClosureService(name: "tftp", start: { [tftp] in try tftp.start() }, stop: { [tftp] in tftp.stop() }), http, ssh]
            + (web.map { [$0] } ?? [])
    }
}

/// The HTTP artifact server. libmicrohttpd serves from the moment the
/// server is made, so it is made in `start`, in its turn.
final class HTTPService: Service {
    let name = "http"
    private let make: @Sendable () throws -> ArtifactHTTPServer
    private let made = Mutex<ArtifactHTTPServer?>(nil)

    init(_ make: @escaping @Sendable () throws -> ArtifactHTTPServer) {
        self.make = make
    }

    /// The server, once started.
    var server: ArtifactHTTPServer? { made.withLock { $0 } }

    func start() throws {
        let server = try make()
        made.withLock { $0 = server }
    }

    /// Returns once libmicrohttpd's threads ended (MHD_stop_daemon joins them).
    func stop() { server?.stop() }
}

/// The SSH port, made as it starts: its commands share the HTTP server's
/// store and tokens.
final class SSHService: Service {
    let name = "ssh"
    let lingeringThreads: Set<String>
    private let make: @Sendable () throws -> AgentSSHServer
    private let made = Mutex<AgentSSHServer?>(nil)

    init(lingeringThreads: Set<String>, _ make: @escaping @Sendable () throws -> AgentSSHServer) {
        self.lingeringThreads = lingeringThreads
        self.make = make
    }

    /// The server, once started.
    var server: AgentSSHServer? { made.withLock { $0 } }

    func start() throws {
        let server = try make()
        made.withLock { $0 = server }
        try server.start()
    }

    func stop() { server?.stop() }
}
