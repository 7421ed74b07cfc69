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
        guard response.status == 200 else {
            // Google's error body names the problem (invalid_grant, …) and holds no secret.
            let error = try? JSONDecoder().decode(OAuthErrorAnswer.self, from: Data(response.body))
            let reason = [error?.error, error?.errorDescription].compactMap { $0 }.joined(separator: ": ")
            throw CalendarError("token endpoint \(tokenURL) answered \(response.status)\(reason.isEmpty ? "" : ": " + reason)",
                                status: response.status)
        }
        let answer: TokenAnswer
        do {
            answer = try JSONDecoder().decode(TokenAnswer.self, from: Data(response.body))
        } catch {
            let problem = (error as? DecodingError)?.fieldProblem.map { "a malformed token answer: " + $0 }
            throw CalendarError("token endpoint \(tokenURL) answered \(problem ?? "without an access_token")")
        }
        guard let token = answer.accessToken, !token.isEmpty else {
            throw CalendarError("token endpoint \(tokenURL) answered without an access_token")
        }
        let lifetime = try Self.lifetime(answer.expiresIn, tokenURL: tokenURL)
        // Renew a little before it expires: 5 minutes, or a tenth of a short lifetime.
        let renewAt = Double(issued) + lifetime - min(300, lifetime / 10)
        cached.withLock { $0 = (token, renewAt) }
        logger.info("calendar: new access token for \(key.clientEmail), valid \(Int(lifetime))s")
        return token
    }

    /// The longest lifetime a token is kept for, whatever the endpoint says
    /// (Google's last an hour): renewing early costs one request.
    static let longestLifetime: Double = 86_400

    /// Seconds the token is valid: `expires_in` (a JSON number, whole or
    /// not), an hour when absent, at most `longestLifetime`. A lifetime of
    /// zero or less is refused: the token would already have expired.
    static func lifetime(_ expiresIn: Double?, tokenURL: String) throws(CalendarError) -> Double {
        guard let expiresIn else { return 3600 }
        guard expiresIn > 0 else {
            throw CalendarError("token endpoint \(tokenURL) answered a token that has already expired (expires_in \(expiresIn))")
        }
        return min(expiresIn, longestLifetime)
    }
}

/// The token endpoint's answer (RFC 6749 §5.1); `token_type` is always Bearer.
struct TokenAnswer: Decodable {
    var accessToken: String?
    /// Seconds; a JSON number, checked by `GoogleAuth.lifetime` before use.
    var expiresIn: Double?

    enum CodingKeys: String, CodingKey {
        case accessToken = "access_token", expiresIn = "expires_in"
    }
}

/// `application/x-www-form-urlencoded` / query encoding of one value.
func formEncode(_ text: String) -> String {
    var allowed = CharacterSet.alphanumerics
    allowed.insert(charactersIn: "-._~")
    return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
}
