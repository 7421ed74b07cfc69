import Foundation
import Synchronization

/// The requests waiting for a board by its tags (`reserve --tag … --wait`),
/// first come, first served: the reservation service offers each freed
/// board to the waiters in order, and the first whose tags it has gets it.
///
/// A lone agent and a coordinator on SQLite hold it in memory (a waiter is
/// a live session: a restart ends it). Coordinators sharing a PostgreSQL
/// share one queue in it (`shared`): a board freed on any of them goes to
/// the first waiter of all, whichever coordinator carries its session; the
/// one that carries it hears of the allocation (`NOTIFY`) and answers.
public final class ReservationQueue: Sendable {
    /// One waiting request.
    public struct Waiter: Sendable, Equatable {
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
    /// The shared queue's store and this process's name in it; nil: in memory.
    private let shared: (engine: any StoreEngine, owner: String)?
    private let listener = Mutex<StoreListener?>(nil)
    /// How long a coordinator's waiters stay without it saying it lives.
    static let ownerTimeoutMilliseconds: Int64 = 15_000
    static let channel = "provisioner_queue"

    /// A queue in memory.
    public init() {
        shared = nil
    }

    /// The queue in `engine`, shared with the other coordinators on it;
    /// `owner` names this process's waiters (unique per process).
    public init(sharedIn engine: any StoreEngine, owner: String) throws {
        shared = (engine, owner)
        try refresh()
        listener.withLock { $0 = engine.listen(Self.channel) { [weak self] _ in try? self?.refresh() } }
    }

    deinit { listener.withLock { $0?.stop() } }

    /// Stops hearing the other coordinators (at a stop).
    public func close() { listener.withLock { $0?.stop(); $0 = nil } }

    /// Adds a request at the end of the queue.
    func join(user: String, tags: [String], since: Int64, length: Int64?, until: Int64?) throws -> Waiter {
        guard let shared else {
            return state.withLock { state in
                state.nextID += 1
                let waiter = Waiter(id: state.nextID, user: user, tags: tags, since: since, length: length, until: until)
                state.waiting.append(waiter)
                return waiter
            }
        }
        let rows = try shared.engine.withSession { session in
            try session.query(#"INSERT INTO queue ("user", tags, since, length, "until", owner, seen_ms) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id"#,
                              [.text(user), .text(tags.joined(separator: ",")), .integer(since), length.map(SQLValue.integer) ?? .null,
                               until.map(SQLValue.integer) ?? .null, .text(shared.owner), .integer(Self.milliseconds())])
        }
        guard let id = rows.first?.first?.integer, let small = Int(exactly: id) else {
            throw StoreError(.failed, "the queue gave no id to a new waiter")
        }
        changed()
        return Waiter(id: small, user: user, tags: tags, since: since, length: length, until: until)
    }

    /// Takes a request out (its session ended, timed out, or was allocated);
    /// a board allocated meanwhile is returned, for the caller to release.
    func leave(_ id: Int) -> String? {
        let allocated = state.withLock { state in
            state.waiting.removeAll { $0.id == id }
            return state.allocated.removeValue(forKey: id)?.board
        }
        guard let shared else { return allocated }
        let rows = try? shared.engine.withSession { session in
            try session.query("DELETE FROM queue WHERE id = ? RETURNING allocated_board", [.integer(Int64(id))])
        }
        changed()
        return rows?.first?.first?.text ?? allocated
    }

    /// The waiting requests, first first (on a shared queue, every
    /// coordinator's).
    public var waiting: [Waiter] { state.withLock { $0.waiting } }

    public var isEmpty: Bool { state.withLock { $0.waiting.isEmpty } }

    /// 1-based place of a waiting request; nil once it is not waiting.
    func position(of id: Int) -> Int? {
        state.withLock { state in state.waiting.firstIndex { $0.id == id }.map { $0 + 1 } }
    }

    /// Marks a request served with `board` (the session that carries it
    /// picks it up); false when the request left meanwhile.
    func allocate(_ id: Int, board: String, line: String) -> Bool {
        guard let shared else {
            return state.withLock { state in
                guard state.waiting.contains(where: { $0.id == id }) else { return false }
                state.waiting.removeAll { $0.id == id }
                state.allocated[id] = (board, line)
                return true
            }
        }
        let rows = try? shared.engine.withSession { session in
            try session.query("UPDATE queue SET allocated_board = ?, allocated_line = ? WHERE id = ? AND allocated_board IS NULL RETURNING id",
                              [.text(board), .text(line), .integer(Int64(id))])
        }
        guard rows?.isEmpty == false else { return false }
        changed()
        return true
    }

    /// What an allocated request got, once (the session takes it).
    func takeAllocation(_ id: Int) -> (board: String, line: String)? {
        guard let taken = state.withLock({ $0.allocated.removeValue(forKey: id) }) else { return nil }
        if let shared {
            _ = try? shared.engine.withSession { try $0.query("DELETE FROM queue WHERE id = ?", [.integer(Int64(id))]) }
            changed()
        }
        return taken
    }

    /// Says this process's waiters live (at every watch pass), drops those
    /// of a coordinator that stopped saying so, and reads the queue again.
    func keepAlive() {
        guard let shared else { return }
        let now = Self.milliseconds()
        _ = try? shared.engine.withSession { session in
            try session.query("UPDATE queue SET seen_ms = ? WHERE owner = ?", [.integer(now), .text(shared.owner)])
            try session.query("DELETE FROM queue WHERE seen_ms < ?", [.integer(now - Self.ownerTimeoutMilliseconds)])
        }
        try? refresh()
    }

    /// Reads the shared queue into memory: every coordinator's waiters in
    /// order, and what was allocated to this process's.
    func refresh() throws {
        guard let shared else { return }
        let rows = try shared.engine.withSession { session in
            try session.query(#"SELECT id, "user", tags, since, length, "until", owner, allocated_board, allocated_line FROM queue ORDER BY id"#)
        }
        var waiting: [Waiter] = []
        var allocated: [Int: (board: String, line: String)] = [:]
        for row in rows {
            guard row.count == 9, let id = row[0].integer.flatMap({ Int(exactly: $0) }), let user = row[1].text else { continue }
            if let board = row[7].text {
                if row[6].text == shared.owner { allocated[id] = (board, row[8].text ?? "\(board): reserved by \(user)") }
                continue
            }
            waiting.append(Waiter(id: id, user: user, tags: (row[2].text ?? "").split(separator: ",").map(String.init),
                                  since: row[3].integer ?? 0, length: row[4].integer, until: row[5].integer))
        }
        state.withLock { state in
            state.waiting = waiting
            // An allocation a session took already is not given twice.
            for (id, value) in allocated where state.allocated[id] == nil { state.allocated[id] = value }
        }
    }

    /// Tells every coordinator (this one too) that the queue changed.
    private func changed() {
        guard let shared else { return }
        try? refresh()
        shared.engine.notify(Self.channel, "")
    }

    static func milliseconds() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
}
