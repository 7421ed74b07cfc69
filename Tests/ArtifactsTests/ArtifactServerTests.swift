import Artifacts
import Digest
import Foundation
import HTTPDaemon
import Logging
import ProvisionerTesting
import Testing

/// The handler called directly, as libmicrohttpd would call it: the fast tier.
@Suite struct ArtifactServerTests {
    let folder: TemporaryDirectory
    let server: ArtifactServer
    let aliceToken: String
    let bobToken: String

    init() throws {
        folder = try TemporaryDirectory(prefix: "artifact-server-tests")
        let store = try ArtifactStore(dataDirectory: folder.path("data"), quota: 100_000)
        let tokens = try TokenStore(directory: store.tokensDirectory)
        aliceToken = try tokens.token(for: "alice")
        bobToken = try tokens.token(for: "bob")
        server = ArtifactServer(store: store, tokens: tokens, logger: Logger(label: "test"))
    }

    private func request(_ method: String, _ target: String, token: String? = nil,
                         headers: [(name: String, value: String)] = []) -> HTTPRequest {
        HTTPRequest(method: method, target: target,
                    headers: headers + (token.map { [(name: "Authorization", value: "Bearer \($0)")] } ?? []))
    }

    private func upload(_ target: String, _ bytes: [UInt8], token: String? = nil, length: Bool = true,
                        headers: [(name: String, value: String)] = []) -> HTTPResponse {
        let extra = length ? [(name: "Content-Length", value: "\(bytes.count)")] : []
        switch server.handle(request("PUT", target, token: token ?? aliceToken, headers: headers + extra)) {
        case .respond(let response):
            return response
        case .receive(let receiver):
            for start in stride(from: 0, to: bytes.count, by: 1000) {
                let refusal = bytes[start..<min(start + 1000, bytes.count)].withUnsafeBytes { receiver.receive($0) }
                if let refusal { return refusal }
            }
            return receiver.finish()
        }
    }

    private func respond(_ request: HTTPRequest) throws -> HTTPResponse {
        guard case .respond(let response) = server.handle(request) else {
            throw TestSetupError("expected an immediate response")
        }
        return response
    }

    /// Every file below the data folder (tokens aside), hidden ones included.
    private func files() -> [String] {
        let enumerator = FileManager.default.enumerator(atPath: folder.path("data/users"))
        return (enumerator?.allObjects as? [String] ?? []).sorted()
    }

    @Test func uploadThenListing() throws {
        let bytes = (0..<5000).map { UInt8(truncatingIfNeeded: $0) }
        let response = upload("/u/alice/dir/a.bin", bytes, headers: [(name: "X-Checksum-Sha256", value: SHA256Hasher.hex(of: bytes).uppercased())])
        #expect(response.status == 201)
        #expect(response.header("X-Checksum-Sha256") == SHA256Hasher.hex(of: bytes))
        #expect(files() == ["alice", "alice/dir", "alice/dir/.a.bin.sha256", "alice/dir/a.bin"])
        #expect(try Array(Data(contentsOf: URL(fileURLWithPath: folder.path("data/users/alice/dir/a.bin")))) == bytes)
        let listing = try respond(request("GET", "/u/alice/?format=json"))
        guard case .bytes(let body) = listing.body else { Issue.record("listing body"); return }
        let json = try JSONSerialization.jsonObject(with: Data(body)) as? [[String: Any]]
        #expect(json?.count == 1)
        #expect(json?.first?["name"] as? String == "dir/a.bin")
        #expect(json?.first?["size"] as? Int == 5000)
        #expect(json?.first?["sha256"] as? String == SHA256Hasher.hex(of: bytes))
        #expect(upload("/u/alice/dir/a.bin", [1, 2, 3]).status == 200)  // replaced
    }

    @Test func mismatchLeavesNothing() {
        let response = upload("/u/alice/new/b.bin", [1, 2, 3], headers: [(name: "X-Checksum-Sha256", value: String(repeating: "0", count: 64))])
        #expect(response.status == 422)
        #expect(files().isEmpty)
    }

