import CoordinatorCalendar
import Reservations
import PostgresStore
import Foundation
import Logging
import SSH
import Synchronization
import HTTPDaemon
import LabMetrics
import Web
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

    /// The lab's events: the coordinator's own and every agent's, merged.
    public let events: EventLog
    /// Who waits for a board (in the store, shared, on PostgreSQL).
    let queue: ReservationQueue
    /// Hears the reservation changes of the other coordinators on a shared store.
    let changes = Mutex<StoreListener?>(nil)

    /// The database file under `data_dir`.
    public static func databasePath(_ config: CoordinatorConfig) -> String {
        config.coordinator.dataDirectory + "/coordinator.sqlite"
    }

    /// The channel a shared store announces a board's reservation change
    /// on (the board's name; empty: any board).
    static let reservationChannel = "provisioner_reservations"

    /// The store of `config`, its schema brought up to date: SQLite files
    /// in `data_dir` (`coordinator.sqlite`, `events.sqlite`), or the
    /// PostgreSQL of `coordinator.store` that several coordinators share.
    public static func openStore(_ config: CoordinatorConfig, logger: Logger) throws -> (ReservationStore, EventLog) {
        guard let settings = config.coordinator.store else {
            return (try ReservationStore(path: databasePath(config)),
                    try EventLog(path: config.coordinator.dataDirectory + "/events.sqlite", logger: logger))
        }
        let engine = try PostgresEngine(url: settings.url, password: try settings.password(), maxConnections: settings.connections)
        return (try ReservationStore(engine: engine), try EventLog(engine: engine, logger: logger))
    }

    public init(config: CoordinatorConfig, logger: Logger) throws {
        try FileManager.default.createDirectory(atPath: config.coordinator.dataDirectory, withIntermediateDirectories: true)
        let clientKey = try Self.loadClientKey(config, logger: logger)
        let (store, events) = try Self.openStore(config, logger: logger)
        let registry = BoardRegistry(agents: config.agents.map(\.name))
        let links = config.agents.map { AgentLink(agent: $0, identity: clientKey) }
        let calendar = try config.calendar.map { try Self.calendarSync($0, config: config, store: store, logger: logger) }
        // Free, held, or locked: a stale calendar or a holder who is no user locks the board.
        let users = Set(config.users.map(\.name))
        let confirmed = ConfirmedHolders()
        let holder: @Sendable (String) -> BoardHolding = { board in
            BoardHolding.of(board, store: store, calendar: calendar, users: users, confirmed: confirmed)
        }
        let monitors = links.map {
            AgentMonitor(link: $0, registry: registry, interval: config.coordinator.healthInterval, logger: logger, events: events,
                         holder: holder)
        }
        self.monitors = monitors
        calendar?.setOnChange {
            for monitor in monitors { monitor.poke() }
            store.engine.notify(Self.reservationChannel, "")
        }
        self.calendar = calendar
        self.clientKey = clientKey
        self.store = store
        self.registry = registry
        self.events = events
        // A reservation made or ended here reaches the board's agent at once,
        // and the other coordinators on a shared store hear of it.
        // On a shared store the coordinators share one queue.
        let queue = store.engine.dialect == .sqlite ? ReservationQueue()
            : try ReservationQueue(sharedIn: store.engine, owner: "\(ProcessInfo.processInfo.hostName):\(getpid()):\(UInt32.random(in: 0...UInt32.max))")
        self.queue = queue
        Self.measureAtScrape(registry: registry, store: store, queue: queue, agents: config.agents.count)
        metricsListen = config.metricsListen
        let webAccess = config.web.map { _ in WebAccess(store: store.engine) }
        let shell = LabShell(registry: registry, store: store, links: links, logger: logger, calendar: calendar, users: users,
                             events: events, queue: queue, web: webAccess.map { ($0, config.web!.publicURL) }, changed: { board in
                                 Self.poke(monitors, for: board, registry: registry)
                                 store.engine.notify(Self.reservationChannel, board)
                             })
        server = try CoordinatorSSHServer(config: config, shell: shell, logger: logger)
        self.logger = logger
        web = config.web.map { settings in
            WebService(server: WebServer(access: webAccess!, publicURL: settings.publicURL, boards: { _ in
                try? shell.boardReports(for: "web")
            }, execute: { words, session in shell.execute(words, in: session) }, events: events, log: { logger.notice("\($0)") }),
                       listen: settings.listen, tls: settings.tlsCertificate.flatMap { certificate in settings.tlsKey.map { (certificate, $0) } },
                       log: { logger.info("\($0)") })
        }
    }

    let logger: Logger
    /// The web page (`web` in coordinator.yaml).
    public let web: WebService?

    /// Where `/metrics` is served, if anywhere.
    let metricsListen: SocketAddress?

    /// `/metrics`: a scraper or two, never many.
    static var metricsOptions: HTTPDaemonOptions {
        var options = HTTPDaemonOptions()
        options.threads = .pool(1)
        options.connectionLimit = 32
        return options
    }

    /// What is read off at each scrape: the boards, reservations and the queue.
    static func measureAtScrape(registry: BoardRegistry, store: ReservationStore, queue: ReservationQueue, agents: Int) {
        let metrics = LabMetrics.shared
        metrics.onScrape {
            let boards = registry.boards()
            metrics.set("provisioner_agents", to: Double(agents))
            metrics.set("provisioner_boards", to: Double(boards.count))
            for board in boards {
                let labels = [("board", board.name), ("agent", board.agent)]
                metrics.set("provisioner_board_online", labels, to: board.online ? 1 : 0)
                for state in ["on", "off", "unknown"] {
                    metrics.set("provisioner_board_power", labels + [("state", state)], to: board.power == state ? 1 : 0)
                }
            }
            if let held = try? store.currentByBoard(at: Int64(wallClock())) {
                metrics.set("provisioner_reservations_current", to: Double(held.count))
            }
            metrics.set("provisioner_queue_waiting", to: Double(queue.waiting.count))
        }
    }

    /// `check-config`: connects to the configured store and says how far its
    /// schema is (what `serve` would do to it), without changing it.
    public static func checkStore(_ settings: CoordinatorConfig.StoreSettings) throws -> String {
        let engine = try PostgresEngine(url: settings.url, password: try settings.password(), maxConnections: 1)
        defer { engine.close() }
        let parts = [StoreSchema.reservations, StoreSchema.events]
        let versions = try engine.withSession { session in
            let table = try session.query("SELECT to_regclass('schema_versions') IS NOT NULL").first?.first
            guard table == .text("t") else { return parts.map { _ in 0 } }
            return try parts.map { try StoreSchema.version(of: $0.part, in: session) }
        }
        var words: [String] = []
        for (part, version) in zip(parts, versions) {
            guard version <= part.latest else {
                throw StoreError(.failed, "\(engine.name): its \(part.part) schema is version \(version), "
                                 + "this coordinator knows up to \(part.latest): upgrade it")
            }
            words.append("\(part.part) \(version)/\(part.latest)"
                         + (version == 0 ? " (created at start)" : version < part.latest ? " (migrated at start)" : ""))
        }
        return "\(engine.name) answers; schema " + words.joined(separator: ", ")
    }

    /// `migrate-store`: the SQLite store at `path` (a data_dir, or its
    /// coordinator.sqlite) copied into the PostgreSQL at `url`; one line saying what arrived.
    public static func migrateStore(from path: String, to url: String, passwordFile: String?, force: Bool) throws -> String {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw StoreError(.failed, "\(path): no such file or folder")
        }
        let folder = isFolder.boolValue ? path : (path as NSString).deletingLastPathComponent
        let database = isFolder.boolValue ? path + "/coordinator.sqlite" : path
        guard FileManager.default.fileExists(atPath: database) else { throw StoreError(.failed, "\(database): no such file") }
        let eventsPath = (folder.isEmpty ? "." : folder) + "/events.sqlite"
        let password = try CoordinatorConfig.StoreSettings(url: url, passwordFile: passwordFile, connections: 1).password()
        let target = try PostgresEngine(url: url, password: password, maxConnections: 1)
        defer { target.close() }
        let events = FileManager.default.fileExists(atPath: eventsPath) ? try SQLiteEngine(path: eventsPath) : nil
        let counts = try StoreCopy.copy(store: try SQLiteEngine(path: database), events: events, to: target, force: force)
        func count(_ number: Int, _ what: String) -> String { "\(number) \(what)\(number == 1 ? "" : "s")" }
        return "migrate-store: \(count(counts.reservations, "reservation")), \(count(counts.audit, "audit line")) and \(count(counts.events, "event")) "
            + "copied from \(database)\(events == nil ? "" : " and \(eventsPath)") into \(target.name)"
    }

    /// Asks the agent of `board` (every agent: an empty name) for its boards now.
    static func poke(_ monitors: [AgentMonitor], for board: String, registry: BoardRegistry) {
        let agent = board.isEmpty ? nil : registry.board(board)?.agent
        for monitor in monitors where agent == nil || monitor.link.name == agent { monitor.poke() }
    }

    /// Hears reservation changes made by the other coordinators sharing the
    /// store: the board's agent is told at once, and a board set free goes
    /// to this coordinator's queue.
    func listenForChanges() {
        let monitors = monitors, registry = registry, reservations = server.shell.reservations
        let listener = store.engine.listen(Self.reservationChannel) { board in
            Self.poke(monitors, for: board, registry: registry)
            reservations.offerFreedBoards()
        }
        changes.withLock { $0 = listener }
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
        services.append(ClosureService(name: "store listener", start: { [self] in listenForChanges() },
                                       stop: { [self] in changes.withLock { $0?.stop(); $0 = nil }; events.close(); queue.close() }))
        if let web { services.append(web) }
        if let listen = metricsListen {
            let served = Mutex<HTTPDaemon?>(nil)
            let logger = logger
            services.append(ClosureService(name: "metrics", start: {
                let daemon = try HTTPDaemon(listeningOn: listen, options: Self.metricsOptions, handler: MetricsHandler())
                logger.info("metrics: serving /metrics on \(daemon.localAddress)")
                served.withLock { $0 = daemon }
            }, stop: { served.withLock { $0?.stop(); $0 = nil } }))
        }
        services.append(ClosureService(name: "ssh", start: { try server.start() }, stop: { server.stop() }))
        return services
    }
}
