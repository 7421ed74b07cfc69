import AgentCore
import AgentShell
import Artifacts
import Boards
import Jobs
import LabMetrics
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
        let metrics = LabMetrics.shared
        tftp = try TFTPServer(listeningOn: settings.agent.tftp.listen, provider: spaces, logger: logger) { event in
            switch event {
            case .refused:
                metrics.count("provisioner_tftp_transfers_total", [("outcome", "refused")])
            case .finished(_, _, .completed(let bytes, _), let seconds, _, _):
                metrics.count("provisioner_tftp_transfers_total", [("outcome", "completed")])
                metrics.count("provisioner_tftp_sent_bytes_total", by: bytes)
                metrics.time("provisioner_tftp_transfer_seconds", seconds: seconds)
            case .finished(_, _, .abortedByClient, _, _, _):
                metrics.count("provisioner_tftp_transfers_total", [("outcome", "aborted")])
            case .finished(_, _, .failed, _, _, _):
                metrics.count("provisioner_tftp_transfers_total", [("outcome", "failed")])
            }
        }
        let jobAPI = JobAPI()
        let http = HTTPService {
            // Before anything is served: no upload of this run is under way.
            let removed = try ArtifactStore(dataDirectory: data).removeInterruptedUploads()
            if removed > 0 { logger.notice("artifacts: removed \(removed) uploads that the last run of the agent left unfinished") }
            return try ArtifactHTTPServer(listeningOn: settings.agent.http.listen, dataDirectory: data,
                                          quota: settings.agent.http.quota,
                                          routes: [(JobAPI.prefix, jobAPI), ("/metrics", MetricsHandler(metrics))],
                                          onRequestEnd: { metrics.countRequest($0, server: "artifacts") }, logger: logger)
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
        // What is read off at each scrape: the boards as `boards` shows them, their consoles.
        metrics.onScrape {
            metrics.set("provisioner_boards", to: Double(boards.count))
            for report in ssh.server?.shell.boardReports() ?? [] {
                let board = [("board", report.name)]
                metrics.set("provisioner_board_online", board, to: report.online ? 1 : 0)
                for state in ["on", "off", "unknown"] {
                    metrics.set("provisioner_board_power", board + [("state", state)], to: report.power == state ? 1 : 0)
                }
                metrics.set("provisioner_board_held", board, to: report.holder == nil ? 0 : 1)
            }
            for board in boards {
                let labels = [("board", board.name)]
                metrics.add(total: board.console.bytesRead, to: "provisioner_console_read_bytes_total", labels)
                metrics.add(total: board.console.bytesWritten, to: "provisioner_console_written_bytes_total", labels)
                metrics.set("provisioner_console_sessions", labels, to: Double(board.console.sessionCount))
            }
        }
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
