import Foundation
import Logging
import Reservations
import SSH
import ShellSupport
import Synchronization
import SystemSupport
import Wire

/// Asks one agent for `boards --json` every `interval` seconds, on a thread
/// of its own, and keeps the registry current: an agent that does not
/// answer has its boards shown offline from the next check on.
public final class AgentMonitor: Sendable {
    let link: AgentLink
    let registry: BoardRegistry
    let interval: Double
    let logger: Logger
    /// Who may use a board now, as the agent is to be told.
    public struct Holding: Sendable, Equatable {
        public var user: String
        /// Unix time.
        public var until: Int64
        /// Users who may use it too (accepted attendees of its calendar event).
        public var guests: [String]

        public init(user: String, until: Int64, guests: [String] = []) {
            self.user = user
            self.until = until
            self.guests = guests
        }
    }

    /// What the agent is to be told of a board: from the store, unless locked.
    let holder: @Sendable (String) -> BoardHolding
    /// The coordinator's events: the agent's are merged in, and its going
    /// offline and coming back are written here.
    let events: EventLog?
    /// Guarded by `wake`: stopping; a check asked for (`poke`).
    private struct Flags {
        var stopping = false
        var poked = false
    }
    private let flags = Mutex(Flags())
    private let wake = NSCondition()
    /// The open `watch` session, hung up by `stop`.
    private let watching = Mutex<SSHClientSession?>(nil)

    public init(link: AgentLink, registry: BoardRegistry, interval: Double, logger: Logger, events: EventLog? = nil,
                holder: @escaping @Sendable (String) -> BoardHolding = { _ in .free }) {
        self.events = events
        self.link = link
        self.registry = registry
        self.interval = interval
        self.logger = logger
        self.holder = holder
    }

    private var stopping: Bool { flags.withLock { $0.stopping } }

    /// Checks now, not at the next interval (a reservation changed, the
    /// agent came back or went).
    public func poke() {
        wake.lock()
        flags.withLock { $0.poked = true }
        wake.broadcast()
        wake.unlock()
    }

