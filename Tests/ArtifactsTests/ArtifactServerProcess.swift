import Digest
import Foundation
import ProvisionerTesting
import Testing

/// The built `provisioner-agent http` on 127.0.0.1 with a kernel-chosen
/// port and a fresh data folder; stopped (by PID) when the test ends.
final class ArtifactServerProcess: Sendable {
    let folder: TemporaryDirectory
    let process: RunningProcess
    let port: UInt16

    var data: String { folder.path("data") }
    var base: String { "http://127.0.0.1:\(port)" }

    static func start(_ extra: [String] = []) async throws -> ArtifactServerProcess {
        let folder = try TemporaryDirectory(prefix: "artifacts-http")
        let process = try RunningProcess(try Tools.agent(), ["http", "--root", folder.path("data"),
                                                             "--listen", "127.0.0.1:0", "--log-level", "debug"] + extra)
        let line = try await process.waitForLine(containing: "http: serving on 127.0.0.1:")
        guard let port = line.split(separator: ":").last.flatMap({ UInt16($0) }) else {
            throw TestSetupError("no port in '\(line)'")
        }
        return ArtifactServerProcess(folder: folder, process: process, port: port)
    }

    private init(folder: TemporaryDirectory, process: RunningProcess, port: UInt16) {
        self.folder = folder
        self.process = process
        self.port = port
    }

    func stop() async {
        let status = await process.terminate()
        #expect(status == 0, "the server should exit 0 on SIGTERM: \(process.stderr)")
    }

    /// `provisioner-agent token --root DATA USER`
    func token(_ user: String) async throws -> String {
        let result = try await RunningProcess.run(try Tools.agent(), ["token", "--root", data, user])
        try #require(result.exitCode == 0, "\(result)")
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Lines of the server's log containing `text`.
    func logLines(containing text: String) -> [String] {
        process.stderr.split(separator: "\n").filter { $0.contains(text) }.map(String.init)
    }

    /// Every path below users/ and shared/, hidden files included.
    func tree() -> [String] {
        ["users", "shared"].flatMap { top in
            ((FileManager.default.enumerator(atPath: data + "/" + top)?.allObjects as? [String]) ?? []).map { top + "/" + $0 }
        }.sorted()
    }
}

/// What curl reports of one transfer.
struct CurlResult {
    var status: Int
    var headers: [String: String]  // lowercased names
    var result: ProcessResult
}

/// Runs curl with `arguments`; `-sS`, a header dump and the status are added.
func curl(_ arguments: [String], timeout: Duration = .seconds(60)) async throws -> CurlResult {
    let dump = try TemporaryDirectory(prefix: "curl-headers")
    let result = try await RunningProcess.run("curl", ["-sS", "-D", dump.path("headers"), "-w", "%{http_code}"] + arguments,
                                              timeout: timeout)
    var headers: [String: String] = [:]
    let text = (try? String(contentsOfFile: dump.path("headers"), encoding: .utf8)) ?? ""
    // With 100 Continue there are two header blocks: keep the last.
    for block in text.components(separatedBy: "\r\n\r\n") where !block.isEmpty {
        headers = [:]
        for line in block.split(separator: "\r\n").dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
    }
    let code = Int(result.stdout.suffix(3)) ?? 0
    return CurlResult(status: code, headers: headers, result: result)
}

func sha256(_ data: Data) -> String { SHA256Hasher.hex(of: data) }

func readFile(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }
