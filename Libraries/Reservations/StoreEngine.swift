import CSQLite
import Foundation

/// Why the store failed, the same for every engine: the code above the
/// store tells a refused write from a database that cannot be reached, and
/// never sees an engine's own error type.
public struct StoreError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// A constraint refused the write (an overlap, a unique key, a CHECK).
        case constraint
        /// The database cannot be reached now (down, restarting, every
        /// connection busy); the same call may work later.
        case unavailable
        /// Anything else (a full disk, a corrupt file, a bug).
        case failed
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var isConstraint: Bool { kind == .constraint }
    public var description: String { message }
}

/// Which SQL a schema step is written in. The store's statements are
/// written once in the SQL both engines speak (`?` parameters, quoted
/// `"user"` and `"end"`, `RETURNING`, `ON CONFLICT DO NOTHING`); only the
/// schema differs.
public enum StoreDialect: String, Sendable {
    case sqlite
    case postgresql
}

/// One connection, used by one caller at a time (inside `withSession` or
/// `transaction`).
public protocol StoreSession {
    /// Runs one statement with `parameters` bound to its `?`s; its rows.
    @discardableResult
    func query(_ sql: String, _ parameters: [SQLValue]) throws(StoreError) -> [[SQLValue]]
    /// Runs statements without parameters (schema).
    func execute(_ sql: String) throws(StoreError)
}

extension StoreSession {
    @discardableResult
    public func query(_ sql: String) throws(StoreError) -> [[SQLValue]] { try query(sql, []) }

    /// `body` between `begin` and COMMIT, rolled back when it throws.
    public func inTransaction<T>(begin: String = "BEGIN", _ body: (any StoreSession) throws -> T) throws -> T {
        try execute(begin)
        do {
            let result = try body(self)
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }
}

/// Where the coordinator's state lives: SQLite in `data_dir` (the default),
/// or PostgreSQL shared by several coordinators (`coordinator.store`).
/// Implementations are `SQLiteEngine` (here) and `PostgresEngine`
/// (PostgresStore, the coordinator's only).
public protocol StoreEngine: Sendable {
    var dialect: StoreDialect { get }
    /// What to call it in messages: `sqlite:PATH`, or the URL without its password.
    var name: String { get }
    /// Runs `body` on one connection of the engine's.
    @discardableResult
    func withSession<T>(_ body: (any StoreSession) throws -> T) throws -> T
    /// Runs `body` in one transaction: committed when it returns, rolled
    /// back when it throws. The writes of two transactions never interleave.
    @discardableResult
    func transaction<T>(_ body: (any StoreSession) throws -> T) throws -> T
    /// Runs `body` in one transaction holding the schema lock: one process
    /// at a time migrates, whoever starts beside it waits.
    @discardableResult
    func migrating<T>(_ body: (any StoreSession) throws -> T) throws -> T
    /// Tells the other processes on this store (PostgreSQL `NOTIFY`);
    /// SQLite has none to tell.
    func notify(_ channel: String, _ payload: String)
    /// Calls `handler` with each payload another process (or this one)
    /// sends on `channel`, on a thread of its own, until stopped; nil where
    /// the store has no other processes (SQLite).
    func listen(_ channel: String, _ handler: @escaping @Sendable (String) -> Void) -> StoreListener?
    /// Whether this process leads for `key` (one process at a time does
    /// the thing the key names: `StoreLocks.calendar`); asked before each
    /// round, so a leader that died is followed within one round. SQLite:
    /// always (one process).
    func lead(_ key: Int64) -> Bool
    /// Gives the lead for `key` up (at a stop).
    func resign(_ key: Int64)
    /// Runs `body` while holding the lock `key` among every process on the
    /// store (SQLite: one process, so at once).
    @discardableResult
    func exclusively<T>(_ key: Int64, _ body: () throws -> T) throws -> T
}

/// A running `listen`: `stop` ends it and waits for its thread.
public final class StoreListener: Sendable {
    private let stopping: @Sendable () -> Void

    public init(stop: @escaping @Sendable () -> Void) {
        stopping = stop
    }

    public func stop() { stopping() }
}

/// The keys of the advisory locks on a shared store (PostgreSQL), one per
/// thing that one coordinator at a time does.
public enum StoreLocks {
    /// Migrating the schema.
    public static let schema: Int64 = 0x5052_4F56_0001
    /// Writing an event (ids become visible in order).
    public static let events: Int64 = 0x5052_4F56_0002
    /// Syncing the Google Calendar (held on a session: the leader).
    public static let calendar: Int64 = 0x5052_4F56_0003
    /// Offering freed boards to the shared queue.
    public static let queue: Int64 = 0x5052_4F56_0004
    /// Powering boards off as their reservations end (held on a session).
    public static let watch: Int64 = 0x5052_4F56_0005
}

/// SQLite: one file, one connection serialized by a lock; transactions are
/// `BEGIN IMMEDIATE`, so a second program's writer waits (5 s) and then
/// gets a clear "locked by another program".
public final class SQLiteEngine: StoreEngine, @unchecked Sendable {
    // @unchecked: `database` is used under `lock` only.
    private let database: SQLiteDatabase
    private let lock = NSLock()
    public let path: String
    public var dialect: StoreDialect { .sqlite }
    public var name: String { "sqlite:" + path }

    public init(path: String) throws(SQLiteError) {
        database = try SQLiteDatabase(path: path)
        self.path = path
    }

    @discardableResult
    public func withSession<T>(_ body: (any StoreSession) throws -> T) throws -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(SQLiteSession(database: database))
    }

    @discardableResult
    public func transaction<T>(_ body: (any StoreSession) throws -> T) throws -> T {
        lock.lock()
        defer { lock.unlock() }
        return try SQLiteSession(database: database).inTransaction(begin: "BEGIN IMMEDIATE", body)
    }

    @discardableResult
    public func migrating<T>(_ body: (any StoreSession) throws -> T) throws -> T {
        try transaction(body)
    }

    public func notify(_ channel: String, _ payload: String) {}

    public func listen(_ channel: String, _ handler: @escaping @Sendable (String) -> Void) -> StoreListener? { nil }

    public func lead(_ key: Int64) -> Bool { true }

    public func resign(_ key: Int64) {}

    @discardableResult
    public func exclusively<T>(_ key: Int64, _ body: () throws -> T) throws -> T { try body() }
}

/// The SQLite connection as a `StoreSession`.
struct SQLiteSession: StoreSession {
    let database: SQLiteDatabase

    func query(_ sql: String, _ parameters: [SQLValue]) throws(StoreError) -> [[SQLValue]] {
        do { return try database.query(sql, parameters) } catch { throw Self.storeError(error) }
    }

    func execute(_ sql: String) throws(StoreError) {
        do { try database.execute(sql) } catch { throw Self.storeError(error) }
    }

    static func storeError(_ error: SQLiteError) -> StoreError {
        switch error.code {
        case SQLITE_CONSTRAINT: StoreError(.constraint, error.message)
        case SQLITE_BUSY, SQLITE_LOCKED: StoreError(.unavailable, error.message)
        default: StoreError(.failed, error.message)
        }
    }
}
