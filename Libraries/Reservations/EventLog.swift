#if canImport(Glibc)
import Glibc
#endif
import CSQLite
import Commands
import Foundation
import Logging
import ProvisionerCore
import Synchronization
import SystemSupport
import Wire

/// The lab's events (DESIGN.md "Events"), in the store (`DATA_DIR/events.sqlite`,
/// or the PostgreSQL several coordinators share): what changed, on which
/// board, by whom, each with an increasing id that `events --since ID`
/// resumes after. Kept 7 days and at most 200,000, the oldest going first.
/// Writers never fail their command over it: a store error is logged.
/// Followers wait on it (`waitForMore`); on a shared store they hear the
/// other coordinators' events too (`LISTEN`).
public final class EventLog: @unchecked Sendable {
    // @unchecked: `engine` serializes itself; `wake` is a condition.
    public let engine: any StoreEngine
    private let logger: Logger
    private let wake = NSCondition()
    private let latest = Atomic<Int64>(0)
    private let appended = Atomic<Int>(0)
    private let listener = Mutex<StoreListener?>(nil)
    /// Who this log's own events are from (an agent's name), if anyone.
    let origin: String?

    public static let keepSeconds: Int64 = 7 * 86400
    public static let maxEvents: Int64 = 200_000
    /// The channel a shared store announces each new event's id on.
    static let channel = "provisioner_events"

    /// Opens (or creates) the SQLite log at `path`; a file that is not a
    /// database, or one another program holds locked, is one error naming it.
    public convenience init(path: String, origin: String? = nil, logger: Logger) throws {
        do {
            try self.init(engine: try SQLiteEngine(path: path), origin: origin, logger: logger)
        } catch {
            let code = (error as? SQLiteError)?.code
            let message = (error as? SQLiteError)?.message ?? (error as? StoreError)?.message ?? "\(error)"
            let hint = code == SQLITE_NOTADB || code == SQLITE_CORRUPT || message.contains("not a database")
                ? " (move it aside to start with no events)" : ""
            throw StoreError(.failed, "the events database \(path): \(message)\(hint)")
        }
    }

    /// Opens the log on `engine`, bringing its schema up to date; on a
    /// shared store, starts listening for the other writers' events.
    public init(engine: any StoreEngine, origin: String? = nil, logger: Logger) throws {
        self.engine = engine
        self.logger = logger
        self.origin = origin
        try StoreSchema.events.apply(to: engine)
        // The last id handed out, even when pruning left no event behind.
        let last = try engine.withSession { session in
            try session.query(engine.dialect == .sqlite
                              ? "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)"
                              : "SELECT COALESCE(pg_sequence_last_value(pg_get_serial_sequence('events', 'id')), 0)")
        }.first?.first?.integer ?? 0
        latest.store(last, ordering: .releasing)
        listener.withLock { $0 = engine.listen(Self.channel) { [weak self] payload in
            guard let self else { return }
            // An empty payload: the listener was away; read where the log is.
            let id = Int64(payload) ?? (try? engine.withSession { try $0.query("SELECT COALESCE(MAX(id), 0) FROM events") })?
                .first?.first?.integer ?? 0
            if id > 0 { self.announce(id) }
        } }
        prune()
    }

    deinit { listener.withLock { $0?.stop() } }

    /// Stops hearing other writers (a shared store's listener thread).
    public func close() { listener.withLock { $0?.stop(); $0 = nil } }

    /// Wakes followers: events up to `id` are there to read.
    private func announce(_ id: Int64) {
        wake.lock()
        if id > latest.load(ordering: .acquiring) { latest.store(id, ordering: .releasing) }
        wake.broadcast()
        wake.unlock()
    }

    /// The id of the newest event (0: none yet).
    public var lastID: Int64 { latest.load(ordering: .acquiring) }

    /// Writes an event of this log's own (`origin`, or `agent`, as its agent).
    @discardableResult
    public func append(_ type: String, board: String? = nil, user: String? = nil, agent: String? = nil,
                       _ fields: [String: EventValue] = [:]) -> Int64? {
        insert(type: type, board: board, user: user, agent: agent ?? origin, agentID: nil, fields: fields, time: wallClock())
    }

    /// Writes an agent's event into the coordinator's log (its own id kept
    /// as `agent_id`, for resuming); nil when it was there already.
    @discardableResult
    public func merge(_ event: LabEvent, from agent: String) -> Int64? {
        guard event.id > lastAgentID(agent) else { return nil }
        let time = ISOTime.parse(Array(event.time.utf8)).map { Double($0.seconds) + Double($0.millis) / 1000 } ?? wallClock()
        return insert(type: event.type, board: event.board, user: event.user, agent: agent, agentID: event.id,
                      fields: event.fields, time: time)
    }

    /// Forgets which of `agent`'s ids were merged (its log began anew):
    /// the events stay, and its ids are merged again from 1.
    public func forgetAgentIDs(_ agent: String) {
        do { try engine.withSession { try $0.query("UPDATE events SET agent_id = NULL WHERE agent = ?", [.text(agent)]) } } catch {
            logger.error("events: cannot forget \(agent)'s ids: \(error)")
        }
    }

    /// The newest event of `agent` merged here (0: none).
    public func lastAgentID(_ agent: String) -> Int64 {
        (try? engine.withSession { try $0.query("SELECT COALESCE(MAX(agent_id), 0) FROM events WHERE agent = ?", [.text(agent)]) })?
            .first?.first?.integer ?? 0
    }

