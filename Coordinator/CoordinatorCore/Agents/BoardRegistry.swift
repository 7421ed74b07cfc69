import Synchronization
import Wire

/// A board as its agent last reported it (the wire row of `boards --json`).
public typealias BoardStatus = BoardReport

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

    /// Reads an agent's `boards --json` (wire version 1 or older), or why not.
    static func parse(_ json: [UInt8], agent: String) throws(WireError) -> [BoardStatus] {
        try Wire.decode([BoardReport].self, from: json).map { row in
            var row = row
            row.agent = agent
            return row
        }
    }
}
