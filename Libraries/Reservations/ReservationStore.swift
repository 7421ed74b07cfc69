import CSQLite
import Synchronization

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

    init(id: Int64, board: String, user: String, start: Int64, end: Int64, source: String? = nil, guests: [String] = []) {
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

/// Reservations and the audit log in SQLite under the coordinator's
/// `data_dir` (DESIGN.md "State and scale"). The store itself refuses two
/// reservations of one board that overlap: a trigger aborts such an INSERT
/// or UPDATE, whichever code path (or `sqlite3` shell) issues it.
public final class ReservationStore: Sendable {
    let database: SQLiteDatabase
    /// One writer at a time in this process, so "insert, then read back the
    /// conflict" sees a consistent table.
    let lock = Mutex<Void>(())

    public static let schema = """
        CREATE TABLE IF NOT EXISTS reservations (
            id INTEGER PRIMARY KEY,
            board TEXT NOT NULL,
            user TEXT NOT NULL,
            start INTEGER NOT NULL,
            end INTEGER NOT NULL,
            source TEXT,
            CHECK (end > start)
        );
        CREATE INDEX IF NOT EXISTS reservations_by_board ON reservations (board, end);
        CREATE TRIGGER IF NOT EXISTS reservations_no_overlap_insert
        BEFORE INSERT ON reservations
        WHEN EXISTS (SELECT 1 FROM reservations
                     WHERE board = NEW.board AND start < NEW.end AND NEW.start < end)
        BEGIN SELECT RAISE(ABORT, 'overlapping reservation'); END;
        CREATE TRIGGER IF NOT EXISTS reservations_no_overlap_update
        BEFORE UPDATE OF board, start, end ON reservations
        WHEN EXISTS (SELECT 1 FROM reservations
                     WHERE id != NEW.id AND board = NEW.board AND start < NEW.end AND NEW.start < end)
        BEGIN SELECT RAISE(ABORT, 'overlapping reservation'); END;
        CREATE TABLE IF NOT EXISTS audit (
            id INTEGER PRIMARY KEY,
            time INTEGER NOT NULL,
            user TEXT NOT NULL,
            action TEXT NOT NULL,
            board TEXT,
            detail TEXT
        );
        """

    /// Opens (or creates) `path` and its tables.
    /// Opens (or creates) the store at `path`; a file that is not a SQLite
    /// database, or one another program holds locked, is one error naming
    /// the file and what to do.
    public init(path: String) throws(SQLiteError) {
        do {
            database = try SQLiteDatabase(path: path)
            try database.execute(Self.schema)
            try Self.migrate(database)
        } catch {
            let hint = error.code == SQLITE_NOTADB || error.code == SQLITE_CORRUPT
                ? " (move it aside to start with no reservations, or restore it from a backup)"
                : error.code == SQLITE_BUSY || error.code == SQLITE_LOCKED ? " (another program holds it: is a second agent or coordinator running on this data_dir?)" : ""
            throw SQLiteError(code: error.code, message: "the reservations database \(path): \(error.message)\(hint)")
        }
    }

    /// Brings a database made by an older version up to this schema; each
    /// step checks what is there, so running it again changes nothing.
    static func migrate(_ database: SQLiteDatabase) throws(SQLiteError) {
        // 1: `source` (calendar event ID; NULL for local reservations).
        let columns = try database.query("PRAGMA table_info(reservations)").compactMap { $0[1].text }
        if !columns.contains("source") {
            try database.execute("ALTER TABLE reservations ADD COLUMN source TEXT")
        }
        try database.execute("CREATE UNIQUE INDEX IF NOT EXISTS reservations_by_source ON reservations (board, source)")
        // 2: `guests` (user names separated by spaces; NULL: none).
        if !columns.contains("guests") {
            try database.execute("ALTER TABLE reservations ADD COLUMN guests TEXT")
        }
    }

    // MARK: Reservations

    /// Reserves `board` for `user` from `start` to `end`. When the caller's
    /// own current reservation is the only conflict, it is moved to end at
    /// `end` instead (a `reserve` again extends or shortens it).
    public func reserve(board: String, user: String, start: Int64, end: Int64) throws -> Reservation {
        guard end > start else { throw ReservationRefusal.emptyPeriod }
        return try lock.withLock { _ in
            do {
                try database.query("INSERT INTO reservations (board, user, start, end) VALUES (?, ?, ?, ?)",
                                   [.text(board), .text(user), .integer(start), .integer(end)])
                return Reservation(id: database.lastInsertedRow, board: board, user: user, start: start, end: end)
            } catch let error as SQLiteError where error.isConstraint {
                let overlapping = try overlappingLocked(board: board, start: start, end: end)
                if overlapping.count == 1, let own = overlapping.first, own.user == user, own.start <= start {
                    do {
                        try database.query("UPDATE reservations SET end = ? WHERE id = ?", [.integer(end), .integer(own.id)])
                        return Reservation(id: own.id, board: board, user: user, start: own.start, end: end, source: own.source,
                                           guests: own.guests)
                    } catch let error as SQLiteError where error.isConstraint {}
                }
                guard let holder = overlapping.first(where: { $0.user != user }) ?? overlapping.first else { throw error }
                throw ReservationRefusal.conflict(holder)
            }
        }
    }

    /// The reservation of `board` current at `now`, if any.
    public func current(board: String, at now: Int64) throws -> Reservation? {
        try lock.withLock { _ in
            try reservations("WHERE board = ? AND start <= ? AND end > ?", [.text(board), .integer(now), .integer(now)]).first
        }
    }

    /// Each board's reservation at `now`, in one query.
    public func currentByBoard(at now: Int64) throws -> [String: Reservation] {
        Dictionary(try active(at: now).filter { $0.isCurrent(at: now) }.map { ($0.board, $0) }) { first, _ in first }
    }

    /// Reservations that have not ended at `now`, by board then start.
    public func active(at now: Int64) throws -> [Reservation] {
        try lock.withLock { _ in try reservations("WHERE end > ? ORDER BY board, start", [.integer(now)]) }
    }

    /// Ends a reservation at `now` (one that has not begun is removed).
    public func end(_ reservation: Reservation, at now: Int64) throws {
        try lock.withLock { _ -> Void in
            if reservation.start >= now {
                try database.query("DELETE FROM reservations WHERE id = ?", [.integer(reservation.id)])
            } else {
                try database.query("UPDATE reservations SET end = ? WHERE id = ? AND end > ?",
                                   [.integer(now), .integer(reservation.id), .integer(now)])
            }
        }
    }

    func overlappingLocked(board: String, start: Int64, end: Int64) throws -> [Reservation] {
        try reservations("WHERE board = ? AND start < ? AND ? < end ORDER BY start",
                         [.text(board), .integer(end), .integer(start)])
    }

    func reservations(_ clause: String, _ parameters: [SQLiteValue]) throws -> [Reservation] {
        try database.query("SELECT id, board, user, start, end, source, guests FROM reservations " + clause, parameters).map { row in
            Reservation(id: row[0].integer ?? 0, board: row[1].text ?? "", user: row[2].text ?? "",
                        start: row[3].integer ?? 0, end: row[4].integer ?? 0, source: row[5].text,
                        guests: row[6].text.map { $0.split(separator: " ").map(String.init) } ?? [])
        }
    }

    // MARK: Audit

    /// Appends one line to the audit log.
    public func audit(user: String, action: String, board: String?, detail: String? = nil, at time: Int64) throws {
        try lock.withLock { _ -> Void in
            try database.query("INSERT INTO audit (time, user, action, board, detail) VALUES (?, ?, ?, ?, ?)",
                               [.integer(time), .text(user), .text(action), board.map(SQLiteValue.text) ?? .null,
                                detail.map(SQLiteValue.text) ?? .null])
        }
    }

    /// The last `limit` audit lines, oldest first.
    public func auditLog(limit: Int = 1000) throws -> [AuditEntry] {
        try lock.withLock { _ in
            try database.query("SELECT time, user, action, board, detail FROM "
                               + "(SELECT * FROM audit ORDER BY id DESC LIMIT ?) ORDER BY id", [.integer(Int64(limit))]).map { row in
                AuditEntry(time: row[0].integer ?? 0, user: row[1].text ?? "", action: row[2].text ?? "",
                           board: row[3].text, detail: row[4].text)
            }
        }
    }

    /// Direct SQL on the store, for tests and maintenance: the triggers apply.
    public func execute(_ sql: String, _ parameters: [SQLiteValue] = []) throws {
        _ = try lock.withLock { _ in try database.query(sql, parameters) }
    }
}
