import CoordinatorCalendar
import Reservations
import Foundation
import Logging
import SSH
import SystemSupport

/// The running coordinator: the reservation store, the calendar sync (when
/// configured), a health monitor per agent, and the SSH front door, from one
/// coordinator.yaml. `services` are the running parts, for `serve`'s ServiceGroup.
public final class Coordinator: Sendable {
    public let store: ReservationStore
    public let registry: BoardRegistry
    public let monitors: [AgentMonitor]
    public let server: CoordinatorSSHServer
    /// The Google Calendar sync, when coordinator.yaml has a `calendar` block.
    public let calendar: CalendarSync?
    /// The key the coordinator logs into agents with.
    public let clientKey: SSHPrivateKey

    /// The database file under `data_dir`.
    public static func databasePath(_ config: CoordinatorConfig) -> String {
        config.coordinator.dataDirectory + "/coordinator.sqlite"
    }

    public init(config: CoordinatorConfig, logger: Logger) throws {
        try FileManager.default.createDirectory(atPath: config.coordinator.dataDirectory, withIntermediateDirectories: true)
        let clientKey = try Self.loadClientKey(config, logger: logger)
        let store = try ReservationStore(path: Self.databasePath(config))
        let registry = BoardRegistry(agents: config.agents.map(\.name))
        let links = config.agents.map { AgentLink(agent: $0, identity: clientKey) }
        let calendar = try config.calendar.map { try Self.calendarSync($0, config: config, store: store, logger: logger) }
        // Free, held, or locked: a stale calendar or a holder who is no user locks the board.
        let users = Set(config.users.map(\.name))
        let holder: @Sendable (String) -> BoardHolding = { board in
            BoardHolding.of(board, store: store, calendar: calendar, users: users)
        }
        let events = try EventLog(path: config.coordinator.dataDirectory + "/events.sqlite", logger: logger)
        let monitors = links.map {
            AgentMonitor(link: $0, registry: registry, interval: config.coordinator.healthInterval, logger: logger, events: events,
                         holder: holder)
        }
        self.monitors = monitors
        calendar?.setOnChange { for monitor in monitors { monitor.poke() } }
        self.calendar = calendar
        self.clientKey = clientKey
        self.store = store
        self.registry = registry
        // A reservation made or ended here reaches the board's agent at once.
        let shell = LabShell(registry: registry, store: store, links: links, logger: logger, calendar: calendar, users: users,
                             events: events, changed: { board in
                                 let agent = registry.board(board)?.agent
                                 for monitor in monitors where monitor.link.name == agent { monitor.poke() }
                             })
        server = try CoordinatorSSHServer(config: config, shell: shell, logger: logger)
    }

    /// The client key, generated on first start; its public line is what
    /// each agent's `ssh.coordinator_keys` lists.
    public static func loadClientKey(_ config: CoordinatorConfig, logger: Logger?) throws -> SSHPrivateKey {
        let path = config.coordinator.ssh.clientKey
        let existed = FileManager.default.fileExists(atPath: path)
        let key = try SSHPrivateKey(path: path, generate: true)
        if !existed {
            logger?.notice("ssh: generated the client key \(path); list it in each agent's ssh.coordinator_keys: \(key.publicKeyLine(comment: "coordinator"))")
        }
        return key
    }

    /// The calendar sync of `settings`; the service account key is read here.
    static func calendarSync(_ settings: CalendarSettings, config: CoordinatorConfig, store: ReservationStore,
                             logger: Logger) throws -> CalendarSync {
        let google = settings.google
        var emails: [String: String] = [:]
        for user in config.users { if let email = user.email { emails[email.lowercased()] = user.name } }
        var options = CalendarSyncOptions(serviceAccountKey: google.serviceAccountKey, apiURL: google.apiURL,
                                          tokenURL: google.tokenURL, caFile: google.caFile, poll: google.poll,
                                          boards: google.boards, users: emails)
        options.tentative = CalendarSyncOptions.Policy(rawValue: google.tentative) ?? .hold
        options.declined = CalendarSyncOptions.Policy(rawValue: google.declined) ?? .ignore
        options.attendees = google.attendees
        options.staleGrace = google.staleGrace
        options.syncEvery = google.syncEvery
        return try CalendarSync(options: options, store: store, logger: logger)
    }

    /// The running parts, in the order they start (they stop in reverse):
    /// the calendar sync, a health monitor per agent, the reservation watch,
    /// and the SSH front door.
    public var services: [any Service] {
        var services: [any Service] = []
        if let calendar {
            services.append(ClosureService(name: "calendar", start: { try calendar.start() }, stop: { calendar.stop() }))
        }
        for monitor in monitors {
            services.append(ClosureService(name: "monitor \(monitor.link.name)", start: { try monitor.start() },
                                           stop: { monitor.stop() }))
        }
        let shell = server.shell, server = server
        services.append(ClosureService(name: "reservation watch", start: { try shell.startWatch() }, stop: { shell.stopWatch() }))
        services.append(ClosureService(name: "ssh", start: { try server.start() }, stop: { server.stop() }))
        return services
    }
}
