/// The store's schema as numbered steps, one list per part (`reservations`:
/// reservations and audit; `events`: the event log), the same logical
/// tables on both engines. `schema_versions` holds how far each part is;
/// `apply` runs the missing steps at start, under the engine's schema lock,
/// so two coordinators starting together migrate once.
public struct StoreSchema: Sendable {
    /// One step: its SQL for each engine (run in one transaction).
    public struct Step: Sendable {
        public let sqlite: @Sendable (any StoreSession) throws -> Void
        public let postgresql: String
    }

    public let part: String
    public let steps: [Step]

    /// The version this program brings a part up to.
    public var latest: Int { steps.count }

    static let versionsTable = """
        CREATE TABLE IF NOT EXISTS schema_versions (part TEXT PRIMARY KEY, version INTEGER NOT NULL)
        """

    /// The version `part` is at in the database (0: not there yet).
    public static func version(of part: String, in session: any StoreSession) throws -> Int {
        let rows = try session.query("SELECT version FROM schema_versions WHERE part = ?", [.text(part)])
        guard let value = rows.first?.first?.integer else { return 0 }
        return Int(clamping: value)
    }

    /// Brings the database up to `latest`; a database already past it
    /// (written by a newer program) is refused, naming both versions.
    public func apply(to engine: any StoreEngine) throws {
        // Up to date (every start but the first after an upgrade): a read,
        // no lock, so a store another program holds locked still opens.
        let found = try? engine.withSession { session in try Self.version(of: part, in: session) }
        if found == latest { return }
        try engine.migrating { session in
            try session.execute(Self.versionsTable)
            let current = try Self.version(of: part, in: session)
            guard current <= latest else {
                throw StoreError(.failed, "\(engine.name): its \(part) schema is version \(current), "
                                 + "this program knows up to \(latest): upgrade it")
            }
            for number in current..<latest {
                switch engine.dialect {
                case .sqlite: try steps[number].sqlite(session)
                case .postgresql: try session.execute(steps[number].postgresql)
                }
            }
            if current < latest {
                try session.query(current == 0 ? "INSERT INTO schema_versions (part, version) VALUES (?, ?)"
                                               : "UPDATE schema_versions SET version = ? WHERE part = ?",
                                  current == 0 ? [.text(part), .integer(Int64(latest))] : [.integer(Int64(latest)), .text(part)])
            }
        }
    }

    // MARK: The parts