    /// Waits up to `seconds`, or until `stop`, or (`poked`: for the checking
    /// thread, which takes the poke) until `poke`.
    private func pause(_ seconds: Double, poked wantsPoke: Bool = false) {
        wake.lock()
        defer { wake.unlock() }
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            let done = flags.withLock { flags in
                defer { if wantsPoke { flags.poked = false } }
                return flags.stopping || (wantsPoke && flags.poked)
            }
            if done || !wake.wait(until: deadline) { return }
        }
    }

    public func start() throws {
        try startThread(named: "monitor-\(link.name)") { [self] in
            var wasOnline: Bool?
            while !stopping {
                let online = check()
                if online != wasOnline {
                    if online {
                        logger.info("agent \(link.name): online, boards: \(registry.boards().filter { $0.agent == link.name }.map(\.name).joined(separator: ", "))")
                    } else {
                        logger.warning("agent \(link.name): offline: \(registry.agentState(link.name).problem ?? "?")")
                    }
                    wasOnline = online
                }
                pause(interval, poked: true)
            }
        }
        try startThread(named: "watch-\(link.name)") { [self] in watch() }
    }

    public func stop() {
        wake.lock()
        flags.withLock { $0.stopping = true }
        wake.broadcast()
        wake.unlock()
        watching.withLock { $0?.hangUp() }
    }

    /// Keeps the agent's `watch` open: its first line (the agent runs, maybe
    /// anew after a restart: its boards are locked until it hears who holds
    /// them) and its end (the agent stopped or died) each start a check at
    /// once, so holders reach a restarted agent within moments whatever the
    /// interval. While the agent is away it is tried again every quarter of
    /// a second at first, then every 2 s. An agent that has no `watch` (an
    /// older one: exit 2) is only polled, and asked again after a minute.
    /// After its first line, `watch --events-since ID` streams the agent's
    /// events, which are merged into the coordinator's (`events`): asked
    /// after the last one merged, so a reconnect leaves no gap and no
    /// duplicate. An agent that does not know the option is watched
    /// without it.
    private func watch() {
        var delay = 0.25
        var withEvents = events != nil
        while !stopping {
            let since = events?.lastAgentID(link.name) ?? 0
            let words = withEvents ? ["watch", "--events-since", String(since)] : ["watch"]
            guard let session = try? link.open(words, as: nil) else {
                pause(delay)
                delay = min(delay * 2, 2)
                continue
            }
            watching.withLock { $0 = session }
            if stopping { session.hangUp() }
            var greeted = false
            var status: Int32?
            var pending: [UInt8] = []
            var restarted = false
            reading: while true {
                switch session.read(timeout: nil) {
                case .stdout(let bytes):
                    pending += bytes
                    while let newline = pending.firstIndex(of: 0x0A) {
                        let line = Array(pending[..<newline])
                        pending.removeFirst(newline + 1)
                        if !greeted {
                            greeted = true
                            delay = 0.25
                            noteOnline(true)
                            poke()
                        } else if let events, let event = try? Wire.decode(LabEvent.self, from: line) {
                            // Ids at or below the one asked after: the agent's log began anew.
                            if event.id <= since && since > 0 && !restarted {
                                restarted = true
                                logger.warning("agent \(link.name): its event ids began anew (was its data_dir emptied?): merging them from 1")
                                events.forgetAgentIDs(link.name)
                            }
                            events.merge(event, from: link.name)
                        }
                    }
                    if pending.count > 1 << 20 { pending.removeAll() }
                case .stderr, .timeout: continue
                case .exit(let ended):
                    status = ended
                    break reading
                }
            }
            watching.withLock { $0 = nil }
            if greeted {
                noteOnline(false)
                poke()
            } else if status == ExitStatus.usage.rawValue && withEvents {
                withEvents = false
            } else if status == ExitStatus.usage.rawValue {
                pause(60)
            } else {
                pause(delay)
                delay = min(delay * 2, 2)
            }
        }
    }

    /// The agent's boards are shown offline, and why.
    private func markDown(_ problem: String) {
        registry.markDown(agent: link.name, problem: problem)
        noteOnline(false)
    }

    /// Whether the agent was last seen online, for its events.
    private let wasOnline = Mutex<Bool?>(nil)

    /// Writes `agent.online` or `agent.offline` when that changed.
    func noteOnline(_ online: Bool) {
        let changed = wasOnline.withLock { state -> Bool in
            defer { state = online }
            return state != online
        }
        // Coordinators sharing a store each watch every agent; the one that
        // leads the reservation watch says it, so it is said once.
        guard changed, let events, events.engine.lead(StoreLocks.watch) else { return }
        events.append(online ? "agent.online" : "agent.offline", agent: link.name)
    }

    /// Tells the agent the holder of each of its boards where what it
    /// reported differs from the store (DESIGN.md, "Holders and TFTP"): a
    /// new or ended reservation reaches the agent within one interval, and
    /// a board the agent reports locked (it restarted) is told at once.
    func syncHolders(_ boards: [BoardStatus]) {
        for board in boards {
            let wanted = holder(board.name)
            let words: [String]
            let told: String
            switch wanted {
            case .free:
                guard board.holder != nil || board.locked != nil else { continue }
                words = ["hold", board.name, "--none"]
                told = "free"
            case .held(let holding):
                guard board.holder != holding.user || board.until != isoTime(Double(holding.until))
                        || board.guests != holding.guests || board.locked != nil else { continue }
                words = ["hold", board.name, holding.user, String(holding.until)]
                    + (holding.guests.isEmpty ? [] : ["--guests", holding.guests.joined(separator: ",")])
                told = "held by \(holding.user)" + (holding.guests.isEmpty ? "" : " with \(holding.guests.joined(separator: ", "))")
            case .locked(let reason):
                guard board.locked != reason else { continue }
                words = ["hold", board.name, "--locked", reason]
                told = "locked: \(reason)"
            }
            do {
                let result = try link.run(words, as: nil, limit: max(3, interval * 2))
                if result.status != 0 {
                    logger.warning("agent \(link.name): '\(words.joined(separator: " "))' failed: \(String(decoding: result.stderr, as: UTF8.self))")
                } else {
                    logger.info("agent \(link.name): \(board.name) \(told)")
                }
            } catch {
                logger.warning("agent \(link.name): cannot tell the holder of \(board.name): \(error)")
            }
        }
    }

    /// One health check; true when the agent answered with its boards.
    @discardableResult
    func check() -> Bool {
        do {
            let result = try link.run(["boards", "--json"], as: nil, limit: max(3, interval * 2))
            guard result.status == 0 else {
                let said = String(decoding: result.stderr, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                let problem = result.status == nil ? "no answer to 'boards --json'"
                    : "'boards --json' failed (status \(result.status!))\(said.isEmpty ? "" : ": \(said)")"
                markDown(problem)
                return false
            }
            let boards: [BoardStatus]
            do { boards = try BoardRegistry.parse(result.stdout, agent: link.name) } catch {
                markDown("its 'boards --json' is \(error)")
                return false
            }
            // Holders first: a board is routed to only once its agent knows who holds it.
            syncHolders(boards)
            registry.update(agent: link.name, boards: boards)
            noteOnline(true)
            return true
        } catch {
            markDown("\(error)")
            return false
        }
    }
}
