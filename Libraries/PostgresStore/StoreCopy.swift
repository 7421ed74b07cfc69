import Reservations

/// `migrate-store`: a lab's SQLite store copied into PostgreSQL, rows and
/// ids as they were, in one transaction (a failure leaves the target as it
/// was). The queue lives in memory, so there is none to copy.
public enum StoreCopy {
    /// How many rows of each table arrived.
    public struct Counts: Sendable, Equatable {
        public var reservations = 0
        public var audit = 0
        public var events = 0
    }

    /// The tables copied, each with its columns in the order both schemas give them.
    static let tables: [(name: String, columns: String)] = [
        ("reservations", #"id, board, "user", start, "end", source, guests, title"#),
        ("audit", #"id, time, "user", action, board, detail"#),
        ("events", #"id, time_ms, type, board, "user", agent, agent_id, fields"#),
        // The web's sign-ins (by their secrets' SHA-256): nobody is signed out by the move.
        ("web_grants", #"secret_sha256, kind, "user", admin, expires_ms, csrf"#),
    ]

    /// Copies `store` (reservations and audit) and `events` (when the lab
    /// has an event log) into `target`, whose schema is brought up to date
    /// first. A target that already holds rows is refused unless `force`,
    /// which empties it first.
    public static func copy(store: any StoreEngine, events: (any StoreEngine)?, to target: PostgresEngine,
                            force: Bool) throws -> Counts {
        try StoreSchema.reservations.apply(to: target)
        try StoreSchema.events.apply(to: target)
        try StoreSchema.reservations.apply(to: store)
        if let events { try StoreSchema.events.apply(to: events) }
        return try target.transaction { session in
            let held = try tables.map { table in
                (table.name, try session.query("SELECT COUNT(*) FROM \(table.name)").first?.first?.integer ?? 0)
            }.filter { $0.1 > 0 }
            if !held.isEmpty {
                guard force else {
                    throw StoreError(.failed, "\(target.name) already holds "
                                     + held.map { "\($0.1) row\($0.1 == 1 ? "" : "s") of \($0.0)" }.joined(separator: ", ")
                                     + ": give --force to replace them")
                }
                try session.execute("TRUNCATE reservations, audit, events, web_grants")
            }
            var counts = Counts()
            for table in tables {
                guard let source = table.name == "events" ? events : store else { continue }
                guard table.name != "web_grants" else {
                    let rows = try source.withSession { try $0.query("SELECT \(table.columns) FROM web_grants") }
                    try insert(rows, into: table.name, columns: table.columns, session)
                    continue
                }
                let rows = try source.withSession { try $0.query("SELECT \(table.columns) FROM \(table.name) ORDER BY id") }
                try insert(rows, into: table.name, columns: table.columns, session)
                // The next id the target hands out follows the copied ones.
                try session.query("SELECT setval(pg_get_serial_sequence('\(table.name)', 'id'), "
                                  + "COALESCE((SELECT MAX(id) FROM \(table.name)), 0) + 1, false)")
                switch table.name {
                case "reservations": counts.reservations = rows.count
                case "audit": counts.audit = rows.count
                default: counts.events = rows.count
                }
            }
            return counts
        }
    }

    /// Inserts `rows` a few hundred at a time (one statement each).
    static func insert(_ rows: [[SQLValue]], into table: String, columns: String, _ session: any StoreSession) throws {
        let width = columns.split(separator: ",").count
        var start = 0
        while start < rows.count {
            let batch = rows[start..<min(start + 500, rows.count)]
            let placeholders = "(" + Array(repeating: "?", count: width).joined(separator: ", ") + ")"
            let sql = "INSERT INTO \(table) (\(columns)) VALUES " + Array(repeating: placeholders, count: batch.count).joined(separator: ", ")
            try session.query(sql, batch.flatMap { $0 })
            start += batch.count
        }
    }
}
