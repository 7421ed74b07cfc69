import Curl
import Foundation
import LabMetrics
import Logging
import Synchronization
import SystemSupport

/// The Calendar API v3 calls the sync needs (events.list, insert, patch,
/// freeBusy.query) over libcurl, with the service account's bearer token. Retries
/// here: a 401 renews the token once; 403, 429, 5xx and a server that cannot
/// be reached are retried `retries` times with exponential backoff and
/// jitter. Blocks the calling thread.
final class GoogleCalendarAPI: Sendable {
    let apiURL: String
    let caFile: String?
    let auth: GoogleAuth
    let backoff: Backoff
    let retries: Int
    let logger: Logger
    /// API requests sent (retries included), for tests and the benchmark.
    let requests = Atomic<Int>(0)
    /// Kept open between requests (they are serialised by the sync's lock anyway).
    let connection = CurlConnection()

    init(apiURL: String, caFile: String?, auth: GoogleAuth, backoff: Backoff, retries: Int, logger: Logger) {
        self.apiURL = apiURL
        self.caFile = caFile
        self.auth = auth
        self.backoff = backoff
        self.retries = retries
        self.logger = logger
    }

    func listEvents(calendar: String, syncToken: String?, pageToken: String?) throws(CalendarError) -> Page {
        var query = [("singleEvents", "true"), ("showDeleted", "true"), ("maxResults", "250")]
        if let syncToken { query.append(("syncToken", syncToken)) }
        if let pageToken { query.append(("pageToken", pageToken)) }
        return try send("GET", "/calendars/\(pathEncode(calendar))/events", query: query, answer: Page.self)
    }

    /// Writes `event` and returns it as Google stored it.
    func insertEvent(calendar: String, _ event: Event) throws(CalendarError) -> Event {
        try send("POST", "/calendars/\(pathEncode(calendar))/events", query: [], body: event, answer: Event.self)
    }

    /// Changes the fields `fields` holds (the others are nil, so not sent).
    func patchEvent(calendar: String, id: String, _ fields: Event) throws(CalendarError) -> Event {
        try send("PATCH", "/calendars/\(pathEncode(calendar))/events/\(pathEncode(id))", query: [], body: fields, answer: Event.self)
    }

    /// The most calendars one `freeBusy.query` may ask for.
    static let freeBusyLimit = 50

    /// `freeBusy.query` over [from, to) for at most `freeBusyLimit`
    /// calendars: each one's busy time, or why Google could not compute it.
    func freeBusy(calendars: [String], from: Int64, to: Int64) throws(CalendarError) -> [String: BusyTime.Answer] {
        let query = FreeBusyQuery(timeMin: EventTime.format(from), timeMax: EventTime.format(to), timeZone: "UTC",
                                  items: calendars.map { FreeBusyQuery.Item(id: $0) })
        let answers = try send("POST", "/freeBusy", query: [], body: query, answer: FreeBusyAnswer.self).calendars ?? [:]
        var result: [String: BusyTime.Answer] = [:]
        for calendar in calendars {
            guard let entry = answers[calendar] ?? answers.first(where: { $0.key.lowercased() == calendar.lowercased() })?.value else {
                result[calendar] = .failed("missing from the answer")
                continue
            }
            if let errors = entry.errors, !errors.isEmpty {
                result[calendar] = .failed(errors.map { $0.reason ?? "unknown" }.joined(separator: ", "))
                continue
            }
            let busy = entry.busy ?? []
            var spans: [BusyTime.Span] = []
            for item in busy {
                guard let start = item.start.flatMap(EventTime.parseDateTime),
                      let end = item.end.flatMap(EventTime.parseDateTime) else { spans = []; break }
                spans.append(BusyTime.Span(start: start, end: end))
            }
            let unreadable = spans.isEmpty && !busy.isEmpty
            result[calendar] = unreadable ? .failed("unreadable busy time") : .busy(BusyTime(from: from, to: to, spans: spans))
        }
        return result
    }

