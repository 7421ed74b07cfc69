import Commands
import Foundation
import HTTPDaemon
import Reservations
import Synchronization
import SystemSupport
import Wire

/// The lab's web page on `web.listen` (DESIGN.md "Web"), on the same
/// libmicrohttpd wrapper as the artifact server. Signing in with the link
/// `ssh lab web` prints; the boards, live; a board's page with its console
/// in xterm.js (typing for its holder, watching for everyone else) and its
/// power and reservation buttons. Every action runs as the signed-in user
/// through the command layer the SSH door uses (the same policy, the same
/// audit lines). Every answer forbids framing, sniffing and inline scripts;
/// the page writes every string as text.
public final class WebServer: HTTPHandler, Sendable {
    public let access: WebAccess
    /// `http://HOST:PORT` as browsers reach it (links are made on it; a
    /// state-changing request must come from it).
    public let publicURL: String
    /// The boards as `boards --json` shows them.
    let boards: @Sendable (WebAccess.Grant) -> [BoardReport]?
    /// Runs a command line as a user, as the SSH door would: its status.
    let execute: @Sendable ([String], ShellSession) -> Int32
    let events: EventLog?
    let log: @Sendable (String) -> Void
    /// The consoles open in browsers, by id (their input comes by POST).
    private let consoles = Mutex<[String: WebTerminal]>([:])
    /// The server-sent event streams open, to end at a stop.
    private let streams = Mutex<[ObjectIdentifier: any HTTPStream]>([:])
    private let stopping = Atomic<Bool>(false)
    /// The service's threads, which the consoles' threads join: started on
    /// libmicrohttpd's threads, they would belong to no group, nothing would
    /// wait for them at a stop, and libmicrohttpd could be stopped under
    /// their WebSockets, or the process exit under a console still talking
    /// to its agent through libssh.
    private let threads = Mutex<ThreadGroup?>(nil)

    public static let cookie = "provisioner_session"

    public init(access: WebAccess, publicURL: String, boards: @escaping @Sendable (WebAccess.Grant) -> [BoardReport]?,
                execute: @escaping @Sendable ([String], ShellSession) -> Int32 = { _, _ in 1 }, events: EventLog? = nil,
                log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.access = access
        self.publicURL = publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL
        self.boards = boards
        self.execute = execute
        self.events = events
        self.log = log
    }

    /// The daemon options the page needs: a thread per connection (its
    /// event streams and consoles wait on their connection's thread).
    public static var daemonOptions: HTTPDaemonOptions {
        var options = HTTPDaemonOptions()
        options.threads = .perConnection
        options.connectionLimit = 512
        options.perAddressConnectionLimit = 64
        options.connectionTimeout = 0
        return options
    }

    /// Starts the consoles' threads in `group` from now on (the web
    /// service's, current when it starts): its stop waits for them.
    public func startThreads(in group: ThreadGroup?) {
        threads.withLock { $0 = group }
    }

    var threadGroup: ThreadGroup? { threads.withLock { $0 } }

    /// Ends every console and event stream (before the daemon stops: their
    /// threads wait in them).
    public func stop() {
        stopping.store(true, ordering: .releasing)
        for stream in streams.withLock({ Array($0.values) }) { stream.close() }
        for console in consoles.withLock({ Array($0.values) }) { console.close() }
        events?.wakeWaiters()
    }

    var secure: Bool { publicURL.hasPrefix("https://") }

