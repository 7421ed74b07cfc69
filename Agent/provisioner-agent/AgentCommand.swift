import AgentCore
import ArgumentParser
import Foundation
import Logging
import ProvisionerCore
import SystemSupport
import TFTP

@main
struct AgentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "provisioner-agent",
        abstract: "The Provisioner agent: serial consoles, power, TFTP and HTTP for the boards beside it.",
        version: Provisioner.version,
        subcommands: [ServeCommand.self, TFTPCommand.self, HTTPCommand.self, TokenCommand.self, CheckConfigCommand.self])

    static func main() { Daemon.main(Self.self) }
}

/// Options every long-running subcommand takes.
struct LogOptions: ParsableArguments {
    @Option(name: .long, help: "trace, debug, info, notice, warning or error (default: info, or PROVISIONER_LOG_LEVEL).")
    var logLevel: String?

    func validate() throws {
        if let logLevel, Logger.Level(rawValue: logLevel) == nil {
            throw ValidationError("--log-level must be one of: trace, debug, info, notice, warning, error, critical")
        }
    }

    func bootstrap() { LogSetup.bootstrap(level: logLevel.flatMap(Logger.Level.init(rawValue:))) }
}

struct TFTPCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tftp",
        abstract: "Serve the files below a folder over TFTP (read-only), alone.")

    @Option(help: "The folder to serve; absolute names are taken under it, as tftpd-hpa -s does.")
    var root: String

    @Option(help: "ADDR:PORT to listen on ([::1]:69 for IPv6).")
    var listen: String = "0.0.0.0:69"

    @Option(help: "Largest windowsize granted (RFC 7440).")
    var maxWindowSize: Int = TFTPLimits().maxWindowSize

    @OptionGroup var log: LogOptions

    func validate() throws {
        do { _ = try SocketAddress(parsing: listen) } catch { throw ValidationError("--listen: \(error)") }
        guard (1...65535).contains(maxWindowSize) else { throw ValidationError("--max-window-size must be 1–65535") }
    }

    func run() throws {
        log.bootstrap()
        let logger = Logger(label: "provisioner-agent")
        var limits = TFTPLimits()
        limits.maxWindowSize = maxWindowSize
        let signals = StopSignals.block([SIGINT, SIGTERM])
        let server: TFTPServer
        do {
            let directory = try TFTPDirectory(root: root)
            server = try TFTPServer(listeningOn: try SocketAddress(parsing: listen), provider: directory,
                                    limits: limits, logger: logger)
            logger.info("tftp: root \(directory.root)")
        } catch {
            throw StartupError(description: "tftp: \(error)")
        }
        let tftp = ClosureService(name: "tftp", start: { try server.start() }, stop: { server.stop() })
        // No ready line: the server said "tftp: serving on …".
        try Daemon.serve("tftp", services: [tftp], signals: signals, logger: logger)
    }
}

struct CheckConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate agent.yaml without starting anything; exit 2 with FILE:LINE: what is wrong.")

    @Option(help: "The agent's config file.")
    var config: String = "/etc/provisioner/agent.yaml"

    func run() throws {
        let loaded = try AgentConfig(file: config)
        try loaded.checkKeyFiles()
        print("\(config): ok: agent \(loaded.agent.name), \(loaded.boards.count) board\(loaded.boards.count == 1 ? "" : "s")"
              + (loaded.boards.isEmpty ? "" : " (\(loaded.boards.map(\.name).joined(separator: ", ")))"))
    }
}
