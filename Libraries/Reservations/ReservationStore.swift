import CSQLite

/// One reservation: `user` holds `board` from `start` to `end` (Unix seconds,
/// end excluded). `source` is nil for a reservation made in the built-in
/// store, or the calendar event it mirrors (its event ID).
public struct Reservation: Sendable, Equatable {
    public let id: Int64
    public let board: String
    public let user: String
    public let start: Int64
    public let end: Int64
    public let source: String?
    /// Other users who may use the board in this slot beside its holder: the
    /// accepted attendees of its calendar event (`calendar.google.attendees`).
    /// Only the holder may release or extend it.
    public let guests: [String]
    /// A calendar event's title (nil: none, or a local reservation).
    public let title: String?

    init(id: Int64, board: String, user: String, start: Int64, end: Int64, source: String? = nil, guests: [String] = [],
         title: String? = nil) {
        self.title = title
        self.id = id
        self.board = board
        self.user = user
        self.start = start
        self.end = end
        self.source = source
        self.guests = guests
    }

    public func isCurrent(at now: Int64) -> Bool { start <= now && now < end }

    /// Whether `user` may use the board in this slot: its holder or a guest.
    public func allows(_ user: String) -> Bool { user == self.user || guests.contains(user) }
}

/// One line of the audit log: who did what to which board, and when.
public struct AuditEntry: Sendable, Equatable {
    public let time: Int64
    public let user: String
    public let action: String
    public let board: String?
    public let detail: String?

    public init(time: Int64, user: String, action: String, board: String?, detail: String?) {
        self.time = time
        self.user = user
        self.action = action
        self.board = board
        self.detail = detail
    }
}

/// Why a reservation was not made.
public enum ReservationRefusal: Error, Sendable, Equatable {
    /// Someone (maybe the caller) holds the board for part of that time.
    case conflict(Reservation)
    /// The end is not after the start.
    case emptyPeriod
}

/// Reservations and the audit log, in SQLite under `data_dir` or in a
/// PostgreSQL several coordinators share (DESIGN.md "State and scale"),
/// behind one `StoreEngine`: no SQL dialect is seen above this type. The
/// database itself refuses two reservations of one board that overlap,
/// whichever code path, program or coordinator writes them.
public final class ReservationStore: Sendable {
    public let engine: any StoreEngine

    /// Opens the store on `engine`, bringing its schema up to date.
    public init(engine: any StoreEngine) throws {
        self.engine = engine
        try StoreSchema.reservations.apply(to: engine)
    }

    /// Opens (or creates) the SQLite store at `path`; a file that is not a
    /// SQLite database, or one another program holds locked, is one error
    /// naming the file and what to do.
    public convenience init(path: String) throws {
        do {
            try self.init(engine: try SQLiteEngine(path: path))
        } catch {
            let code = (error as? SQLiteError)?.code
            let message = (error as? SQLiteError)?.message ?? (error as? StoreError)?.message ?? "\(error)"
            let hint = code == SQLITE_NOTADB || code == SQLITE_CORRUPT || message.contains("not a database")
                ? " (move it aside to start with no reservations, or restore it from a backup)"
                : code == SQLITE_BUSY || code == SQLITE_LOCKED || message.contains("locked")
                ? " (another program holds it: is a second agent or coordinator running on this data_dir?)" : ""
            throw StoreError(.failed, "the reservations database \(path): \(message)\(hint)")
        }
    }

    // MARK: Reservations

    /// Reserves `board` for `user` from `start` to `end`. When the caller's
    /// own current reservation is the only conflict, it is moved to end at
    /// `end` instead (a `reserve` again extends or shortens it).
    public func reserve(board: String, user: String, start: Int64, end: Int64) throws -> Reservation {
        guard end > start else { throw ReservationRefusal.emptyPeriod }
        return try engine.withSession { session in
            // Another writer may end the conflict between the refusal and the
            // read of it: then the insert is tried again.
            for _ in 0..<3 {
                do {
                    let rows = try session.query("INSERT INTO reservations (board, \"user\", start, \"end\") VALUES (?, ?, ?, ?) RETURNING id",
                                                 [.text(board), .text(user), .integer(start), .integer(end)])
                    return Reservation(id: rows.first?.first?.integer ?? 0, board: board, user: user, start: start, end: end)
                } catch let error as StoreError where error.isConstraint {
                    let overlapping = try Self.overlapping(session, board: board, start: start, end: end)
                    if overlapping.count == 1, let own = overlapping.first, own.user == user, own.start <= start {
                        do {
                            try session.query("UPDATE reservations SET \"end\" = ? WHERE id = ?", [.integer(end), .integer(own.id)])
                            return Reservation(id: own.id, board: board, user: user, start: own.start, end: end, source: own.source,
                                               guests: own.guests, title: own.title)
                        } catch let error as StoreError where error.isConstraint {}
                    }
                    if let holder = overlapping.first(where: { $0.user != user }) ?? overlapping.first {
                        throw ReservationRefusal.conflict(holder)
                    }
                }
            }
            throw StoreError(.failed, "reserving \(board) kept conflicting with reservations that then were gone")
        }
    }

