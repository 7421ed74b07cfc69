import AgentCore
import AgentShell
import ArgumentParser
import Artifacts
import Boards
import Foundation
import Jobs
import Logging
import ProvisionerCore
import SystemSupport
import TFTP

/// The agent daemon: every board's console and power, TFTP, the HTTP
/// artifact server and the SSH port, from one agent.yaml, until SIGTERM.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the agent: consoles, power, TFTP, HTTP artifacts and the SSH port of agent.yaml.")

    @Option(help: "The agent's config file.")
    var config: String = "/etc/provisioner/agent.yaml"

    @OptionGroup var log: LogOptions

    func run() throws {
        let settings = try AgentConfig(file: config)
        try settings.checkKeyFiles()
        log.bootstrap()
        let logger = Logger(label: "provisioner-agent")

        // Every thread started from here on inherits this mask, so the
        // signals arrive only where `sigwait` below takes them.
        var stopSignals = sigset_t()
        sigemptyset(&stopSignals)
        for signal in [SIGTERM, SIGINT, SIGHUP] { sigaddset(&stopSignals, signal) }
        pthread_sigmask(SIG_BLOCK, &stopSignals, nil)

        let dataDirectory = settings.agent.dataDirectory
        let services: Services
        do {
            for folder in ["", "/shared", "/staging", "/logs", "/run"] {
                try FileManager.default.createDirectory(atPath: dataDirectory + folder, withIntermediateDirectories: true)
            }
            services = try Services(settings, logger: logger)
        } catch let error as ConfigError {
            throw error
        } catch {
            throw StartupError(description: "\(error)")
        }
        notifySystemd("READY=1\nSTATUS=serving \(settings.boards.count) boards")
        logger.info("agent \(settings.agent.name): ready, \(settings.boards.count) boards, ssh on \(services.ssh.localAddress), host key \(services.ssh.hostKeyFingerprint)")

        var received: Int32 = 0
        sigwait(&stopSignals, &received)
        logger.info("agent: signal \(received), stopping")
        notifySystemd("STOPPING=1")
        services.stop()
        logger.info("agent: stopped")
        // Every service is stopped; connection and session threads may still
        // be unwinding (a client that is just leaving). Leave now rather than
        // run process teardown under them: a log line is written with one
        // write(2), so nothing is lost.
        _exit(0)
    }
}

/// The running parts of the agent, started in order and stopped in reverse.
private struct Services {
    let boards: [Board]
    let tftp: TFTPServer
    let http: ArtifactHTTPServer
    let ssh: AgentSSHServer

    init(_ settings: AgentConfig, logger: Logger) throws {
        let data = settings.agent.dataDirectory
        boards = try Board.boards(of: settings, logger: logger)
        for board in boards { try board.start() }
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
        tftp = try TFTPServer(listeningOn: settings.agent.tftp.listen, provider: spaces,
                              logger: logger)
        try tftp.start()
        let jobAPI = JobAPI()
        http = try ArtifactHTTPServer(listeningOn: settings.agent.http.listen, dataDirectory: data,
                                      quota: settings.agent.http.quota, routes: [(JobAPI.prefix, jobAPI)], logger: logger)
        let artifacts = ShellArtifacts(store: http.store, tokens: http.tokens, publicURL: settings.agent.http.publicURL)
        ssh = try AgentSSHServer(config: settings, boards: boards, artifacts: artifacts, jobAPI: jobAPI, holders: holders,
                                 logger: logger)
        try ssh.start()
    }

    func stop() {
        ssh.stop()
        http.stop()
        tftp.stop()
        for board in boards { board.stop() }
    }
}
