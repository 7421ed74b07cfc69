import Artifacts
import Foundation
import HTTPDaemon
import Logging
import ProvisionerTesting
import Testing

/// Uploads of unknown length (a chunked PUT; `upload` over SSH reads stdin
/// the same way) hold their share of the quota as their bytes come, so two
/// under way at once cannot each fill it.
@Suite struct ArtifactQuotaTests {
    let folder: TemporaryDirectory
    let server: ArtifactServer
    let token: String

    init() throws {
        folder = try TemporaryDirectory(prefix: "artifact-quota-tests")
        let store = try ArtifactStore(dataDirectory: folder.path("data"), quota: 1 << 20)
        let tokens = try TokenStore(directory: store.tokensDirectory)
        token = try tokens.token(for: "alice")
        server = ArtifactServer(store: store, tokens: tokens, logger: Logger(label: "test"))
    }

    /// Starts a PUT without a Content-Length, as a chunked one arrives.
    private func begin(_ name: String) throws -> any HTTPBodyReceiver {
        let request = HTTPRequest(method: "PUT", target: "/u/alice/\(name)",
                                  headers: [(name: "Authorization", value: "Bearer \(token)")])
        guard case .receive(let receiver) = server.handle(request) else {
            throw TestSetupError("the PUT of \(name) was not accepted")
        }
        return receiver
    }

    /// Feeds the uploads `size` bytes each, 16 KiB at a time in turn, as
    /// parallel connections would; returns each one's response.
    private func upload(_ names: [String], size: Int) throws -> [HTTPResponse] {
        let receivers = try names.map(begin)
        var responses: [HTTPResponse?] = names.map { _ in nil }
        let chunk = [UInt8](repeating: 0x5a, count: 16 << 10)
        for start in stride(from: 0, to: size, by: chunk.count) {
            let part = chunk.prefix(min(chunk.count, size - start))
            for index in receivers.indices where responses[index] == nil {
                responses[index] = part.withUnsafeBytes { receivers[index].receive($0) }
            }
        }
        return receivers.indices.map { responses[$0] ?? receivers[$0].finish() }
    }

    private func text(_ response: HTTPResponse) -> String {
        guard case .bytes(let body) = response.body else { return "" }
        return String(decoding: body, as: UTF8.self)
    }

    /// Every file in alice's space, hidden ones included.
    private func files() -> [String] {
        (FileManager.default.enumerator(atPath: folder.path("data/users/alice"))?.allObjects as? [String] ?? []).sorted()
    }

    /// An upload onto a folder is refused (409) without keeping the folder
    /// it opened: 200 refusals leave no 200 descriptors behind.
    @Test func anUploadOntoAFolderIsRefusedAndKeepsNoDescriptor() throws {
        try FileManager.default.createDirectory(atPath: folder.path("data/users/alice/boards"), withIntermediateDirectories: true)
        let open = { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0 }
        let before = open()
        for _ in 0..<200 {
            let request = HTTPRequest(method: "PUT", target: "/u/alice/boards",
                                      headers: [(name: "Authorization", value: "Bearer \(token)"), (name: "Content-Length", value: "1")])
            let response = server.handle(request)
            guard case .respond(let answer) = response else { Issue.record("the PUT onto a folder was accepted"); return }
            #expect(answer.status == 409, "\(text(answer))")
        }
        // Other tests of this process open and close descriptors meanwhile: a margin, far below 200.
        #expect(open() - before < 50, "\(open() - before) descriptors more after 200 refused uploads")
    }

    @Test func twoUploadsOfUnknownLengthCannotBothFillTheQuota() throws {
        let responses = try upload(["first.bin", "second.bin"], size: 700 << 10)
        #expect(responses.map(\.status).sorted() == [201, 507], "\(responses.map(text))")
        let refused = try #require(responses.first { $0.status == 507 })
        #expect(text(refused).hasPrefix("quota exceeded: alice uses "), "\(text(refused))")
        let stored = responses[0].status == 201 ? "first.bin" : "second.bin"
        #expect(files() == [".\(stored).sha256", stored], "no .upload-* file remains")
        let size = try FileManager.default.attributesOfItem(atPath: folder.path("data/users/alice/\(stored)"))[.size] as? Int
        #expect(size == 700 << 10)

        // What is left is the quota less the stored file, nothing held back:
        // 400 KiB no longer fits, 300 KiB does.
        let tooLarge = try upload(["third.bin"], size: 400 << 10)[0]
        #expect(tooLarge.status == 507)
        #expect(text(tooLarge).hasPrefix("quota exceeded: alice uses \(700 << 10) of \(1 << 20) bytes, the upload needs "),
                "\(text(tooLarge))")
        #expect(try upload(["third.bin"], size: 300 << 10)[0].status == 201)
        #expect(files().filter { $0.hasPrefix(".upload-") }.isEmpty)
    }
}
