#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Postgres
import Reservations
import Synchronization
import SystemSupport

/// The store in a PostgreSQL that several coordinators share
/// (`coordinator.store.url`): a bounded pool of connections, each lost one
/// replaced at its next use, so the coordinators reconnect by themselves
/// when the server comes back. While it cannot be reached, every call
/// fails with `StoreError.unavailable` and one line naming the server.
public final class PostgresEngine: StoreEngine, @unchecked Sendable {
    // @unchecked: the pool is guarded by `available`'s lock.
    public let url: String
    private let password: String?
    public let maxConnections: Int
    /// How long a caller waits for a free connection, or for a connect.
    let waitSeconds: Double
    private let available = NSCondition()
    private var idle: [PostgresConnection] = []
    private var open = 0
    /// The sessions holding a leadership lock (`lead`), by key.
    private let leaders = Mutex<[Int64: PostgresConnection]>([:])

    public var dialect: StoreDialect { .postgresql }
    public var name: String { Self.redacted(url) }

    /// Connects once to check `url` (and `password`), so that a wrong URL
    /// is an error at start, not at the first command.
    public init(url: String, password: String? = nil, maxConnections: Int = 8, waitSeconds: Double = 5) throws {
        self.url = url
        self.password = password
        // Two at least: `exclusively` holds one while its body uses another.
        self.maxConnections = min(max(maxConnections, 2), 100)
        self.waitSeconds = min(max(waitSeconds, 0.1), 60)
        let first = try connect()
        idle.append(first)
        open = 1
    }

    private func connect() throws(StoreError) -> PostgresConnection {
        do {
            return try PostgresConnection(url: url, password: password, timeout: Int(waitSeconds.rounded(.up)))
        } catch {
            throw StoreError(.unavailable, "the store \(name) is unreachable: \(Self.firstClause(Self.withoutURL(error.message, url: url)))")
        }
    }

    /// A connection of the pool's: an idle one, a new one while fewer than
    /// `maxConnections` are open, or the next one given back.
    private func take() throws(StoreError) -> PostgresConnection {
        let deadline = Date(timeIntervalSinceNow: waitSeconds)
        available.lock()
        while idle.isEmpty && open >= maxConnections {
            if !available.wait(until: deadline) {
                available.unlock()
                throw StoreError(.unavailable, "the store \(name) is busy: all \(maxConnections) connections are in use")
            }
        }
        if let connection = idle.popLast() {
            available.unlock()
            return connection
        }
        open += 1
        available.unlock()
        do {
            return try connect()
        } catch {
            giveBack(nil)
            throw error
        }
    }

    /// Returns `connection` to the pool, or (nil, or lost) frees its place.
    private func giveBack(_ connection: PostgresConnection?) {
        available.lock()
        if let connection, !connection.isBroken {
            idle.append(connection)
        } else {
            open -= 1
            // A lost server loses every idle connection too: drop them, so
            // the next callers connect afresh instead of failing one by one.
            if connection != nil {
                open -= idle.count
                idle.removeAll()
            }
        }
        available.signal()
        available.unlock()
    }

    @discardableResult
    public func withSession<T>(_ body: (any StoreSession) throws -> T) throws -> T {
        let connection = try take()
        defer { giveBack(connection) }
        return try body(PostgresSession(connection: connection, engine: self))
    }

    @discardableResult
    public func transaction<T>(_ body: (any StoreSession) throws -> T) throws -> T {
        try withSession { session in try session.inTransaction(body) }
    }

    @discardableResult
    public func migrating<T>(_ body: (any StoreSession) throws -> T) throws -> T {
        try transaction { session in
            try session.query("SELECT pg_advisory_xact_lock(\(StoreLocks.schema))")
            return try body(session)
        }
    }

    public func notify(_ channel: String, _ payload: String) {
        _ = try? withSession { session in try session.query("SELECT pg_notify(?, ?)", [.text(channel), .text(payload)]) }
    }

    public func listen(_ channel: String, _ handler: @escaping @Sendable (String) -> Void) -> StoreListener? {
        let running = Atomic<Bool>(true)
        let finished = NSCondition()
        let done = Mutex(false)
        let engine = self
        do {
            try startThread(named: "store listen") {
                var connection: PostgresConnection?
                while running.load(ordering: .acquiring) {
                    do {
                        if connection == nil || connection!.isBroken {
                            let fresh = try engine.connect()
                            try fresh.execute("LISTEN \(channel)")
                            connection = fresh
                            // What was sent while this listener was away: a wake with no
                            // payload, so listeners read the store again.
                            handler("")
                        }
                        for note in try connection!.notifications(timeout: 0.2) where note.channel == channel {
                            handler(note.payload)
                        }
                    } catch {
                        connection = nil
                        for _ in 0..<10 where running.load(ordering: .acquiring) { usleep(100_000) }
                    }
                }
                finished.lock()
                done.withLock { $0 = true }
                finished.broadcast()
                finished.unlock()
            }
        } catch {
            return nil
        }
        return StoreListener {
            running.store(false, ordering: .releasing)
            finished.lock()
            while !done.withLock({ $0 }) { _ = finished.wait(until: Date(timeIntervalSinceNow: 1)) }
            finished.unlock()
        }
    }

