import Foundation
import Synchronization

/// A board as its agent last reported it.
public struct BoardStatus: Sendable, Equatable {
    public var name: String
    public var agent: String
    /// The agent answered its last health check and reported the board online.
    public var online: Bool
    public var power: String
    public var state: String
    /// Who the agent believes holds the board, and until when (ISO time).
    public var holder: String? = nil
    public var until: String? = nil
    /// Who else the agent lets use the board (the holder's guests).
    public var guests: [String] = []
}

/// What the coordinator knows of every agent and its boards, from the
/// health checks. Read by every session's thread, written by the monitors.
public final class BoardRegistry: Sendable {
    struct AgentState: Sendable {
        var online = false
        /// Why the last check failed.
        var problem: String? = "not checked yet"
        var boards: [BoardStatus] = []
    }

    /// Agent names in config order; a board name two agents report goes to the first.
    let order: [String]
    private let agents: Mutex<[String: AgentState]>

    public init(agents names: [String]) {
        order = names
        agents = Mutex(Dictionary(uniqueKeysWithValues: names.map { ($0, AgentState()) }))
    }

    /// A successful check: the agent's boards as it listed them.
    func update(agent: String, boards: [BoardStatus]) {
        agents.withLock { $0[agent] = AgentState(online: true, problem: nil, boards: boards) }
    }

    /// A power switch the coordinator just saw succeed: `boards` shows it
    /// at once, not only after the agent's next check.
    func notePower(board: String, _ power: String) {
        agents.withLock { states in
            for (agent, state) in states {
                guard let index = state.boards.firstIndex(where: { $0.name == board }) else { continue }
                states[agent]?.boards[index].power = power
            }
        }
    }

    /// A failed check: the agent and its (last known) boards are offline.
    func markDown(agent: String, problem: String) {
        agents.withLock { states in
            var state = states[agent] ?? AgentState()
            state.online = false
            state.problem = problem
            for index in state.boards.indices {
                state.boards[index].online = false
                state.boards[index].power = "unknown"
                state.boards[index].state = "unknown"
            }
            states[agent] = state
        }
    }

    /// Every board, in agent (config) order, each name once.
    public func boards() -> [BoardStatus] {
        agents.withLock { states in
            var seen = Set<String>()
            var result: [BoardStatus] = []
            for name in order {
                for board in states[name]?.boards ?? [] where seen.insert(board.name).inserted {
                    result.append(board)
                }
            }
            return result
        }
    }

    public func board(_ name: String) -> BoardStatus? { boards().first { $0.name == name } }

    /// Whether the agent answered its last check, and why not.
    public func agentState(_ name: String) -> (online: Bool, problem: String?) {
        agents.withLock { states in
            let state = states[name] ?? AgentState()
            return (state.online, state.problem)
        }
    }

    /// Parses an agent's `boards --json`.
    static func parse(_ json: [UInt8], agent: String) -> [BoardStatus]? {
        guard let rows = try? JSONSerialization.jsonObject(with: Data(json)) as? [[String: Any]] else { return nil }
        return rows.compactMap { row in
            guard let name = row["name"] as? String else { return nil }
            return BoardStatus(name: name, agent: agent, online: row["online"] as? Bool ?? false,
                               power: row["power"] as? String ?? "unknown", state: row["state"] as? String ?? "unknown",
                               holder: row["holder"] as? String, until: row["until"] as? String,
                               guests: row["guests"] as? [String] ?? [])
        }
    }
}
