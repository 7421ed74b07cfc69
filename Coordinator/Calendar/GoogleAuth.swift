import Curl
import Foundation
import Logging
import Synchronization
import SystemSupport

/// Access tokens for a service account: a JWT signed with its key is traded
/// at `tokenURL` for a bearer token, which is kept and renewed shortly before
/// it expires (or at once after a 401). Callable from any thread; the
/// network call blocks the caller.
final class GoogleAuth: Sendable {
    let key: ServiceAccountKey
    let tokenURL: String
    let caFile: String?
    let logger: Logger
    private let cached = Mutex<(token: String, renewAt: Double)?>(nil)
    /// Token requests made, for tests and the benchmark.
    let renewals = Atomic<Int>(0)

    init(key: ServiceAccountKey, tokenURL: String, caFile: String?, logger: Logger) {
        self.key = key
        self.tokenURL = tokenURL
        self.caFile = caFile
        self.logger = logger
    }

    /// A valid access token: the kept one, or a new one.
    func token() throws(CalendarError) -> String {
        let now = wallClock()
        if let kept = cached.withLock({ $0 }), now < kept.renewAt { return kept.token }
        return try renew()
    }

    /// Forgets the kept token (Google answered 401 with it).
    func invalidate() {
        cached.withLock { $0 = nil }
    }

    private func renew() throws(CalendarError) -> String {
        let issued = Int64(wallClock())
        let assertion = try JSONWebToken.assertion(key: key, audience: tokenURL, issuedAt: issued)
        var request = CurlRequest(url: tokenURL)
        request.method = "POST"
        request.caFile = caFile
        request.headers = ["Content-Type: application/x-www-form-urlencoded", "Accept: application/json"]
        request.body = Array(("grant_type=" + formEncode("urn:ietf:params:oauth:grant-type:jwt-bearer")
                              + "&assertion=" + formEncode(assertion)).utf8)
        renewals.add(1, ordering: .relaxed)
        let response: CurlResponse
        do {
            response = try request.perform()
        } catch {
            throw CalendarError("token endpoint \(tokenURL) cannot be reached: \(error)")
        }
        let object = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any]
        guard response.status == 200 else {
            // Google's error body names the problem (invalid_grant, …) and holds no secret.
            let reason = [object?["error"] as? String, object?["error_description"] as? String].compactMap { $0 }.joined(separator: ": ")
            throw CalendarError("token endpoint \(tokenURL) answered \(response.status)\(reason.isEmpty ? "" : ": " + reason)",
                                status: response.status)
        }
        guard let token = object?["access_token"] as? String, !token.isEmpty else {
            throw CalendarError("token endpoint \(tokenURL) answered without an access_token")
        }
        let lifetime = (object?["expires_in"] as? NSNumber)?.doubleValue ?? 3600
        // Renew a little before it expires: 5 minutes, or a tenth of a short lifetime.
        let renewAt = Double(issued) + lifetime - min(300, lifetime / 10)
        cached.withLock { $0 = (token, renewAt) }
        logger.info("calendar: new access token for \(key.clientEmail), valid \(Int(lifetime))s")
        return token
    }
}

/// `application/x-www-form-urlencoded` / query encoding of one value.
func formEncode(_ text: String) -> String {
    var allowed = CharacterSet.alphanumerics
    allowed.insert(charactersIn: "-._~")
    return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
}
