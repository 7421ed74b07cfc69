import Commands
import Digest
import Reservations
import ShellSupport
import Synchronization
import SystemSupport

/// Who a browser or a tool is on the lab's web page (DESIGN.md "Web"): no
/// passwords. `ssh lab web` hands out a one-time link (5 minutes, usable
/// once) that becomes a browser session (12 hours, an HttpOnly cookie);
/// `ssh lab web --token` a bearer token for `/api/v1/`; `ssh lab web
/// --revoke` ends all of a user's. Every secret is 32 random bytes, as hex.
/// Kept in the reservation store (only their SHA-256), so that they
/// outlive a restart and every coordinator on a shared store honours and
/// revokes the same ones; in memory without a store (tests).
public final class WebAccess: Sendable {
    /// A signed-in user.
    public struct Grant: Sendable, Equatable {
        public let user: String
        public let admin: Bool
        /// Wall-clock seconds it ends at (nil: at `--revoke`).
        let expires: Double?
        /// A browser session's token for its state-changing requests (the
        /// page sends it as X-CSRF-Token); nil for a bearer token.
        public var csrf: String? = nil
    }

    public static let linkSeconds: Double = 5 * 60
    public static let sessionSeconds: Double = 12 * 3600

    enum Kind: String { case link, session, token }

    private let book: any GrantBook
    /// Wall-clock seconds now (a test may move it).
    let clock: @Sendable () -> Double

    /// `store`: where the grants are kept (the reservation store's engine);
    /// nil keeps them in memory, lost at a restart.
    public init(store: (any StoreEngine)? = nil, clock: @escaping @Sendable () -> Double = { wallClock() }) {
        book = store.map { StoreGrantBook(engine: $0) } ?? MemoryGrantBook()
        self.clock = clock
    }

    /// A new one-time sign-in secret for `user`.
    public func link(for user: String, admin: Bool) throws -> String {
        let secret = Self.secret()
        try book.prune(before: clock())
        try book.insert(Self.hash(secret), .link, Grant(user: user, admin: admin, expires: clock() + Self.linkSeconds))
        return secret
    }

    /// Trades a one-time secret for a session id; nil when it was used
    /// already, ran out or never was (or the store cannot be reached).
    public func redeem(_ link: String) -> (session: String, grant: Grant)? {
        guard Self.isSecret(link), let grant = try? book.take(Self.hash(link), .link), !Self.ended(grant, at: clock()) else { return nil }
        let session = Self.secret()
        let signedIn = Grant(user: grant.user, admin: grant.admin, expires: clock() + Self.sessionSeconds, csrf: Self.secret())
        guard (try? book.insert(Self.hash(session), .session, signedIn)) != nil else { return nil }
        return (session, signedIn)
    }

    /// A bearer token for `user` (until `revoke`).
    public func token(for user: String, admin: Bool) throws -> String {
        let secret = Self.secret()
        try book.insert(Self.hash(secret), .token, Grant(user: user, admin: admin, expires: nil))
        return secret
    }

    /// The user of a session cookie or a bearer token, if it is valid now.
    public func grant(session: String?, bearer: String?) -> Grant? {
        if let session, Self.isSecret(session), let grant = try? book.find(Self.hash(session), .session),
           !Self.ended(grant, at: clock()) {
            return grant
        }
        if let bearer, Self.isSecret(bearer), let grant = try? book.find(Self.hash(bearer), .token) { return grant }
        return nil
    }

    /// Ends one browser session (logout).
    public func endSession(_ session: String) {
        guard Self.isSecret(session) else { return }
        try? book.remove(Self.hash(session), .session)
    }

    /// Ends every session, token and unused link of `user`; how many.
    @discardableResult
    public func revoke(_ user: String) throws -> Int {
        try book.removeAll(of: user)
    }

    static func hash(_ secret: String) -> String { SHA256Hasher.hex(of: Array(secret.utf8)) }

