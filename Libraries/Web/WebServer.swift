import Foundation
import HTTPDaemon
import SystemSupport
import Wire

/// The lab's web page on `web.listen` (DESIGN.md "Web"), on the same
/// libmicrohttpd wrapper as the artifact server. So far: signing in with
/// the link `ssh lab web` prints, signing out, the boards as a page and as
/// `/api/v1/boards`. Every answer forbids framing, sniffing and inline
/// scripts; every string a user or a calendar controls is escaped.
public final class WebServer: HTTPHandler, Sendable {
    public let access: WebAccess
    /// `http://HOST:PORT` as browsers reach it (links are made on it; a
    /// state-changing request must come from it).
    public let publicURL: String
    /// The boards as `boards --json` shows them to `user`.
    let boards: @Sendable (WebAccess.Grant) -> [BoardReport]?
    let log: @Sendable (String) -> Void

    public static let cookie = "provisioner_session"

    public init(access: WebAccess, publicURL: String, boards: @escaping @Sendable (WebAccess.Grant) -> [BoardReport]?,
                log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.access = access
        self.publicURL = publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL
        self.boards = boards
        self.log = log
    }

    /// The link `ssh lab web` prints.
    public func signInLink(for user: String, admin: Bool) -> String {
        publicURL + "/login?t=" + access.link(for: user, admin: admin)
    }

    var secure: Bool { publicURL.hasPrefix("https://") }

    public func handle(_ request: HTTPRequest) -> HTTPAction {
        .respond(answer(request))
    }

    func answer(_ request: HTTPRequest) -> HTTPResponse {
        let (path, query) = Self.split(request.target)
        switch (request.method, path) {
        case ("GET", "/login"), ("HEAD", "/login"):
            guard let link = query["t"], let (session, grant) = access.redeem(link) else {
                return page(403, title: "Sign-in link not valid", body: """
                    <p>This sign-in link was used already or has run out: a link works once, within 5 minutes.</p>
                    <p>Run <code>ssh lab web</code> for a new one.</p>
                    """)
            }
            log("web: \(grant.user) signed in")
            var cookie = "\(Self.cookie)=\(session); Path=/; HttpOnly; SameSite=Strict; Max-Age=\(Int(WebAccess.sessionSeconds))"
            if secure { cookie += "; Secure" }
            return HTTPResponse(status: 303, headers: Self.safety + [("Location", "/"), ("Set-Cookie", cookie)])
        case ("POST", "/logout"):
            guard sameOrigin(request) else { return crossOrigin() }
            if let session = Self.cookie(in: request) { access.endSession(session) }
            return HTTPResponse(status: 303, headers: Self.safety + [("Location", "/"),
                                                                     ("Set-Cookie", "\(Self.cookie)=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")])
        case ("GET", "/api/v1/boards"), ("HEAD", "/api/v1/boards"):
            guard let grant = signedIn(request) else {
                return json(401, #"{"error":"not signed in: send the session cookie or Authorization: Bearer (ssh lab web --token)"}"#)
            }
            guard let rows = boards(grant) else { return json(503, #"{"error":"the boards cannot be read now"}"#) }
            return json(200, Wire.line(rows))
        case ("GET", "/"), ("HEAD", "/"):
            guard let grant = signedIn(request) else {
                return page(401, title: "Sign in", body: "<p>Run <code>ssh lab web</code> and open the link it prints.</p>")
            }
            return page(200, title: "Boards", body: boardsPage(grant))
        default:
            if request.method != "GET" && request.method != "HEAD" && !sameOrigin(request) { return crossOrigin() }
            return page(404, title: "Not found", body: "<p>Nothing is here.</p>")
        }
    }

    /// The signed-in user of a request: its session cookie, or a bearer token.
    func signedIn(_ request: HTTPRequest) -> WebAccess.Grant? {
        let bearer = request.header("Authorization").flatMap { value -> String? in
            guard value.lowercased().hasPrefix("bearer ") else { return nil }
            return String(value.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        }
        return access.grant(session: Self.cookie(in: request), bearer: bearer)
    }

    /// A state-changing request must say it comes from this page: its
    /// `Origin` (or, lacking one, `Sec-Fetch-Site: same-origin`).
    func sameOrigin(_ request: HTTPRequest) -> Bool {
        if let origin = request.header("Origin") { return origin == publicURL }
        return request.header("Sec-Fetch-Site") == "same-origin"
    }

    func crossOrigin() -> HTTPResponse {
        json(403, #"{"error":"refused: the request does not come from this lab's page"}"#)
    }

    func boardsPage(_ grant: WebAccess.Grant) -> String {
        var rows = ""
        for board in boards(grant) ?? [] {
            rows += "<tr><td>\(Self.escape(board.name))</td><td>\(Self.escape(board.agent))</td><td>\(board.online ? "yes" : "no")</td>"
                + "<td>\(Self.escape(board.power))</td><td>\(Self.escape(board.state))</td>"
                + "<td>\(Self.escape(board.locked.map { "(locked) " + $0 } ?? board.holder ?? "-"))</td>"
                + "<td>\(Self.escape(board.until ?? "-"))</td><td>\(Self.escape(board.tags.joined(separator: ", ")))</td></tr>\n"
        }
        return """
            <p>Signed in as <b>\(Self.escape(grant.user))</b>\(grant.admin ? " (admin)" : "").</p>
            <form method="post" action="/logout"><button type="submit">Sign out</button></form>
            <table>
            <tr><th>Board</th><th>Agent</th><th>Online</th><th>Power</th><th>State</th><th>Holder</th><th>Until</th><th>Tags</th></tr>
            \(rows)</table>
            """
    }

    /// Forbids framing, content sniffing, referrers, caching and every
    /// script or style not served by this page itself.
    static let safety: [(String, String)] = [
        ("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
        ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"), ("Cache-Control", "no-store"),
    ]

    func page(_ status: Int, title: String, body: String) -> HTTPResponse {
        let html = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>\(Self.escape(title)) · Provisioner</title></head>
            <body><h1>\(Self.escape(title))</h1>
            \(body)
            </body></html>

            """
        return HTTPResponse(status: status, headers: Self.safety + [("Content-Type", "text/html; charset=utf-8")], body: Array(html.utf8))
    }

    func json(_ status: Int, _ text: String) -> HTTPResponse {
        HTTPResponse(status: status, headers: Self.safety + [("Content-Type", "application/json")], body: Array((text + "\n").utf8))
    }

    /// Text as HTML: `& < > " '` written as entities.
    public static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    /// The session cookie of a request.
    static func cookie(in request: HTTPRequest) -> String? {
        guard let header = request.header("Cookie") else { return nil }
        for part in header.split(separator: ";") {
            let pair = part.trimmingCharacters(in: .whitespaces)
            if pair.hasPrefix(cookie + "=") { return String(pair.dropFirst(cookie.count + 1)) }
        }
        return nil
    }

    /// A request target's path and its query's values (percent-decoding
    /// left out: the only values are hex secrets).
    static func split(_ target: String) -> (path: String, query: [String: String]) {
        guard let mark = target.firstIndex(of: "?") else { return (target, [:]) }
        var query: [String: String] = [:]
        for pair in target[target.index(after: mark)...].split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2, query[String(parts[0])] == nil { query[String(parts[0])] = String(parts[1]) }
        }
        return (String(target[..<mark]), query)
    }
}
