#if canImport(Glibc)
import Glibc
#endif
import CPostgres
import Synchronization

/// A PostgreSQL failure: its SQLSTATE (`23P01` an exclusion constraint,
/// `40001` a serialization failure, …) when the server sent one, and its
/// message as one line.
public struct PostgresError: Error, CustomStringConvertible, Sendable, Equatable {
    public let sqlState: String?
    public let message: String

    public init(sqlState: String?, message: String) {
        self.sqlState = sqlState
        self.message = message
    }

    /// `exclusion_violation`: two rows an EXCLUDE constraint keeps apart.
    public var isExclusionViolation: Bool { sqlState == "23P01" }

    public var description: String { message }
}

/// One connection to PostgreSQL through libpq (the only module that
/// imports CPostgres). Calls are serialized: any thread may use it, one at
/// a time; each blocks its caller (never run it on the cooperative pool).
/// Values go both ways as text (libpq's text format), so every number read
/// back is checked by its reader before it is converted.
public final class PostgresConnection: @unchecked Sendable {
    // @unchecked: `connection` is used under `lock` only.
    private let connection: OpaquePointer
    private let lock = Mutex(())

    /// Connects to `url` (`postgresql://user@host:5432/db`, or libpq's
    /// `key=value` form), with `password` when given, giving up after
    /// `timeout` seconds.
    public init(url: String, password: String? = nil, timeout: Int = 10) throws(PostgresError) {
        var keys = ["dbname", "connect_timeout", "application_name"]
        var values = [url, String(min(max(timeout, 1), 600)), "provisioner"]
        if let password {
            keys.append("password")
            values.append(password)
        }
        let made: OpaquePointer? = withCStrings(keys) { keyPointers in
            withCStrings(values) { valuePointers in PQconnectdbParams(keyPointers, valuePointers, 1) }
        }
        guard let made else { throw PostgresError(sqlState: nil, message: "\(Self.redacted(url)): out of memory") }
        guard PQstatus(made) == CONNECTION_OK else {
            let message = Self.oneLine(String(cString: PQerrorMessage(made)))
            PQfinish(made)
            throw PostgresError(sqlState: nil, message: "\(Self.redacted(url)): \(message)")
        }
        // NOTICEs ("relation … already exists, skipping") are for a person at psql, not a log.
        PQsetNoticeProcessor(made, ignoreNotices, nil)
        connection = made
    }

    deinit { PQfinish(connection) }

    /// Runs one statement with `parameters` for its `$1`, `$2`, … (text; nil
    /// is NULL) and returns its rows, each a list of column values (nil:
    /// NULL).
    @discardableResult
    public func query(_ sql: String, _ parameters: [String?] = []) throws(PostgresError) -> [[String?]] {
        try typedQuery(sql, parameters).rows
    }

    /// `query`, with each column's type (its OID: `int8OID`, …) beside the rows.
    public func typedQuery(_ sql: String, _ parameters: [String?] = []) throws(PostgresError) -> PostgresRows {
        try lock.withLock { _ throws(PostgresError) -> PostgresRows in
            let result: OpaquePointer? = withOptionalCStrings(parameters) { pointers in
                PQexecParams(connection, sql, Int32(pointers.count), nil, pointers, nil, nil, 0)
            }
            return try Self.rows(of: result, connection)
        }
    }

    /// Runs one or more statements without parameters (schema, `BEGIN`).
    public func execute(_ sql: String) throws(PostgresError) {
        try lock.withLock { _ throws(PostgresError) in
            _ = try Self.rows(of: PQexec(connection, sql), connection)
        }
    }

    /// Whether the connection to the server is lost (it went away, or
    /// closed this session): throw it away and connect again.
    public var isBroken: Bool { lock.withLock { _ in PQstatus(connection) != CONNECTION_OK } }

