import CSQLite

/// A value bound to, or read from, a statement (of either engine).
public enum SQLValue: Sendable, Equatable {
    case integer(Int64)
    case text(String)
    case null

    public var integer: Int64? { if case .integer(let value) = self { value } else { nil } }
    public var text: String? { if case .text(let value) = self { value } else { nil } }
}

public typealias SQLiteValue = SQLValue

/// An SQLite failure: the result code and SQLite's message.
public struct SQLiteError: Error, CustomStringConvertible, Sendable {
    /// The primary result code (`SQLITE_CONSTRAINT`, …).
    public let code: Int32
    public let message: String

    /// A trigger's RAISE(ABORT) or a CHECK failed.
    public var isConstraint: Bool { code == SQLITE_CONSTRAINT }

    public var description: String { message }
}

/// One open database file (libsqlite3). The connection is opened in
/// serialized mode (SQLITE_OPEN_FULLMUTEX), so any thread may call it; each
/// call runs its statement to the end before returning.
public final class SQLiteDatabase: @unchecked Sendable {
    private let handle: OpaquePointer
    /// The file, for the one error a person must act on outside: a lock.
    private let path: String
    /// How long a statement waits for another program's lock.
    static let busyMilliseconds: Int32 = 5000

    /// Opens (creating when missing) the database at `path`, in WAL mode with
    /// a busy timeout, so a second process reading it does not fail at once.
    public init(path: String) throws(SQLiteError) {
        var opened: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX
        let result = sqlite3_open_v2(path, &opened, flags, nil)
        guard result == SQLITE_OK, let opened else {
            let message = opened.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close(opened)
            throw SQLiteError(code: result, message: "\(path): \(message)")
        }
        handle = opened
        self.path = path
        sqlite3_busy_timeout(handle, Self.busyMilliseconds)
        sqlite3_extended_result_codes(handle, 0)
        try execute("PRAGMA journal_mode = WAL")
        try execute("PRAGMA foreign_keys = ON")
    }

    deinit { sqlite3_close_v2(handle) }

    /// Runs one or more statements without parameters (schema, pragmas).
    public func execute(_ sql: String) throws(SQLiteError) {
        var message: UnsafeMutablePointer<CChar>?
        let result = sqlite3_exec(handle, sql, nil, nil, &message)
        guard result == SQLITE_OK else {
            let text = message.map { String(cString: $0) } ?? String(cString: sqlite3_errmsg(handle))
            sqlite3_free(message)
            throw error(code: result & 0xFF, message: text)
        }
    }

    /// Runs one statement with `parameters` bound to its `?`s and returns its
    /// rows, each a list of column values.
    @discardableResult
    public func query(_ sql: String, _ parameters: [SQLiteValue] = []) throws(SQLiteError) -> [[SQLiteValue]] {
        var prepared: OpaquePointer?
        guard sqlite3_prepare_v2(handle, sql, -1, &prepared, nil) == SQLITE_OK, let statement = prepared else {
            throw lastError()
        }
        defer { sqlite3_finalize(statement) }
        for (index, parameter) in parameters.enumerated() {
            let position = Int32(index + 1)
            switch parameter {
            case .integer(let value): sqlite3_bind_int64(statement, position, value)
            case .text(let value): sqlite3_bind_text(statement, position, value, -1, CSQLite_transient())
            case .null: sqlite3_bind_null(statement, position)
            }
        }
        var rows: [[SQLiteValue]] = []
        while true {
            let step = sqlite3_step(statement)
            if step == SQLITE_DONE { return rows }
            guard step == SQLITE_ROW else { throw lastError() }
            rows.append((0..<sqlite3_column_count(statement)).map { column in
                switch sqlite3_column_type(statement, column) {
                case SQLITE_INTEGER: .integer(sqlite3_column_int64(statement, column))
                case SQLITE_NULL: .null
                default: .text(sqlite3_column_text(statement, column).map { String(cString: $0) } ?? "")
                }
            })
        }
    }

    /// The rowid of the last successful INSERT on this connection.
    public var lastInsertedRow: Int64 { sqlite3_last_insert_rowid(handle) }

    /// Rows the last INSERT, UPDATE or DELETE changed.
    public var changes: Int { Int(sqlite3_changes(handle)) }

    private func lastError() -> SQLiteError {
        error(code: sqlite3_errcode(handle) & 0xFF, message: String(cString: sqlite3_errmsg(handle)))
    }

    /// SQLite's words, or for a lock held past the busy timeout, which file
    /// and that another program holds it.
    private func error(code: Int32, message: String) -> SQLiteError {
        guard code == SQLITE_BUSY || code == SQLITE_LOCKED else { return SQLiteError(code: code, message: message) }
        return SQLiteError(code: code, message: "\(path) is locked by another program (waited \(Self.busyMilliseconds / 1000) s)")
    }
}
