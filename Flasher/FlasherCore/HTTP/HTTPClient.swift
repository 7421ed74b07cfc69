#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SystemSupport

/// The flasher's HTTP requests: small documents (manifest, bmap) with
/// retries, and JSON events.
public enum HTTPClient {
    /// GETs `url` and returns its body (status 200 only), retrying network
    /// failures and 5xx answers `retries` times.
    public static func fetch(_ url: HTTPURL, limit: Int, retries: Int, timeout: Double = 30,
                             phase: FlasherError.Phase) throws(FlasherError) -> [UInt8] {
        enum Outcome { case body([UInt8]), retry(FlasherError) }
        func attempt() throws(FlasherError) -> Outcome {
            let connection = try HTTPConnection(url: url, timeout: timeout)
            try connection.send(method: "GET")
            let head = try connection.readHead()
            guard head.status == 200 else {
                let error = FlasherError(phase, "GET \(url): HTTP \(head.status) \(head.reason)")
                if head.status >= 500 || head.status == 408 || head.status == 429 { return .retry(error) }
                throw error
            }
            return .body(try connection.readWholeBody(limit: limit))
        }
        var failures = 0
        while true {
            var failure: FlasherError
            do {
                switch try attempt() {
                case .body(let body): return body
                case .retry(let error): failure = error
                }
            } catch {
                guard error.phase == .network else { throw error }
                failure = error
                failure.phase = phase
                failure.what = "GET \(url): \(error.what)"
            }
            failures += 1
            guard failures <= retries else { throw failure }
            sleepSeconds(backoff(failures))
        }
    }

    /// POSTs a JSON document; returns the status. One try: events are best effort.
    @discardableResult
    public static func post(_ json: JSON, to url: HTTPURL, headers: [(String, String)] = [], timeout: Double = 5) throws(FlasherError) -> Int {
        let connection = try HTTPConnection(url: url, timeout: timeout)
        try connection.send(method: "POST", headers: [("Content-Type", "application/json")] + headers, body: Array(json.serialized.utf8))
        let head = try connection.readHead(method: "POST")
        _ = try? connection.readWholeBody(limit: 1 << 16)
        return head.status
    }

    /// Seconds to wait before retry `attempt` (1, 2, …): 0.25 s doubling to 4 s.
    static func backoff(_ attempt: Int) -> Double {
        min(4, 0.25 * Double(1 << min(attempt - 1, 5)))
    }
}

/// Sleeps, resuming after signals.
public func sleepSeconds(_ seconds: Double) {
    var request = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - Double(Int(seconds))) * 1e9))
    var remaining = timespec()
    while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
}
