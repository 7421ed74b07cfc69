import Commands
import Synchronization
import SystemSupport

/// Who a browser or a tool is on the lab's web page (DESIGN.md "Web"): no
/// passwords. `ssh lab web` hands out a one-time link (5 minutes, usable
/// once) that becomes a browser session (12 hours, an HttpOnly cookie);
/// `ssh lab web --token` a bearer token for `/api/v1/`; `ssh lab web
/// --revoke` ends all of a user's. Every secret is 32 random bytes, as hex.
/// Held in memory: a restart of the coordinator signs everyone out.
public final class WebAccess: Sendable {
    /// A signed-in user.
    public struct Grant: Sendable, Equatable {
        public let user: String
        public let admin: Bool
        /// Monotonic seconds it ends at (nil: at `--revoke`).
        let expires: Double?
        /// A browser session's token for its state-changing requests (the
        /// page sends it as X-CSRF-Token); nil for a bearer token.
        public var csrf: String? = nil
    }

    public static let linkSeconds: Double = 5 * 60
    public static let sessionSeconds: Double = 12 * 3600

    private struct State {
        var links: [String: Grant] = [:]
        var sessions: [String: Grant] = [:]
        var tokens: [String: Grant] = [:]
    }

    private let state = Mutex(State())
    /// Monotonic seconds now (a test may move it).
    let clock: @Sendable () -> Double

    public init(clock: @escaping @Sendable () -> Double = { monotonicSeconds() }) {
        self.clock = clock
    }

    /// A new one-time sign-in secret for `user`.
    public func link(for user: String, admin: Bool) -> String {
        let secret = Self.secret()
        let grant = Grant(user: user, admin: admin, expires: clock() + Self.linkSeconds)
        state.withLock { state in
            state.links = state.links.filter { !Self.ended($0.value, at: clock()) }
            state.links[secret] = grant
        }
        return secret
    }

    /// Trades a one-time secret for a session id; nil when it was used
    /// already, ran out or never was.
    public func redeem(_ link: String) -> (session: String, grant: Grant)? {
        state.withLock { state in
            guard let grant = state.links.removeValue(forKey: link), !Self.ended(grant, at: clock()) else { return nil }
            let session = Self.secret()
            let signedIn = Grant(user: grant.user, admin: grant.admin, expires: clock() + Self.sessionSeconds, csrf: Self.secret())
            state.sessions = state.sessions.filter { !Self.ended($0.value, at: clock()) }
            state.sessions[session] = signedIn
            return (session, signedIn)
        }
    }

    /// A bearer token for `user` (until `revoke`).
    public func token(for user: String, admin: Bool) -> String {
        let secret = Self.secret()
        state.withLock { $0.tokens[secret] = Grant(user: user, admin: admin, expires: nil) }
        return secret
    }

    /// The user of a session cookie or a bearer token, if it is valid now.
    public func grant(session: String?, bearer: String?) -> Grant? {
        state.withLock { state in
            if let session, let grant = state.sessions[session], !Self.ended(grant, at: clock()) { return grant }
            if let bearer, let grant = state.tokens[bearer] { return grant }
            return nil
        }
    }

    /// Ends one browser session (logout).
    public func endSession(_ session: String) {
        state.withLock { _ = $0.sessions.removeValue(forKey: session) }
    }

    /// Ends every session, token and unused link of `user`; how many.
    @discardableResult
    public func revoke(_ user: String) -> Int {
        state.withLock { state in
            let before = state.sessions.count + state.tokens.count + state.links.count
            state.sessions = state.sessions.filter { $0.value.user != user }
            state.tokens = state.tokens.filter { $0.value.user != user }
            state.links = state.links.filter { $0.value.user != user }
            return before - state.sessions.count - state.tokens.count - state.links.count
        }
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
    public func answer(_ command: WebCommand, publicURL: String, _ session: ShellSession, audit: (String, String?) -> Void) {
        let user = session.identity.user, admin = session.identity.admin
        if command.revoke {
            let ended = revoke(user)
            audit("web-revoke", "\(ended) ended")
            session.print("web: \(ended) session\(ended == 1 ? "" : "s"), token\(ended == 1 ? "" : "s") and link\(ended == 1 ? "" : "s") of yours ended\n")
        } else if command.token {
            audit("web-token", nil)
            session.print(token(for: user, admin: admin) + "\n")
        } else {
            session.print(publicURL + "/login?t=" + link(for: user, admin: admin) + "\n")
            session.printError("web: open it within 5 minutes; it works once")
        }
    }
}
