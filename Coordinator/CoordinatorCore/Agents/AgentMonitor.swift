import Foundation
import Logging
import Synchronization
import SystemSupport

/// Asks one agent for `boards --json` every `interval` seconds, on a thread
/// of its own, and keeps the registry current: an agent that does not
/// answer has its boards shown offline from the next check on.
public final class AgentMonitor: Sendable {
    let link: AgentLink
    let registry: BoardRegistry
    let interval: Double
    let logger: Logger
    private let stopping = Mutex(false)
    private let wake = NSCondition()

    public init(link: AgentLink, registry: BoardRegistry, interval: Double, logger: Logger) {
        self.link = link
        self.registry = registry
        self.interval = interval
        self.logger = logger
    }

    public func start() throws {
        try startThread(named: "monitor-\(link.name)") { [self] in
            var wasOnline: Bool?
            while !stopping.withLock({ $0 }) {
                let online = check()
                if online != wasOnline {
                    if online {
                        logger.info("agent \(link.name): online, boards: \(registry.boards().filter { $0.agent == link.name }.map(\.name).joined(separator: ", "))")
                    } else {
                        logger.warning("agent \(link.name): offline: \(registry.agentState(link.name).problem ?? "?")")
                    }
                    wasOnline = online
                }
                wake.lock()
                if !stopping.withLock({ $0 }) { _ = wake.wait(until: Date().addingTimeInterval(interval)) }
                wake.unlock()
            }
        }
    }

    public func stop() {
        stopping.withLock { $0 = true }
        wake.lock()
        wake.broadcast()
        wake.unlock()
    }

    /// One health check; true when the agent answered with its boards.
    @discardableResult
    func check() -> Bool {
        do {
            let result = try link.run(["boards", "--json"], as: nil, limit: max(3, interval * 2))
            guard result.status == 0, let boards = BoardRegistry.parse(result.stdout, agent: link.name) else {
                let said = String(decoding: result.stderr, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                let problem = result.status == nil ? "no answer to 'boards --json'"
                    : "'boards --json' failed (status \(result.status!))\(said.isEmpty ? "" : ": \(said)")"
                registry.markDown(agent: link.name, problem: problem)
                return false
            }
            registry.update(agent: link.name, boards: boards)
            return true
        } catch {
            registry.markDown(agent: link.name, problem: "\(error)")
            return false
        }
    }
}