    /// Waits up to `timeout` seconds for notifications on the channels this
    /// connection `LISTEN`s to, and returns those that came (maybe none).
    /// A lost connection throws.
    public func notifications(timeout: Double) throws(PostgresError) -> [PostgresNotification] {
        try lock.withLock { _ throws(PostgresError) -> [PostgresNotification] in
            var found = Self.pending(connection)
            if !found.isEmpty { return found }
            let socket = PQsocket(connection)
            guard socket >= 0 else { throw PostgresError(sqlState: nil, message: "the connection to the server is lost") }
            var poller = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
            let milliseconds = Int32(min(max(timeout, 0), 3600) * 1000)
            guard poll(&poller, 1, milliseconds) > 0 else { return [] }
            guard PQconsumeInput(connection) == 1 else {
                throw PostgresError(sqlState: nil, message: Self.oneLine(String(cString: PQerrorMessage(connection))))
            }
            found = Self.pending(connection)
            return found
        }
    }

    private static func pending(_ connection: OpaquePointer) -> [PostgresNotification] {
        var found: [PostgresNotification] = []
        while let notice = PQnotifies(connection) {
            found.append(PostgresNotification(channel: String(cString: notice.pointee.relname),
                                              payload: String(cString: notice.pointee.extra)))
            PQfreemem(notice)
        }
        return found
    }

    /// The rows of `result` (then freed), or its error.
    private static func rows(of result: OpaquePointer?, _ connection: OpaquePointer) throws(PostgresError) -> PostgresRows {
        guard let result else {
            throw PostgresError(sqlState: nil, message: oneLine(String(cString: PQerrorMessage(connection))))
        }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            return PostgresRows(types: [], rows: [])
        case PGRES_TUPLES_OK:
            let rowCount = PQntuples(result), columnCount = PQnfields(result)
            let types = (0..<columnCount).map { PQftype(result, $0) }
            return PostgresRows(types: types, rows: (0..<rowCount).map { row in
                (0..<columnCount).map { column in
                    PQgetisnull(result, row, column) == 1 ? nil : String(cString: PQgetvalue(result, row, column))
                }
            })
        default:
            let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
            throw PostgresError(sqlState: state, message: oneLine(String(cString: PQresultErrorMessage(result))))
        }
    }

    /// libpq's multi-line messages as one line.
    static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline)
            .map { line in String(line.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed()) }
            .filter { !$0.isEmpty }.joined(separator: "; ")
    }

    /// The URL without a password in it, for messages and logs.
    static func redacted(_ url: String) -> String {
        guard let scheme = url.firstRange(of: "://"), let at = url[scheme.upperBound...].firstIndex(of: "@") else { return url }
        let credentials = url[scheme.upperBound..<at]
        guard let colon = credentials.firstIndex(of: ":") else { return url }
        return String(url[..<colon]) + ":***" + String(url[at...])
    }
}

/// libpq's notice processor that drops every notice.
private let ignoreNotices: PQnoticeProcessor = { _, _ in }

/// A query's rows as text (nil: NULL), and each column's type OID.
public struct PostgresRows: Sendable, Equatable {
    public let types: [UInt32]
    public let rows: [[String?]]

    /// The type OIDs of the integers: int8, int4 and int2.
    public static let integerTypes: Set<UInt32> = [20, 23, 21]
}

/// One `NOTIFY` that reached a listening connection.
public struct PostgresNotification: Sendable, Equatable {
    public let channel: String
    public let payload: String
}

/// NUL-terminated copies of `strings` as a C array of pointers, for one call.
private func withCStrings<R>(_ strings: [String], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
    withOptionalCStrings(strings.map { Optional($0) }) { pointers in body(pointers + [nil]) }
}

private func withOptionalCStrings<R>(_ strings: [String?], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
    let copies = strings.map { $0.map { strdup($0) } ?? nil }
    defer { for copy in copies { free(copy) } }
    return body(copies.map { $0.map { UnsafePointer($0) } })
}