    /// Reservations and the audit log. PostgreSQL refuses two reservations
    /// of one board that overlap with an exclusion constraint (btree_gist),
    /// SQLite with triggers; both whatever program writes the row.
    public static let reservations = StoreSchema(part: "reservations", steps: [
        Step(sqlite: { session in
            // A file from before numbered steps has these already: each
            // statement checks what is there, so it runs on it unchanged.
            try session.execute("""
                CREATE TABLE IF NOT EXISTS reservations (
                    id INTEGER PRIMARY KEY, board TEXT NOT NULL, user TEXT NOT NULL,
                    start INTEGER NOT NULL, end INTEGER NOT NULL, source TEXT, CHECK (end > start));
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
                    id INTEGER PRIMARY KEY, time INTEGER NOT NULL, user TEXT NOT NULL,
                    action TEXT NOT NULL, board TEXT, detail TEXT);
                """)
            let columns = try session.query("PRAGMA table_info(reservations)").compactMap { $0[1].text }
            if !columns.contains("source") { try session.execute("ALTER TABLE reservations ADD COLUMN source TEXT") }
            try session.execute("CREATE UNIQUE INDEX IF NOT EXISTS reservations_by_source ON reservations (board, source)")
            if !columns.contains("guests") { try session.execute("ALTER TABLE reservations ADD COLUMN guests TEXT") }
        }, postgresql: """
            CREATE EXTENSION IF NOT EXISTS btree_gist;
            CREATE TABLE reservations (
                id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                board TEXT NOT NULL, "user" TEXT NOT NULL, start BIGINT NOT NULL, "end" BIGINT NOT NULL,
                source TEXT, guests TEXT, CHECK ("end" > start),
                CONSTRAINT reservations_no_overlap EXCLUDE USING gist (board WITH =, int8range(start, "end") WITH &&));
            CREATE UNIQUE INDEX reservations_by_source ON reservations (board, source);
            CREATE INDEX reservations_by_end ON reservations ("end");
            CREATE TABLE audit (
                id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, time BIGINT NOT NULL, "user" TEXT NOT NULL,
                action TEXT NOT NULL, board TEXT, detail TEXT);
            """),
        // 2: how each board's calendar stands, as the coordinator that
        // syncs it last saw (the others lock a stale board by it too).
        Step(sqlite: { session in
            try session.execute("""
                CREATE TABLE IF NOT EXISTS calendar_status (
                    board TEXT PRIMARY KEY, unreadable_since_ms INTEGER, last_error TEXT, last_sync_ms INTEGER)
                """)
        }, postgresql: """
            CREATE TABLE calendar_status (
                board TEXT PRIMARY KEY, unreadable_since_ms BIGINT, last_error TEXT, last_sync_ms BIGINT)
            """),
        // 3: the queue the coordinators on one store share (`reserve --tag
        // --wait`): a waiter, its coordinator (`owner`, which says it lives
        // in `seen_ms`), and the board allocated to it.
        Step(sqlite: { session in
            try session.execute("""
                CREATE TABLE IF NOT EXISTS queue (
                    id INTEGER PRIMARY KEY AUTOINCREMENT, "user" TEXT NOT NULL, tags TEXT NOT NULL, since INTEGER NOT NULL,
                    length INTEGER, "until" INTEGER, owner TEXT NOT NULL, seen_ms INTEGER NOT NULL,
                    allocated_board TEXT, allocated_line TEXT)
                """)
        }, postgresql: """
            CREATE TABLE queue (
                id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "user" TEXT NOT NULL, tags TEXT NOT NULL, since BIGINT NOT NULL,
                length BIGINT, "until" BIGINT, owner TEXT NOT NULL, seen_ms BIGINT NOT NULL,
                allocated_board TEXT, allocated_line TEXT)
            """),
        // 4: a calendar event's title, shown (as text) on the web page.
        Step(sqlite: { session in
            let columns = try session.query("PRAGMA table_info(reservations)").compactMap { $0[1].text }
            if !columns.contains("title") { try session.execute("ALTER TABLE reservations ADD COLUMN title TEXT") }
        }, postgresql: "ALTER TABLE reservations ADD COLUMN title TEXT"),
        // 5: the web page's sign-in links, browser sessions and bearer
        // tokens, by the SHA-256 of their secret: they outlive a restart,
        // and every coordinator on the store knows (and revokes) them.
        Step(sqlite: { session in
            try session.execute("""
                CREATE TABLE IF NOT EXISTS web_grants (
                    secret_sha256 TEXT PRIMARY KEY, kind TEXT NOT NULL, "user" TEXT NOT NULL, admin INTEGER NOT NULL,
                    expires_ms INTEGER, csrf TEXT)
                """)
        }, postgresql: """
            CREATE TABLE web_grants (
                secret_sha256 TEXT PRIMARY KEY, kind TEXT NOT NULL, "user" TEXT NOT NULL, admin BIGINT NOT NULL,
                expires_ms BIGINT, csrf TEXT)
            """),
    ])

    /// The event log. An agent's event is merged once whichever coordinator
    /// merges it: (agent, agent_id) is unique.
    public static let events = StoreSchema(part: "events", steps: [
        Step(sqlite: { session in
            try session.execute("""
                CREATE TABLE IF NOT EXISTS events (
                    id INTEGER PRIMARY KEY AUTOINCREMENT, time_ms INTEGER NOT NULL, type TEXT NOT NULL,
                    board TEXT, user TEXT, agent TEXT, agent_id INTEGER, fields TEXT NOT NULL DEFAULT '{}');
                DROP INDEX IF EXISTS events_by_agent;
                DELETE FROM events WHERE agent_id IS NOT NULL AND id NOT IN
                    (SELECT MIN(id) FROM events WHERE agent_id IS NOT NULL GROUP BY agent, agent_id);
                CREATE UNIQUE INDEX IF NOT EXISTS events_by_agent_id ON events (agent, agent_id);
                """)
        }, postgresql: """
            CREATE TABLE events (
                id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, time_ms BIGINT NOT NULL, type TEXT NOT NULL,
                board TEXT, "user" TEXT, agent TEXT, agent_id BIGINT, fields TEXT NOT NULL DEFAULT '{}');
            CREATE UNIQUE INDEX events_by_agent_id ON events (agent, agent_id);
            CREATE INDEX events_by_time ON events (time_ms);
            """),
    ])
}
