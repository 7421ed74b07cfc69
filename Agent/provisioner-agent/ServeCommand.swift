import AgentCore
import ArgumentParser
import Foundation
import Logging
import ProvisionerCore
import SystemSupport

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
        let signals = StopSignals.block([SIGTERM, SIGINT, SIGHUP])

        let dataDirectory = settings.agent.dataDirectory
        let services: AgentServices
        do {
            for folder in ["", "/shared", "/staging", "/logs", "/run"] {
                try FileManager.default.createDirectory(atPath: dataDirectory + folder, withIntermediateDirectories: true)
            }
            services = try AgentServices(settings, logger: logger)
        } catch let error as ConfigError {
            throw error
        } catch {
            throw StartupError(description: "\(error)")
        }
        let boards = settings.boards.count
        try Daemon.serve("agent", services: services.all, status: "serving \(boards) boards", signals: signals, logger: logger) {
            services.ssh.server.map { ssh in
                "agent \(settings.agent.name): ready, \(boards) boards, ssh on \(ssh.localAddress), host key \(ssh.hostKeyFingerprint)"
            }
        }
    }
}
