import Curl
import Foundation

/// The fake Google of `FakeGoogle/fake_google.py` (bench/calendar runs the
/// same script), started for one test: a service account key pair made with
/// `openssl` (the fake verifies each JWT against the public half), and for
/// HTTPS a test CA and a server certificate for 127.0.0.1, all in a
/// temporary folder. Stopped by its PID when the test lets go of it.
public final class FakeGoogle: Sendable {
    public static let serviceEmail = "provisioner@lab-test.iam.gserviceaccount.com"
    public static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("FakeGoogle/fake_google.py").path

    public let folder: TemporaryDirectory
    public let process: RunningProcess
    public let baseURL: String
    /// The CA that signed the server certificate (nil over plain HTTP).
    public let caFile: String?
    /// The service account key file the coordinator reads.
    public let keyFile: String
    /// The private key's PEM, to look for it in logs.
    public let privateKeyPEM: String

    public init(https: Bool = true) async throws {
        folder = try TemporaryDirectory(prefix: "fake-google")
        let path = folder.path
        try await Self.openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "\(path)/sa.pem"])
        try await Self.openssl(["pkey", "-in", "\(path)/sa.pem", "-pubout", "-out", "\(path)/sa.pub"])
        privateKeyPEM = try String(contentsOfFile: "\(path)/sa.pem", encoding: .utf8)
        let key: [String: Any] = [
            "type": "service_account", "project_id": "lab-test", "private_key_id": "0123abcd",
            "private_key": privateKeyPEM, "client_email": Self.serviceEmail, "client_id": "1234567890",
            "token_uri": "https://oauth2.googleapis.com/token",
        ]
        keyFile = try folder.createFile("sa.json", contents: JSONSerialization.data(withJSONObject: key))
        var arguments = [Self.script, "--public-key", "\(path)/sa.pub", "--service-email", Self.serviceEmail]
        if https {
            try await Self.makeCertificates(in: path)
            arguments += ["--cert", "\(path)/server.pem", "--key", "\(path)/server.key"]
            caFile = "\(path)/ca.pem"
        } else {
            caFile = nil
        }
        process = try RunningProcess("python3", arguments)
        let line = try await process.waitForLine(containing: "PORT ", in: .stdout, timeout: .seconds(10))
        guard let port = line.split(separator: " ").last.flatMap({ UInt16($0.trimmingCharacters(in: .whitespaces)) }) else {
            throw TestSetupError("fake Google printed no port: \(line)")
        }
        baseURL = "\(https ? "https" : "http")://127.0.0.1:\(port)"
    }

    /// A test CA and a certificate for 127.0.0.1 signed by it (EC keys: fast).
    public static func makeCertificates(in path: String) async throws {
        try await openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                           "-keyout", "\(path)/ca.key", "-out", "\(path)/ca.pem", "-days", "2", "-subj", "/CN=Provisioner Test CA",
                           "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        try await openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                           "-keyout", "\(path)/server.key", "-out", "\(path)/server.csr", "-subj", "/CN=127.0.0.1"])
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
            .write(toFile: "\(path)/server.ext", atomically: true, encoding: .utf8)
        try await openssl(["x509", "-req", "-in", "\(path)/server.csr", "-CA", "\(path)/ca.pem", "-CAkey", "\(path)/ca.key",
                           "-CAcreateserial", "-out", "\(path)/server.pem", "-days", "2", "-extfile", "\(path)/server.ext"])
    }

    public static func openssl(_ arguments: [String]) async throws {
        let result = try await RunningProcess.run("openssl", arguments)
        guard result.exitCode == 0 else { throw TestSetupError("openssl \(arguments.first ?? ""): \(result.stderr)") }
    }

    public var apiURL: String { baseURL + "/calendar/v3" }
    public var tokenURL: String { baseURL + "/token" }

    /// Calls an `/_admin/…` action of the fake.
    @discardableResult
    public func admin(_ action: String, _ query: [String: String] = [:], body: [String: Any]? = nil) throws -> [String: Any] {
        let queryText = query.isEmpty ? "" : "?" + query.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0.value)" }.joined(separator: "&")
        var request = CurlRequest(url: baseURL + "/_admin/" + action + queryText)
        request.method = body == nil && ["stats", "events", "count"].contains(action) ? "GET" : "POST"
        request.caFile = caFile
        if let body { request.body = Array(try JSONSerialization.data(withJSONObject: body)) }
        let response = try request.perform()
        guard response.status == 200, let object = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any] else {
            throw TestSetupError("fake Google /_admin/\(action): \(response.status) \(response.text)")
        }
        return object
    }

    /// Writes an event into calendar `calendar` as a person would.
    public func put(_ calendar: String, _ event: [String: Any]) throws { try admin("put", ["cal": calendar], body: event) }

    /// Writes many events at once (one admin request, not one each).
    public func put(_ calendar: String, events: [[String: Any]]) throws { try admin("put", ["cal": calendar], body: ["items": events]) }

    /// Cancels an event as a person deleting it would (status `cancelled`).
    public func cancel(_ calendar: String, id: String) throws { try admin("cancel", ["cal": calendar, "id": id]) }

    /// Makes the next `count` requests whose "METHOD /path" contains `match` fail with `status`.
    public func fail(_ match: String, status: Int, count: Int = 1) throws {
        try admin("fail", body: ["match": match, "status": status, "count": count])
    }

    /// Makes the next `count` requests whose "METHOD /path" contains `match` get `body` (raw text) with `status`.
    public func answer(_ match: String, status: Int = 200, body: String, count: Int = 1) throws {
        try admin("fail", body: ["match": match, "status": status, "count": count, "answer": body])
    }

    /// Makes the token endpoint give the next tokens `expires_in: value` (any JSON number).
    public func setTokenLifetime(_ value: Any) throws { try admin("expires-in", body: ["value": value]) }

    /// The requests the fake answered (not /_admin), oldest first, with the
    /// client's port (one port: one connection kept open) and, for
    /// freeBusy, how many calendars it asked about.
    public func requests() throws -> [(method: String, path: String, query: [String: String], status: Int, clientPort: Int, calendars: Int?)] {
        let log = try admin("stats")["log"] as? [[String: Any]] ?? []
        return log.map { ($0["method"] as? String ?? "", $0["path"] as? String ?? "", $0["query"] as? [String: String] ?? [:],
                          $0["status"] as? Int ?? 0, $0["client_port"] as? Int ?? 0, $0["calendars"] as? Int) }
    }

    /// Every secret the fake saw: access tokens it issued and JWTs it got.
    public func secrets() throws -> [String] {
        let stats = try admin("stats")
        return (stats["tokens"] as? [String] ?? []) + (stats["assertions"] as? [String] ?? [])
    }

    public func events(_ calendar: String) throws -> [[String: Any]] {
        try admin("events", ["cal": calendar])["items"] as? [[String: Any]] ?? []
    }
}
