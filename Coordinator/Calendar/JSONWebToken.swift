import Foundation

/// The signed JWT a service account trades for an access token (Google's
/// "OAuth 2.0 for Server to Server Applications"): header `{"alg":"RS256",
/// "typ":"JWT"}`, claims `iss`, `scope`, `aud`, `iat`, `exp` (one hour).
enum JSONWebToken {
    static let calendarScope = "https://www.googleapis.com/auth/calendar"

    /// The claim set: issuer (the account), scope, audience (the token
    /// endpoint), issued at and expiry in Unix seconds.
    struct Claims: Encodable {
        var iss: String
        var scope: String
        var aud: String
        var iat: Int64
        var exp: Int64
    }

    /// `base64url(header).base64url(claims).base64url(signature)`. A secret:
    /// it is sent to the token endpoint and never logged.
    static func assertion(key: ServiceAccountKey, audience: String, issuedAt: Int64) throws(CalendarError) -> String {
        let header = #"{"alg":"RS256","typ":"JWT"}"#
        let claims = Claims(iss: key.clientEmail, scope: calendarScope, aud: audience, iat: issuedAt, exp: issuedAt + 3600)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        guard let claimsData = try? encoder.encode(claims) else {
            throw CalendarError("cannot encode the JWT claims")
        }
        let signingInput = base64URL(Array(header.utf8)) + "." + base64URL(Array(claimsData))
        let signature: [UInt8]
        do {
            signature = try key.signer.signSHA256(Array(signingInput.utf8))
        } catch {
            throw CalendarError("cannot sign the JWT: \(error)")
        }
        return signingInput + "." + base64URL(signature)
    }

    /// Base64 with the URL alphabet and no padding (RFC 7515 §2).
    static func base64URL(_ bytes: [UInt8]) -> String {
        var text = Data(bytes).base64EncodedString()
        text = text.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        while text.hasSuffix("=") { text.removeLast() }
        return text
    }
}
