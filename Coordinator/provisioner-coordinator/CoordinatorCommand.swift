import ArgumentParser
import CoordinatorCore
import Foundation
import Logging
import ProvisionerCore
import SystemSupport

@main
struct CoordinatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "provisioner-coordinator",
        abstract: "The Provisioner coordinator: the lab's SSH front door, reservations and routing to agents.",
        version: Provisioner.version,
        subcommands: [ServeCommand.self, CheckConfigCommand.self, ClientKeyCommand.self, MigrateStoreCommand.self])

    static func main() { Daemon.main(Self.self) }
}

struct CheckConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate coordinator.yaml without starting anything; exit 2 with FILE:LINE: what is wrong.")

    @Option(help: "The coordinator's config file.")
    var config: String = "/etc/provisioner/coordinator.yaml"

    func run() throws {
        let loaded = try CoordinatorConfig(file: config)
        try loaded.checkKeyFiles()
        let users = loaded.users.count, agents = loaded.agents.count
        print("\(config): ok: \(users) user\(users == 1 ? "" : "s"), \(agents) agent\(agents == 1 ? "" : "s")"
              + (agents == 0 ? "" : " (\(loaded.agents.map(\.name).joined(separator: ", ")))")
              + (loaded.calendar.map { ", calendar for \($0.google.boards.count) board\($0.google.boards.count == 1 ? "" : "s")" } ?? ""))
        guard let store = loaded.coordinator.store else { return }
        do {
            print("\(config): store: " + (try Coordinator.checkStore(store)))
        } catch {
            throw StartupError(description: "\(config): store: \(error)")
        }
    }
}

struct MigrateStoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate-store",
        abstract: "Copy a lab's SQLite store (reservations, audit, events) into PostgreSQL, ids and all.",
        discussion: "Stop the coordinator that uses the SQLite files first. The target must be empty unless --force "
            + "(which replaces what it holds). The queue lives in memory: there is none to copy.")

    @Option(help: "sqlite:PATH, the coordinator's data_dir or its coordinator.sqlite (events.sqlite beside it comes too).")
    var from: String

    @Option(help: "postgresql://USER@HOST:PORT/DATABASE")
    var to: String

    @Option(name: .customLong("password-file"), help: "A file whose first line is the database password.")
    var passwordFile: String?

    @Flag(help: "Replace what the target already holds.")
    var force = false

    func validate() throws {
        guard from.hasPrefix("sqlite:"), from.count > 7 else { throw ValidationError("--from takes sqlite:PATH") }
        guard to.hasPrefix("postgresql://") || to.hasPrefix("postgres://") else {
            throw ValidationError("--to takes postgresql://USER@HOST:PORT/DATABASE")
        }
    }

    func run() throws {
        let line: String
        do {
            line = try Coordinator.migrateStore(from: String(from.dropFirst(7)), to: to, passwordFile: passwordFile, force: force)
        } catch {
            throw StartupError(description: "migrate-store: \(error)")
        }
        print(line)
    }
}

struct ClientKeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "client-key",
        abstract: "Print the public key the coordinator logs into agents with (generated when missing), "
            + "for each agent's ssh.coordinator_keys file.")

    @Option(help: "The coordinator's config file.")
    var config: String = "/etc/provisioner/coordinator.yaml"

    func run() throws {
        let loaded = try CoordinatorConfig(file: config)
        do {
            try FileManager.default.createDirectory(atPath: loaded.coordinator.dataDirectory, withIntermediateDirectories: true)
            let key = try Coordinator.loadClientKey(loaded, logger: nil)
            print(key.publicKeyLine(comment: "coordinator"))
        } catch {
            throw StartupError(description: "\(error)")
        }
    }
}

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the coordinator: the SSH front door, reservations and agent health checks of coordinator.yaml.")

    @Option(help: "The coordinator's config file.")
    var config: String = "/etc/provisioner/coordinator.yaml"

    @Option(name: .long, help: "trace, debug, info, notice, warning or error (default: info, or PROVISIONER_LOG_LEVEL).")
    var logLevel: String?

    func validate() throws {
        if let logLevel, Logger.Level(rawValue: logLevel) == nil {
            throw ValidationError("--log-level must be one of: trace, debug, info, notice, warning, error, critical")
        }
    }

    func run() throws {
        let settings = try CoordinatorConfig(file: config)
        LogSetup.bootstrap(level: logLevel.flatMap(Logger.Level.init(rawValue:)))
        let logger = Logger(label: "provisioner-coordinator")

        let signals = StopSignals.block([SIGTERM, SIGINT, SIGHUP])
        let coordinator: Coordinator
        do {
            coordinator = try Coordinator(config: settings, logger: logger)
        } catch {
            throw StartupError(description: "\(error)")
        }
        try Daemon.serve("coordinator", services: coordinator.services, status: "serving \(settings.agents.count) agents",
                         signals: signals, logger: logger) {
            "coordinator: ready, \(settings.users.count) users, \(settings.agents.count) agents, ssh on \(coordinator.server.localAddress), host key \(coordinator.server.hostKeyFingerprint), client key \(coordinator.clientKey.publicKey.fingerprint)"
        }
    }
}