    /// Whether this process leads for `key`: holds the session advisory
    /// lock on a connection of its own, taken now if it is free. A leader
    /// whose connection died (or that died itself) loses it, so another
    /// process takes it at its next try.
    public func lead(_ key: Int64) -> Bool {
        leaders.withLock { leaders in
            if let held = leaders[key] {
                if (try? held.query("SELECT 1")) != nil { return true }
                leaders[key] = nil
            }
            guard let connection = try? connect(),
                  let rows = try? connection.query("SELECT pg_try_advisory_lock(\(key))"),
                  rows.first?.first == "t" else { return false }
            leaders[key] = connection
            return true
        }
    }

    /// Holds the session lock `key` on one connection while `body` runs on
    /// others (the pool keeps at least two).
    @discardableResult
    public func exclusively<T>(_ key: Int64, _ body: () throws -> T) throws -> T {
        try withSession { session in
            try session.query("SELECT pg_advisory_lock(\(key))")
            defer { _ = try? session.query("SELECT pg_advisory_unlock(\(key))") }
            return try body()
        }
    }

    /// Gives up the lead for `key` (at a stop), so another takes it at once.
    public func resign(_ key: Int64) {
        leaders.withLock { leaders in
            if let held = leaders.removeValue(forKey: key) { _ = try? held.query("SELECT pg_advisory_unlock(\(key))") }
        }
    }

    /// Closes every idle connection (at a stop).
    public func close() {
        available.lock()
        open -= idle.count
        idle.removeAll()
        available.unlock()
        leaders.withLock { $0.removeAll() }
    }

    /// The URL without a password in it.
    static func redacted(_ url: String) -> String {
        guard let scheme = url.firstRange(of: "://"), let at = url[scheme.upperBound...].firstIndex(of: "@") else { return url }
        let credentials = url[scheme.upperBound..<at]
        guard let colon = credentials.firstIndex(of: ":") else { return url }
        return String(url[..<colon]) + ":***" + String(url[at...])
    }

    /// libpq's first clause ("server closed the connection unexpectedly"),
    /// without the hints it adds after it.
    static func firstClause(_ message: String) -> String {
        message.components(separatedBy: "; ").first ?? message
    }

    /// libpq's connect message begins with the (redacted) URL; the caller names it already.
    static func withoutURL(_ message: String, url: String) -> String {
        let prefix = redacted(url) + ": "
        return message.hasPrefix(prefix) ? String(message.dropFirst(prefix.count)) : message
    }
}

/// One pooled connection as a `StoreSession`: `?` parameters become `$n`,
/// integer columns come back as integers, and errors are sorted into the
/// store's kinds (SQLSTATE class 23: a constraint; class 08, 57P, or no
/// answer at all: unreachable).
struct PostgresSession: StoreSession {
    let connection: PostgresConnection
    let engine: PostgresEngine

    func query(_ sql: String, _ parameters: [SQLValue]) throws(StoreError) -> [[SQLValue]] {
        let text: [String?] = parameters.map { value in
            switch value {
            case .integer(let number): String(number)
            case .text(let string): string
            case .null: nil
            }
        }
        let result: PostgresRows
        do { result = try connection.typedQuery(Self.numbered(sql), text) } catch { throw storeError(error) }
        return result.rows.map { row in
            row.enumerated().map { column, value in
                guard let value else { return .null }
                if PostgresRows.integerTypes.contains(result.types[column]) {
                    // Text from the server, read back within Int64 or not at all.
                    return Int64(value).map(SQLValue.integer) ?? .null
                }
                return .text(value)
            }
        }
    }

    func execute(_ sql: String) throws(StoreError) {
        do { try connection.execute(sql) } catch { throw storeError(error) }
    }

    private func storeError(_ error: PostgresError) -> StoreError {
        let state = error.sqlState ?? ""
        if state.hasPrefix("23") { return StoreError(.constraint, error.message) }
        if state.isEmpty || state.hasPrefix("08") || state.hasPrefix("57P") || connection.isBroken {
            return StoreError(.unavailable, "the store \(engine.name) is unreachable: \(PostgresEngine.firstClause(error.message))")
        }
        return StoreError(.failed, "the store \(engine.name): \(error.message)")
    }

    /// `?` placeholders as PostgreSQL's `$1`, `$2`, …; a `?` inside a quoted
    /// string or identifier stays as it is.
    static func numbered(_ sql: String) -> String {
        guard sql.contains("?") else { return sql }
        var result = "", number = 0
        var quote: Character?
        for character in sql {
            if let open = quote {
                if character == open { quote = nil }
                result.append(character)
            } else if character == "'" || character == "\"" {
                quote = character
                result.append(character)
            } else if character == "?" {
                number += 1
                result += "$\(number)"
            } else {
                result.append(character)
            }
        }
        return result
    }
}
