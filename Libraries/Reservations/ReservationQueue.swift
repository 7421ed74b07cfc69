import Synchronization

/// The requests waiting for a board by its tags (`reserve --tag … --wait`),
/// first come, first served: the reservation service offers each freed
/// board to the waiters in order, and the first whose tags it has gets it.
/// The coordinator's, and a lone agent's; held in memory (a waiter is a
/// live session: a restart ends it).
public final class ReservationQueue: Sendable {
    /// One waiting request.
    public struct Waiter: Sendable {
        public let id: Int
        public let user: String
        public let tags: [String]
        /// Unix seconds it joined.
        public let since: Int64
        /// The reservation's end for a board allocated at a given time:
        /// `--for`'s length from then, or `--until`'s time.
        let length: Int64?
        let until: Int64?

        func end(allocatedAt time: Int64) -> Int64 { until ?? time + (length ?? 3600) }
    }

    private struct State {
        var waiting: [Waiter] = []
        var nextID = 0
        /// What each allocated waiter got: the board and the line that says so.
        var allocated: [Int: (board: String, line: String)] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    /// Adds a request at the end of the queue.
    func join(user: String, tags: [String], since: Int64, length: Int64?, until: Int64?) -> Waiter {
        state.withLock { state in
            state.nextID += 1
            let waiter = Waiter(id: state.nextID, user: user, tags: tags, since: since, length: length, until: until)
            state.waiting.append(waiter)
            return waiter
        }
    }

    /// Takes a request out (its session ended, timed out, or was allocated);
    /// a board allocated meanwhile is returned, for the caller to release.
    func leave(_ id: Int) -> String? {
        state.withLock { state in
            state.waiting.removeAll { $0.id == id }
            return state.allocated.removeValue(forKey: id)?.board
        }
    }

    /// The waiting requests, first first.
    public var waiting: [Waiter] { state.withLock { $0.waiting } }

    public var isEmpty: Bool { state.withLock { $0.waiting.isEmpty } }

    /// 1-based place of a waiting request; nil once it is not waiting.
    func position(of id: Int) -> Int? {
        state.withLock { state in state.waiting.firstIndex { $0.id == id }.map { $0 + 1 } }
    }

    /// Marks a request served with `board` (the session picks it up).
    func allocate(_ id: Int, board: String, line: String) {
        state.withLock { state in
            state.waiting.removeAll { $0.id == id }
            state.allocated[id] = (board, line)
        }
    }

    /// What an allocated request got, once (the session takes it).
    func takeAllocation(_ id: Int) -> (board: String, line: String)? {
        state.withLock { $0.allocated.removeValue(forKey: id) }
    }
}