    /// The reservation of `board` current at `now`, if any.
    public func current(board: String, at now: Int64) throws -> Reservation? {
        try select("WHERE board = ? AND start <= ? AND \"end\" > ?", [.text(board), .integer(now), .integer(now)]).first
    }

    /// Each board's reservation at `now`, in one query.
    public func currentByBoard(at now: Int64) throws -> [String: Reservation] {
        Dictionary(try select("WHERE start <= ? AND \"end\" > ?", [.integer(now), .integer(now)]).map { ($0.board, $0) }) { first, _ in first }
    }

    /// Reservations that have not ended at `now`, by board then start.
    public func active(at now: Int64) throws -> [Reservation] {
        try select("WHERE \"end\" > ? ORDER BY board, start", [.integer(now)])
    }

    /// Ends a reservation at `now` (one that has not begun is removed).
    public func end(_ reservation: Reservation, at now: Int64) throws {
        try engine.withSession { session in
            if reservation.start >= now {
                try session.query("DELETE FROM reservations WHERE id = ?", [.integer(reservation.id)])
            } else {
                try session.query("UPDATE reservations SET \"end\" = ? WHERE id = ? AND \"end\" > ?",
                                  [.integer(now), .integer(reservation.id), .integer(now)])
            }
        }
    }

    static func overlapping(_ session: any StoreSession, board: String, start: Int64, end: Int64) throws -> [Reservation] {
        try select(session, "WHERE board = ? AND start < ? AND ? < \"end\" ORDER BY start", [.text(board), .integer(end), .integer(start)])
    }

    func select(_ clause: String, _ parameters: [SQLValue]) throws -> [Reservation] {
        try engine.withSession { session in try Self.select(session, clause, parameters) }
    }

    static let columns = "SELECT id, board, \"user\", start, \"end\", source, guests, title FROM reservations "

    static func select(_ session: any StoreSession, _ clause: String, _ parameters: [SQLValue]) throws -> [Reservation] {
        try session.query(columns + clause, parameters).map(reservation)
    }

    static func reservation(_ row: [SQLValue]) -> Reservation {
        Reservation(id: row[0].integer ?? 0, board: row[1].text ?? "", user: row[2].text ?? "",
                    start: row[3].integer ?? 0, end: row[4].integer ?? 0, source: row[5].text,
                    guests: row[6].text.map { $0.split(separator: " ").map(String.init) } ?? [], title: row.count > 7 ? row[7].text : nil)
    }

    // MARK: Audit

    /// Appends one line to the audit log.
    public func audit(user: String, action: String, board: String?, detail: String? = nil, at time: Int64) throws {
        try engine.withSession { session in
            try session.query("INSERT INTO audit (time, \"user\", action, board, detail) VALUES (?, ?, ?, ?, ?)",
                              [.integer(time), .text(user), .text(action), board.map(SQLValue.text) ?? .null,
                               detail.map(SQLValue.text) ?? .null])
        }
    }

    /// The last `limit` audit lines, oldest first.
    public func auditLog(limit: Int = 1000) throws -> [AuditEntry] {
        try engine.withSession { session in
            try session.query("SELECT time, \"user\", action, board, detail FROM "
                              + "(SELECT * FROM audit ORDER BY id DESC LIMIT ?) AS newest ORDER BY id", [.integer(Int64(limit))]).map { row in
                AuditEntry(time: row[0].integer ?? 0, user: row[1].text ?? "", action: row[2].text ?? "",
                           board: row[3].text, detail: row[4].text)
            }
        }
    }

    /// Direct SQL on the store, for tests and maintenance: the constraints apply.
    public func execute(_ sql: String, _ parameters: [SQLValue] = []) throws {
        try engine.withSession { session in _ = try session.query(sql, parameters) }
    }
}