    public func handle(_ request: HTTPRequest) -> HTTPAction {
        let (path, query) = Self.split(request.target)
        if request.method == "POST" {
            // Every state change: from this page (its Origin), with the session's CSRF token.
            guard let grant = signedIn(request) else { return .respond(json(401, Self.notSignedIn)) }
            guard grant.csrf == nil || sameOrigin(request) else { return .respond(crossOrigin()) }
            return .receive(SmallBody(limit: 64 * 1024, tooLarge: json(413, #"{"error":"too large"}"#)) { [self] body in
                // A browser session's token: the script's header, or a form's `csrf` field.
                if let csrf = grant.csrf, request.header("X-CSRF-Token") != csrf,
                   String(decoding: body, as: UTF8.self) != "csrf=" + csrf {
                    return crossOrigin()
                }
                return post(path, body: body, grant: grant, request: request)
            })
        }
        return .respond(answer(request, path: path, query: query))
    }

    func answer(_ request: HTTPRequest, path: String, query: [String: String]) -> HTTPResponse {
        guard request.method == "GET" || request.method == "HEAD" else { return json(405, #"{"error":"method not allowed"}"#) }
        switch path {
        case "/login":
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
        case "/favicon.ico": return HTTPResponse(status: 204, headers: Self.safety)
        case "/static/app.js": return asset(Array(WebAssets.script.utf8), type: "text/javascript; charset=utf-8")
        case "/static/app.css": return asset(Array(WebAssets.style.utf8), type: "text/css; charset=utf-8")
        case "/static/xterm.js":
            guard let script = XtermBundle.script else { return json(404, #"{"error":"xterm.js is not installed (Debian's node-xterm)"}"#) }
            return asset(script, type: "text/javascript; charset=utf-8")
        case "/static/xterm.css":
            guard let css = XtermBundle.css else { return json(404, #"{"error":"xterm.css is not installed (Debian's libjs-xterm)"}"#) }
            return asset(css, type: "text/css; charset=utf-8")
        default: break
        }
        guard let grant = signedIn(request) else {
            if path.hasPrefix("/api/") { return json(401, Self.notSignedIn) }
            return page(401, title: "Sign in", body: "<p>Run <code>ssh lab web</code> and open the link it prints.</p>")
        }
        if path == "/" { return page(200, title: "Boards", grant: grant, extra: [("page", "boards")], body: Self.boardsBody) }
        if path == "/timeline" {
            return page(200, title: "Timeline", grant: grant, extra: [("page", "timeline")], body: Self.timelineBody)
        }
        if path == "/audit" {
            guard grant.admin else { return page(403, title: "Audit", grant: grant, body: "<p>The audit log is for admins.</p>") }
            return page(200, title: "Audit", grant: grant, extra: [("page", "audit")], body: Self.auditBody)
        }
        if path.hasPrefix("/board/") {
            let name = String(path.dropFirst(7))
            guard Self.isName(name) else { return page(404, title: "Not found", body: "<p>No such board.</p>") }
            return page(200, title: name, grant: grant, extra: [("page", "board"), ("board", name)], body: Self.boardBody)
        }
        switch path {
        case "/api/v1/boards":
            guard let rows = boards(grant) else { return json(503, #"{"error":"the boards cannot be read now"}"#) }
            return json(200, Wire.line(rows))
        case "/api/v1/reservations":
            return command(["reservations", "--json"], grant, raw: true)
        case "/api/v1/queue":
            return command(["queue", "--json"], grant, raw: true)
        case "/api/v1/audit":
            return command(["audit", "--json"], grant, raw: true)
        case "/api/v1/events":
            return eventStream(after: request.header("Last-Event-ID").flatMap { Int64($0) })
        default: break
        }
        if path.hasPrefix("/api/v1/boards/"), path.hasSuffix("/console") {
            let name = String(path.dropFirst(15).dropLast(8))
            guard Self.isName(name) else { return json(404, #"{"error":"no such board"}"#) }
            var accept: String?
            if request.header("Upgrade") != nil {
                // A WebSocket: the browser's input comes on it, so it is held
                // to what a POST is (this page's Origin, the session's token).
                if let csrf = grant.csrf, !sameOrigin(request) || query["csrf"] != csrf { return crossOrigin() }
                switch WebSocket.accept(request) {
                case .success(let answer): accept = answer
                case .failure(let failure) where failure.code == 426:
                    return HTTPResponse(status: 426, headers: Self.safety + [("Sec-WebSocket-Version", "13"), ("Content-Type", "application/json")],
                                        body: Array(Wire.line(["error": failure.reason]).utf8))
                case .failure(let failure): return json(400, Wire.line(["error": failure.reason]))
                }
            }
            return console(name, grant, columns: query["cols"].flatMap { Int($0) } ?? 100, rows: query["rows"].flatMap { Int($0) } ?? 30,
                           accept: accept)
        }
        if path.hasPrefix("/api/v1/boards/"), path.hasSuffix("/jobs") {
            let name = String(path.dropFirst(15).dropLast(5))
            guard Self.isName(name) else { return json(404, #"{"error":"no such board"}"#) }
            return command(["jobs", name, "--json"], grant, raw: true)
        }
        return page(404, title: "Not found", body: "<p>Nothing is here.</p>")
    }

    /// POST: the buttons and the console's keys.
    func post(_ path: String, body: [UInt8], grant: WebAccess.Grant, request: HTTPRequest) -> HTTPResponse {
        if path == "/logout" {
            if let session = Self.cookie(in: request) { access.endSession(session) }
            return HTTPResponse(status: 303, headers: Self.safety + [("Location", "/"),
                                                                     ("Set-Cookie", "\(Self.cookie)=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")])
        }
        if path.hasPrefix("/api/v1/console/"), path.hasSuffix("/input") {
            let id = String(path.dropFirst(16).dropLast(6))
            guard let console = consoles.withLock({ $0[id] }), console.user == grant.user else {
                return json(404, #"{"error":"no such console of yours"}"#)
            }
            console.type(body)
            return json(200, #"{"ok":true}"#)
        }
        let parts = path.split(separator: "/").map(String.init)
        guard parts.count >= 5, parts[0] == "api", parts[1] == "v1", parts[2] == "boards", Self.isName(parts[3]) else {
            return json(404, #"{"error":"nothing is here"}"#)
        }
        let board = parts[3]
        switch Array(parts.dropFirst(4)) {
        case ["power", "on"], ["power", "off"], ["power", "cycle"]: return command(["power", board, parts[5]], grant)
        case ["reserve-until"]:
            let until = String(decoding: body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            return command(["reserve", board, "--until", until], grant)
        case ["reserve"]:
            let length = String(decoding: body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            return command(["reserve", board, "--for", length.isEmpty ? "1h" : length], grant)
        case ["release"]: return command(["release", board], grant)
        default: return json(404, #"{"error":"nothing is here"}"#)
        }
    }

    /// Runs `words` as the user, as the SSH door would; its status and
    /// output as JSON (`raw`: the command's own JSON output, when it worked).
    func command(_ words: [String], _ grant: WebAccess.Grant, raw: Bool = false) -> HTTPResponse {
        let streams = CapturedStreams()
        let status = execute(words, ShellSession(streams: streams, identity: ShellIdentity(user: grant.user, admin: grant.admin)))
        if raw && status == 0 { return json(200, streams.stdout.trimmingCharacters(in: .newlines)) }
        struct Outcome: Encodable { let status: Int32, stdout: String, stderr: String }
        let code = status == 0 ? 200 : status == 3 ? 403 : status == 2 ? 400 : 409
        return json(code, Wire.line(Outcome(status: status, stdout: streams.stdout, stderr: streams.stderr)))
    }

    /// The board's console as server-sent events (or, with `accept`, a
    /// WebSocket's answer), run as `console BOARD` for the user on its own
    /// thread (typing for the holder, watching for the rest: the command
    /// layer decides).
    func console(_ board: String, _ grant: WebAccess.Grant, columns: Int, rows: Int, accept: String? = nil) -> HTTPResponse {
        guard !stopping.load(ordering: .acquiring) else { return json(503, #"{"error":"stopping"}"#) }
        let terminal = WebTerminal(id: WebAccess.secret(), user: grant.user, columns: columns, rows: rows)
        consoles.withLock { $0[terminal.id] = terminal }
        let identity = ShellIdentity(user: grant.user, admin: grant.admin)
        do {
            try startThread(named: "web-console", in: threadGroup) { [self] in
                let status = execute(["console", board], ShellSession(streams: terminal, identity: identity))
                if status != 0 { terminal.write(Array("\r\n[provisioner] the console ended (status \(status))\r\n".utf8)) }
                terminal.endOutput()
                consoles.withLock { _ = $0.removeValue(forKey: terminal.id) }
            }
        } catch {
            consoles.withLock { _ = $0.removeValue(forKey: terminal.id) }
            return json(503, #"{"error":"cannot start the console"}"#)
        }
        if let accept {
            // libmicrohttpd adds "Connection: Upgrade" itself.
            return HTTPResponse(status: 101, headers: [("Upgrade", "websocket"), ("Sec-WebSocket-Accept", accept)],
                                upgrade: WebConsoleSocket(terminal, threads: threadGroup))
        }
        return HTTPResponse(status: 200, headers: Self.safety + Self.eventHeaders, stream: terminal)
    }

    /// The lab's events as server-sent events (`id:` the event's id, `data:`
    /// its JSON as `events --json` writes it), from `after` (default: now).
    func eventStream(after: Int64?) -> HTTPResponse {
        guard let events else { return json(404, #"{"error":"this lab keeps no events"}"#) }
        let position = EventCursor(after ?? events.lastID)
        let stream = EventStream { [weak self] in
            guard let self, !self.stopping.load(ordering: .acquiring) else { return nil }
            let from = position.id
            events.waitForMore(after: from, timeout: 10)
            let batch = events.events(after: from, limit: 200)
            guard let last = batch.last else { return "" }
            position.id = last.id
            return batch.map { "id: \($0.id)\ndata: \(Wire.line($0))\n\n" }.joined()
        }
        let key = ObjectIdentifier(stream)
        streams.withLock { $0[key] = stream }
        return HTTPResponse(status: 200, headers: Self.safety + Self.eventHeaders, stream: ClosingStream(stream) { [weak self] in
            self?.streams.withLock { _ = $0.removeValue(forKey: key) }
        })
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

    static let notSignedIn = #"{"error":"not signed in: send the session cookie or Authorization: Bearer (ssh lab web --token)"}"#

    static let boardsBody = """
        <table id="boards"><thead><tr><th>Board</th><th>Tags</th><th>Agent</th><th>Online</th><th>Power</th><th>State</th><th>Holder</th><th>Queue</th></tr></thead>
        <tbody></tbody></table>
        """

    static let boardBody = """
        <p id="status"></p>
        <div id="actions"></div>
        <p id="said"></p>
        <p id="console-mode"></p>
        <div id="console"></div>
        <h2>Jobs</h2>
        <div id="rates"></div>
        <table id="jobs"><thead><tr><th>Started</th><th>Job</th><th>User</th><th>Took</th><th>Result</th><th>Steps</th></tr></thead>
        <tbody></tbody></table>
        """

    static let timelineBody = """
        <p>A week of reservations per board from the start of today (blue: reserved here; brown: booked in the calendar;
        red: now). Click a board's row to reserve it from now until the end of that hour.</p>
        <p id="said"></p>
        <div id="timeline"></div>
        """

    static let auditBody = """
        <p id="said"></p>
        <table id="audit"><thead><tr><th>Time</th><th>User</th><th>Action</th><th>Board</th><th>Detail</th></tr></thead>
        <tbody></tbody></table>
        """

    /// Forbids framing, content sniffing, referrers, caching and every
    /// script or style not served by this page itself.
    static let safety: [(String, String)] = [
        ("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
        ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"), ("Cache-Control", "no-store"),
    ]

    static let eventHeaders: [(String, String)] = [("Content-Type", "text/event-stream"), ("X-Accel-Buffering", "no")]

    func page(_ status: Int, title: String, grant: WebAccess.Grant? = nil, extra: [(String, String)] = [], body: String) -> HTTPResponse {
        var head = "<meta charset=\"utf-8\"><title>\(Self.escape(title)) · Provisioner</title>"
        var header = ""
        if let grant {
            for (name, value) in [("user", grant.user), ("admin", grant.admin ? "true" : "false"), ("csrf", grant.csrf ?? "")] + extra {
                head += "<meta name=\"\(name)\" content=\"\(Self.escape(value))\">"
            }
            head += "<link rel=\"stylesheet\" href=\"/static/app.css\"><link rel=\"stylesheet\" href=\"/static/xterm.css\">"
                + "<script src=\"/static/xterm.js\"></script><script src=\"/static/app.js\"></script>"
            header = "<header><a href=\"/\">Boards</a> · <a href=\"/timeline\">Timeline</a>\(grant.admin ? " · <a href=\"/audit\">Audit</a>" : "") · signed in as <b id=\"me\">\(Self.escape(grant.user))</b>"
                + "\(grant.admin ? " (admin)" : "") · <form method=\"post\" action=\"/logout\" id=\"logout\">"
                + "<input type=\"hidden\" name=\"csrf\" value=\"\(Self.escape(grant.csrf ?? ""))\">"
                + "<button type=\"submit\">Sign out</button></form></header>"
        }
        let html = """
            <!DOCTYPE html>
            <html lang="en"><head>\(head)</head>
            <body>\(header)<h1>\(Self.escape(title))</h1>
            \(body)
            </body></html>

            """
        return HTTPResponse(status: status, headers: Self.safety + [("Content-Type", "text/html; charset=utf-8")], body: Array(html.utf8))
    }

    func asset(_ bytes: [UInt8], type: String) -> HTTPResponse {
        HTTPResponse(status: 200, headers: [("Content-Type", type), ("X-Content-Type-Options", "nosniff"), ("Cache-Control", "max-age=300")],
                     body: bytes)
    }

    func json(_ status: Int, _ text: String) -> HTTPResponse {
        HTTPResponse(status: status, headers: Self.safety + [("Content-Type", "application/json")], body: Array((text + "\n").utf8))
    }

    /// A board's name as agents allow them ([a-z0-9._-], not starting with . or -).
    static func isName(_ text: String) -> Bool {
        guard let first = text.utf8.first, first != 0x2E, first != 0x2D, text.utf8.count <= 64 else { return false }
        return text.utf8.allSatisfy { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D }
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
    /// left out: the only values are hex secrets and numbers).
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

/// Where an event stream is: used by its connection's thread only.
final class EventCursor: @unchecked Sendable {
    var id: Int64
    init(_ id: Int64) { self.id = id }
}

/// A stream that tells its owner when it is done.
final class ClosingStream: HTTPStream, Sendable {
    let inner: any HTTPStream
    let done: @Sendable () -> Void

    init(_ inner: any HTTPStream, done: @escaping @Sendable () -> Void) {
        self.inner = inner
        self.done = done
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) -> Int? { inner.read(into: buffer) }

    func close() {
        inner.close()
        done()
    }
}