    /// What `secret()` makes: 64 lowercase hex digits (anything else is no
    /// secret of ours, and never reaches the store).
    static func isSecret(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    private static func ended(_ grant: Grant, at now: Double) -> Bool {
        grant.expires.map { now >= $0 } ?? false
    }

    /// 32 random bytes (the system's generator: getrandom), as 64 hex digits.
    static func secret() -> String {
        var generator = SystemRandomNumberGenerator()
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(64)
        for _ in 0..<4 {
            let word = generator.next() as UInt64
            for shift in stride(from: 60, through: 0, by: -4) { text.append(digits[Int((word >> UInt64(shift)) & 0xF)]) }
        }
        return String(decoding: text, as: UTF8.self)
    }
}


extension WebAccess {
    /// `web [--token | --revoke]` for the caller, on either door: a one-time
    /// sign-in link to `publicURL` (or a bearer token), or the end of all of
    /// theirs. `audit` writes the audit line (action, detail).
    public func answer(_ command: WebCommand, publicURL: String, _ session: ShellSession,
                       audit: (String, String?) -> Void) throws(ShellError) {
        let user = session.identity.user, admin = session.identity.admin
        do {
            if command.revoke {
                let ended = try revoke(user)
                audit("web-revoke", "\(ended) ended")
                session.print("web: \(ended) session\(ended == 1 ? "" : "s"), token\(ended == 1 ? "" : "s") and link\(ended == 1 ? "" : "s") of yours ended\n")
            } else if command.token {
                let token = try token(for: user, admin: admin)
                audit("web-token", nil)
                session.print(token + "\n")
            } else {
                session.print(publicURL + "/login?t=" + (try link(for: user, admin: admin)) + "\n")
                session.printError("web: open it within 5 minutes; it works once")
            }
        } catch {
            throw .failure("web: the store failed: \(error)")
        }
    }
}

/// Where the grants are kept, by their secret's SHA-256.
protocol GrantBook: Sendable {
    func insert(_ hash: String, _ kind: WebAccess.Kind, _ grant: WebAccess.Grant) throws
    /// Removes a one-time grant and returns it: one caller gets it, once.
    func take(_ hash: String, _ kind: WebAccess.Kind) throws -> WebAccess.Grant?
    func find(_ hash: String, _ kind: WebAccess.Kind) throws -> WebAccess.Grant?
    func remove(_ hash: String, _ kind: WebAccess.Kind) throws
    func removeAll(of user: String) throws -> Int
    /// Drops what ended before `now` (seconds).
    func prune(before now: Double) throws
}

final class MemoryGrantBook: GrantBook {
    private let grants = Mutex<[String: (kind: WebAccess.Kind, grant: WebAccess.Grant)]>([:])

    func insert(_ hash: String, _ kind: WebAccess.Kind, _ grant: WebAccess.Grant) { grants.withLock { $0[hash] = (kind, grant) } }
    func take(_ hash: String, _ kind: WebAccess.Kind) -> WebAccess.Grant? {
        grants.withLock { grants in
            guard let found = grants[hash], found.kind == kind else { return nil }
            grants[hash] = nil
            return found.grant
        }
    }
    func find(_ hash: String, _ kind: WebAccess.Kind) -> WebAccess.Grant? {
        grants.withLock { $0[hash].flatMap { $0.kind == kind ? $0.grant : nil } }
    }
    func remove(_ hash: String, _ kind: WebAccess.Kind) { _ = take(hash, kind) }
    func removeAll(of user: String) -> Int {
        grants.withLock { grants in
            let before = grants.count
            grants = grants.filter { $0.value.grant.user != user }
            return before - grants.count
        }
    }
    func prune(before now: Double) {
        grants.withLock { $0 = $0.filter { ($0.value.grant.expires ?? .infinity) > now } }
    }
}

/// The grants in the store's `web_grants` (schema step 5 of `reservations`).
final class StoreGrantBook: GrantBook {
    let engine: any StoreEngine
    init(engine: any StoreEngine) { self.engine = engine }

    func insert(_ hash: String, _ kind: WebAccess.Kind, _ grant: WebAccess.Grant) throws {
        try engine.withSession { session in
            try session.query("""
                INSERT INTO web_grants (secret_sha256, kind, "user", admin, expires_ms, csrf) VALUES (?, ?, ?, ?, ?, ?)
                """, [.text(hash), .text(kind.rawValue), .text(grant.user), .integer(grant.admin ? 1 : 0),
                      grant.expires.map { .integer(Int64($0 * 1000)) } ?? .null, grant.csrf.map { .text($0) } ?? .null])
        }
    }

    func take(_ hash: String, _ kind: WebAccess.Kind) throws -> WebAccess.Grant? {
        try engine.withSession { session in
            try session.query("""
                DELETE FROM web_grants WHERE secret_sha256 = ? AND kind = ? RETURNING "user", admin, expires_ms, csrf
                """, [.text(hash), .text(kind.rawValue)]).first.flatMap(Self.grant)
        }
    }

    func find(_ hash: String, _ kind: WebAccess.Kind) throws -> WebAccess.Grant? {
        try engine.withSession { session in
            try session.query("""
                SELECT "user", admin, expires_ms, csrf FROM web_grants WHERE secret_sha256 = ? AND kind = ?
                """, [.text(hash), .text(kind.rawValue)]).first.flatMap(Self.grant)
        }
    }

    func remove(_ hash: String, _ kind: WebAccess.Kind) throws { _ = try take(hash, kind) }

    func removeAll(of user: String) throws -> Int {
        try engine.withSession { session in
            try session.query(#"DELETE FROM web_grants WHERE "user" = ? RETURNING kind"#, [.text(user)]).count
        }
    }

    func prune(before now: Double) throws {
        try engine.withSession { session in
            try session.query("DELETE FROM web_grants WHERE expires_ms IS NOT NULL AND expires_ms < ?", [.integer(Int64(now * 1000))])
        }
    }

    private static func grant(_ row: [SQLValue]) -> WebAccess.Grant? {
        guard row.count == 4, let user = row[0].text, let admin = row[1].integer else { return nil }
        return WebAccess.Grant(user: user, admin: admin != 0, expires: row[2].integer.map { Double($0) / 1000 }, csrf: row[3].text)
    }
}