    /// Sends one request with `body` as JSON and returns its answer, read as
    /// `Answer`. Errors name the method and path, never the query (it
    /// carries sync tokens) nor headers.
    func send<Answer: Decodable>(_ method: String, _ path: String, query: [(String, String)], body: (any Encodable)? = nil,
                                 answer: Answer.Type) throws(CalendarError) -> Answer {
        let what = "\(method) \(path)"
        var bodyBytes: [UInt8]?
        if let body {
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            guard let data = try? encoder.encode(body) else { throw CalendarError("\(what): cannot encode the request") }
            bodyBytes = Array(data)
        }
        let queryText = query.isEmpty ? "" : "?" + query.map { "\($0.0)=\(formEncode($0.1))" }.joined(separator: "&")
        var renewed = false
        var attempt = 0
        while true {
            let token = try auth.token()
            var request = CurlRequest(url: apiURL + path + queryText)
            request.method = method
            request.caFile = caFile
            request.body = bodyBytes
            request.headers = ["Authorization: Bearer \(token)", "Accept: application/json"]
                + (bodyBytes == nil ? [] : ["Content-Type: application/json"])
            requests.add(1, ordering: .relaxed)
            LabMetrics.shared.count("provisioner_calendar_requests_total", [("method", method)])
            let failure: CalendarError
            do {
                let response = try connection.perform(request)
                switch response.status {
                case 200..<300:
                    do {
                        return try JSONDecoder().decode(Answer.self, from: Data(response.body))
                    } catch {
                        let problem = (error as? DecodingError)?.fieldProblem.map { "the answer's " + $0 }
                        throw CalendarError("\(what): \(problem ?? "the answer is not a JSON object")", status: response.status)
                    }
                case 401 where !renewed:
                    logger.info("calendar: \(what) answered 401: renewing the access token")
                    auth.invalidate()
                    renewed = true
                    continue
                default:
                    failure = CalendarError("\(what) answered \(response.status)\(Self.reason(response.body))", status: response.status)
                }
            } catch let error as CalendarError {
                LabMetrics.shared.count("provisioner_calendar_errors_total", [("reason", "answer")])
                throw error
            } catch {
                failure = CalendarError("\(what): \(apiURL) cannot be reached (\(Self.redacted(error, apiURL)))")
            }
            LabMetrics.shared.count("provisioner_calendar_errors_total", [("reason", failure.status.map { "http_\($0)" } ?? "unreachable")])
            let transient = failure.status.map { $0 == 403 || $0 == 429 || $0 >= 500 } ?? true
            guard transient, attempt < retries else { throw failure }
            let delay = backoff.delay(attempt: attempt)
            logger.notice("calendar: \(failure.description); retrying in \(String(format: "%.1f", delay))s")
            attempt += 1
            usleep(UInt32(min(delay, 60) * 1_000_000))
        }
    }

    /// Google's `error.message` (or the OAuth `error`), as ": message".
    static func reason(_ body: [UInt8]) -> String {
        let decoder = JSONDecoder()
        if let message = (try? decoder.decode(ErrorAnswer.self, from: Data(body)))?.error?.message { return ": " + message }
        if let error = (try? decoder.decode(OAuthErrorAnswer.self, from: Data(body)))?.error { return ": " + error }
        return ""
    }

    /// A curl error without the URL's query (sync and page tokens).
    static func redacted(_ error: any Error, _ apiURL: String) -> String {
        var text = "\(error)"
        if let range = text.range(of: apiURL), let end = text[range.upperBound...].firstIndex(of: ":") {
            text.replaceSubrange(range.lowerBound..<end, with: "")
            text = text.trimmingCharacters(in: CharacterSet(charactersIn: ": "))
        }
        return text
    }
}

/// Percent-encoding of one path segment (calendar IDs contain '@' and '#').
func pathEncode(_ text: String) -> String { formEncode(text) }
