import Foundation
import HTTPDaemon
import SystemSupport
import Wire

/// The flasher's side of a job, over the agent's HTTP port (DESIGN.md,
/// "HTTP artifacts" and "Jobs"):
///
/// * `GET /api/v1/jobs/ID` — the job's manifest (JSON: images, targets, sha256).
/// * `POST /api/v1/jobs/ID/events` — one JSON event (inventory, progress,
///   success, error), handed to the job waiting for it.
///
/// ID is the job's number, a dash and an unguessable token: a request for
/// any other ID gets 403 and changes nothing. The job URL is typed into
/// U-Boot, so everyone who reads the console or its log knows it: it is not
/// the credential. The credential is the job's secret, which only the
/// manifest carries, served once (a second GET gets 410) and, for a board
/// with an address of its own, only to that address or this host; every
/// event must carry it (`Authorization: Bearer SECRET`), else 403.
public final class JobAPI: HTTPHandler, @unchecked Sendable {
    // @unchecked: `jobs` is guarded by `condition`.
    public static let prefix = "/api/v1/jobs/"
    /// Bigger events are refused (413): an event is a line of JSON.
    static let maxEventSize = 64 << 10

    private let condition = NSCondition()
    private var jobs: [String: Entry] = [:]
    private var nextNumber = 1

    private struct Entry {
        var manifest: [UInt8]
        var secret: String
        /// The board's own address: only it (or this host) may fetch the manifest.
        var boardAddress: String?
        var events: [FlasherEventReport] = []
        var fetched = false
    }

    public init() {}

    /// A new job secret: what `register` wants, and the manifest carries.
    public static func makeSecret() -> String { randomHex(32) }

    /// Registers a job's manifest (which carries `secret`); returns its ID
    /// (the last path component of its URL). `boardAddress`: the board's
    /// `board_ip`, the only address besides this host's own that may fetch it.
    public func register(manifest: [UInt8], secret: String, boardAddress: String? = nil) -> String {
        let token = randomHex(16)
        return condition.locked {
            let id = "\(nextNumber)-\(token)"
            nextNumber += 1
            jobs[id] = Entry(manifest: manifest, secret: secret, boardAddress: boardAddress)
            return id
        }
    }

    /// Forgets a job: its URL answers 403 from now on.
    public func remove(_ id: String) {
        condition.locked { _ = jobs.removeValue(forKey: id) }
    }

    /// The next event of job `id`, waiting up to `timeout` seconds; nil when none came.
    public func nextEvent(of id: String, timeout: Double) -> FlasherEventReport? {
        let deadline = Date(timeIntervalSinceNow: timeout)
        condition.lock()
        defer { condition.unlock() }
        while true {
            guard jobs[id] != nil else { return nil }
            if let event = jobs[id]?.events.first {
                jobs[id]?.events.removeFirst()
                return event
            }
            if !condition.wait(until: deadline) { return nil }
        }
    }

    /// Whether the flasher fetched the manifest yet.
    public func wasFetched(_ id: String) -> Bool { condition.locked { jobs[id]?.fetched ?? false } }

    // MARK: HTTPHandler

    public func handle(_ request: HTTPRequest) -> HTTPAction {
        let rest = request.path.dropFirst(Self.prefix.count)
        let parts = rest.split(separator: "/", omittingEmptySubsequences: false)
        let id = String(parts.first ?? "")
        switch (request.method, parts.count) {
        case ("GET", 1), ("HEAD", 1):
            return .respond(manifest(of: id, for: request))
        case ("POST", 2) where parts[1] == "events":
            let secret = condition.locked { jobs[id]?.secret }
            guard let secret else { return .respond(Self.refusal(403, "no job \(id.prefix(12))… (or a wrong token)")) }
            guard let presented = Self.bearer(of: request), constantTimeEqual(Array(presented.utf8), Array(secret.utf8)) else {
                return .respond(Self.refusal(403, "an event needs the job's secret, from its manifest (Authorization: Bearer …)"))
            }
            return .receive(EventReceiver(api: self, id: id))
        case (_, 1), (_, 2):
            return .respond(Self.refusal(405, "\(request.method) is not allowed here"))
        default:
            return .respond(Self.refusal(404, "no such job resource"))
        }
    }

    /// The manifest, once, to the board (or this host); HEAD reads nothing.
    private func manifest(of id: String, for request: HTTPRequest) -> HTTPResponse {
        let client = request.client?.host
        return condition.locked {
            guard let entry = jobs[id] else { return Self.refusal(403, "no job \(id.prefix(12))… (or a wrong token)") }
            if let board = entry.boardAddress, let client, client != board, !Self.isLoopback(client) {
                return Self.refusal(403, "only the board (\(board)) fetches its job")
            }
            guard !entry.fetched else {
                return Self.refusal(410, "the job's manifest was fetched already: the flasher fetches it once")
            }
            if request.method == "GET" { jobs[id]?.fetched = true }
            return HTTPResponse(status: 200, headers: [("Content-Type", "application/json"), ("Cache-Control", "no-store")],
                                body: request.method == "GET" ? entry.manifest : [])
        }
    }

    /// The token of an `Authorization: Bearer TOKEN` header.
    static func bearer(of request: HTTPRequest) -> String? {
        guard let value = request.header("authorization"), value.lowercased().hasPrefix("bearer ") else { return nil }
        return String(value.dropFirst("bearer ".count)).trimmingCharacters(in: .whitespaces)
    }

    /// 127.0.0.0/8 and ::1: this host (a virtual board's user network, or a local client).
    static func isLoopback(_ host: String) -> Bool {
        host.hasPrefix("127.") || host == "::1" || host == "::ffff:127.0.0.1"
    }

    fileprivate func deliver(_ body: [UInt8], to id: String) -> HTTPResponse {
        let event: FlasherEventReport
        do {
            event = try Wire.decode(FlasherEventReport.self, from: body)
        } catch {
            return Self.refusal(400, "an event is one JSON object: \(error)")
        }
        let delivered: Bool = condition.locked {
            guard jobs[id] != nil else { return false }
            jobs[id]?.events.append(event)
            condition.broadcast()
            return true
        }
        return delivered ? HTTPResponse(status: 204) : Self.refusal(403, "the job has ended")
    }

    static func refusal(_ status: Int, _ message: String) -> HTTPResponse {
        HTTPResponse(status: status, headers: [("Content-Type", "text/plain; charset=utf-8")], body: Array((message + "\n").utf8))
    }
}

/// Collects one event's body (64 KiB at most).
private final class EventReceiver: HTTPBodyReceiver, @unchecked Sendable {
    // @unchecked: libmicrohttpd calls one request's receiver from one thread at a time.
    private let api: JobAPI
    private let id: String
    private var body: [UInt8] = []

    init(api: JobAPI, id: String) {
        self.api = api
        self.id = id
    }

    func receive(_ bytes: UnsafeRawBufferPointer) -> HTTPResponse? {
        body.append(contentsOf: bytes)
        return body.count > JobAPI.maxEventSize ? JobAPI.refusal(413, "an event is at most \(JobAPI.maxEventSize) bytes") : nil
    }

    func finish() -> HTTPResponse { api.deliver(body, to: id) }

    func abandon(reason: String) {}
}

/// `count` random bytes as hex, from the system's secure generator (getrandom).
func randomHex(_ count: Int) -> String {
    randomBytes(count).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
}