    @Test func abandonedUploadRemovesItsTempFile() throws {
        guard case .receive(let receiver) = server.handle(request("PUT", "/u/alice/deep/er/c.bin", token: aliceToken)) else {
            Issue.record("the upload was not accepted")
            return
        }
        #expect([UInt8](repeating: 7, count: 100).withUnsafeBytes { receiver.receive($0) } == nil)
        #expect(files().contains { $0.hasPrefix("alice/deep/er/.upload-") })
        receiver.abandon(reason: "test")
        #expect(files().isEmpty)
    }

    @Test func quotaIsEnforced() throws {
        #expect(upload("/u/alice/big", [UInt8](repeating: 1, count: 200_000)).status == 507)
        #expect(upload("/u/alice/big", [UInt8](repeating: 1, count: 200_000), length: false).status == 507)
        #expect(files().isEmpty)
        #expect(upload("/u/alice/fits", [UInt8](repeating: 1, count: 60_000)).status == 201)
        #expect(upload("/u/alice/second", [UInt8](repeating: 1, count: 60_000)).status == 507)
        #expect(upload("/u/alice/fits", [UInt8](repeating: 2, count: 90_000)).status == 200)  // a replacement frees the old size
    }

    @Test func tokensAreChecked() throws {
        #expect(try respond(request("PUT", "/u/alice/x", headers: [(name: "Content-Length", value: "1")])).status == 401)
        #expect(upload("/u/alice/x", [1], token: bobToken).status == 403)
        #expect(upload("/u/alice/x", [1], token: aliceToken + "0").status == 403)
        #expect(upload("/u/carol/x", [1], token: aliceToken).status == 403)  // carol has no token yet
        #expect(upload("/shared/x", [1]).status == 403)
        #expect(try respond(request("DELETE", "/u/alice/x", token: bobToken)).status == 403)
        #expect(files().isEmpty)
        let tokens = try TokenStore(directory: folder.path("data/tokens"))
        #expect(try tokens.token(for: "alice") == aliceToken)
        let mode = try FileManager.default.attributesOfItem(atPath: folder.path("data/tokens/alice"))[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test func deleteRemovesFileAndSidecar() throws {
        #expect(upload("/u/alice/d.bin", [1, 2]).status == 201)
        #expect(try respond(request("DELETE", "/u/alice/d.bin", token: aliceToken)).status == 204)
        #expect(files() == ["alice"])
        #expect(try respond(request("DELETE", "/u/alice/d.bin", token: aliceToken)).status == 404)
    }

    @Test func symlinksOutOfTheRootAreRefused() throws {
        try folder.createFile("outside/secret", text: "secret")
        try folder.createFile("data/users/bob/own", text: "bob's")
        try folder.createDirectory("data/users/alice")
        try folder.createSymbolicLink("data/users/alice/out", to: folder.path("outside/secret"))
        try folder.createSymbolicLink("data/users/alice/bob", to: "../bob/own")
        try folder.createSymbolicLink("data/users/alice/dir", to: folder.path("outside"))
        try folder.createFile("data/users/alice/real", text: "mine")
        try folder.createSymbolicLink("data/users/alice/inside", to: "real")
        #expect(try respond(request("GET", "/u/alice/out")).status == 403)
        #expect(try respond(request("GET", "/u/alice/bob")).status == 403)
        #expect(try respond(request("GET", "/u/alice/dir/secret")).status == 403)
        #expect(try respond(request("GET", "/u/alice/inside")).status == 200)
        #expect(upload("/u/alice/dir/new", [1]).status == 403)  // writes never follow symlinks
        #expect(!FileManager.default.fileExists(atPath: folder.path("outside/new")))
    }

    @Test func methodsOutsideTheListAre405() throws {
        for method in ["POST", "PATCH", "OPTIONS", "TRACE", "BREW"] {
            let response = try respond(request(method, "/u/alice/x"))
            #expect(response.status == 405)
            #expect(response.header("Allow") == "GET, HEAD, PUT, DELETE")
        }
    }
}
