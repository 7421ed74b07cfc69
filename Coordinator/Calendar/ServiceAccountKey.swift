import Digest
import Foundation

/// A Google service account's JSON key file, as the Cloud console downloads
/// it: the account's address, its RSA private key (PEM) and Google's token
/// endpoint. Other fields are ignored.
struct ServiceAccountKey: Sendable {
    let clientEmail: String
    let tokenURI: String?
    let signer: RSASigner

    /// Reads `path`. Errors name the file and the field, never the key.
    init(path: String) throws(CalendarError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CalendarError("service account key \(path): cannot read the file")
        }
        try self.init(json: data, path: path)
    }

    init(json data: Data, path: String) throws(CalendarError) {
        let file: File
        do {
            file = try JSONDecoder().decode(File.self, from: data)
        } catch {
            throw CalendarError("service account key \(path): \((error as? DecodingError)?.fieldProblem ?? "not a JSON object")")
        }
        guard let email = file.clientEmail, !email.isEmpty else {
            throw CalendarError("service account key \(path): no client_email")
        }
        guard let pem = file.privateKey else {
            throw CalendarError("service account key \(path): no private_key")
        }
        do {
            signer = try RSASigner(pem: pem)
        } catch {
            throw CalendarError("service account key \(path): private_key: \(error)")
        }
        clientEmail = email
        tokenURI = file.tokenURI
    }

    /// The fields of the key file that are used.
    private struct File: Decodable {
        var clientEmail: String?
        var privateKey: String?
        var tokenURI: String?

        enum CodingKeys: String, CodingKey {
            case clientEmail = "client_email", privateKey = "private_key", tokenURI = "token_uri"
        }
    }
}