    private func insert(type: String, board: String?, user: String?, agent: String?, agentID: Int64?,
                        fields: [String: EventValue], time: Double) -> Int64? {
        let text = Wire.line(fields)
        let milliseconds = Int64(exactly: (min(max(time, 0), 1e12) * 1000).rounded()) ?? 0
        let id: Int64
        do {
            // One writer at a time on a shared store, so ids become visible
            // in their order and a follower reading after ID misses none.
            let rows = try engine.transaction { session in
                if engine.dialect == .postgresql { try session.query("SELECT pg_advisory_xact_lock(\(StoreLocks.events))") }
                return try session.query("INSERT INTO events (time_ms, type, board, \"user\", agent, agent_id, fields) VALUES (?, ?, ?, ?, ?, ?, ?) "
                                         + "ON CONFLICT DO NOTHING RETURNING id",
                                         [.integer(milliseconds), .text(type), board.map { .text($0) } ?? .null, user.map { .text($0) } ?? .null,
                                          agent.map { .text($0) } ?? .null, agentID.map { .integer($0) } ?? .null, .text(text)])
            }
            // Nothing inserted: another coordinator merged this agent event first.
            guard let inserted = rows.first?.first?.integer else { return nil }
            id = inserted
        } catch {
            logger.error("events: cannot record \(type)\(board.map { " of \($0)" } ?? ""): \(error)")
            return nil
        }
        announce(id)
        engine.notify(Self.channel, String(id))
        if appended.add(1, ordering: .relaxed).newValue % 1000 == 0 { prune() }
        return id
    }

    /// Events after `id`, oldest first, at most `limit`; only `board`'s when given.
    public func events(after id: Int64, board: String? = nil, limit: Int = 1000) -> [LabEvent] {
        var sql = "SELECT id, time_ms, type, board, \"user\", agent, fields FROM events WHERE id > ?"
        var parameters: [SQLValue] = [.integer(id)]
        if let board {
            sql += " AND board = ?"
            parameters.append(.text(board))
        }
        sql += " ORDER BY id LIMIT ?"
        parameters.append(.integer(Int64(min(max(limit, 1), 100_000))))
        let rows: [[SQLValue]]
        do { rows = try engine.withSession { try $0.query(sql, parameters) } } catch {
            logger.error("events: cannot read: \(error)")
            return []
        }
        return rows.compactMap { row in
            guard row.count == 7, let id = row[0].integer, let milliseconds = row[1].integer, let type = row[2].text else { return nil }
            let fields = (try? Wire.decode([String: EventValue].self, from: Array((row[6].text ?? "{}").utf8))) ?? [:]
            return LabEvent(id: id, time: ISOTime.format(Double(milliseconds) / 1000, millis: true), type: type,
                            board: row[3].text, user: row[4].text, agent: row[5].text, fields: fields)
        }
    }

    /// Whether an event of `type` on `board` was written in the last
    /// `seconds` (by any coordinator on a shared store).
    public func recently(_ type: String, board: String, seconds: Int64) -> Bool {
        let since = (Int64(wallClock()) - seconds) * 1000
        let rows = try? engine.withSession { session in
            try session.query("SELECT 1 FROM events WHERE type = ? AND board = ? AND time_ms >= ? LIMIT 1",
                              [.text(type), .text(board), .integer(since)])
        }
        return rows?.isEmpty == false
    }

    /// The id of the last of the latest `count` events (to list the recent ones).
    public func idBefore(last count: Int) -> Int64 {
        max(0, lastID - Int64(count))
    }

    /// Waits until an event newer than `id` is written, or `timeout` passes.
    public func waitForMore(after id: Int64, timeout: Double) {
        wake.lock()
        defer { wake.unlock() }
        if lastID > id { return }
        _ = wake.wait(until: Date(timeIntervalSinceNow: timeout))
    }

    /// Wakes every `waitForMore` now (a server that stops ends its streams).
    public func wakeWaiters() {
        wake.lock()
        wake.broadcast()
        wake.unlock()
    }

    /// Drops what is older than 7 days, and the oldest past 200,000.
    func prune() {
        let cutoff = (Int64(wallClock()) - Self.keepSeconds) * 1000
        do {
            try engine.withSession { session in
                try session.query("DELETE FROM events WHERE time_ms < ?", [.integer(cutoff)])
                try session.query("DELETE FROM events WHERE id <= ?", [.integer(lastID - Self.maxEvents)])
            }
        } catch {
            logger.warning("events: cannot drop old events: \(error)")
        }
    }

    /// `events [--board B] [--since ID] [--follow] [--json]`: the events after
    /// ID (by default the last 100), then, with `--follow`, each as it comes
    /// until the client goes or types Ctrl-C.
    public func serve(_ command: EventsCommand, _ session: ShellSession) {
        var after = command.since ?? (command.follow ? lastID : idBefore(last: 100))
        func printNew() {
            while true {
                let batch = events(after: after, board: command.board, limit: 1000)
                for event in batch { session.print((command.json ? Wire.line(event) : event.text) + "\n") }
                guard let last = batch.last else { return }
                after = last.id
                if batch.count < 1000 { return }
            }
        }
        // Filtered by board, `after` moves only past that board's events: the others are skipped again, harmlessly.
        printNew()
        guard command.follow else { return }
        var inputEnded = false
        while !session.streams.isClosed && session.cutMessage == nil {
            if inputEnded {
                waitForMore(after: after, timeout: 0.2)
            } else {
                switch session.read(timeout: 0.01) {
                case .end: inputEnded = true
                case .bytes(let bytes) where session.isTerminal && (bytes.contains(0x03) || bytes.contains(0x04)): return
                default: break
                }
                waitForMore(after: after, timeout: 0.2)
            }
            printNew()
        }
    }
}
