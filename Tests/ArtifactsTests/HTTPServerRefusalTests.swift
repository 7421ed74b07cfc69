#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ProvisionerTesting
import Testing

/// Every refusal of issue 3 against the real binary: the status, one log
/// line each, and nothing changed on disk.
@Suite(.enabled(if: Tools.isInstalled("curl"), "needs curl"))
struct HTTPServerRefusalTests {
    @Test func refusedRequestsChangeNothing() async throws {
        let server = try await ArtifactServerProcess.start(["--quota", "1M"])
        let alice = try await server.token("alice")
        let bob = try await server.token("bob")
        try server.folder.createRandomFile("data/users/alice/mine.bin", size: 1000)
        try server.folder.createRandomFile("data/users/bob/secret", size: 1000)
        try server.folder.createRandomFile("outside/secret", size: 1000)
        try server.folder.createSymbolicLink("data/users/alice/out", to: server.folder.path("outside/secret"))
        try server.folder.createSymbolicLink("data/users/alice/bobs", to: "../bob/secret")
        try server.folder.createSymbolicLink("data/users/alice/outdir", to: server.folder.path("outside"))
        try server.folder.createRandomFile("small", size: 1000)
        try server.folder.createRandomFile("large", size: 2 << 20)
        let small = server.folder.path("small")
        let before = server.tree()
        let base = server.base

        let cases: [(String, [String], Int)] = [
            ("'..'", ["--path-as-is", "\(base)/u/alice/../bob/secret"], 400),
            ("encoded '..'", ["\(base)/u/alice/%2e%2e/bob/secret"], 400),
            ("encoded '..', upper case", ["\(base)/u/alice/%2E%2E/bob/secret"], 400),
            ("encoded '/'", ["\(base)/u/alice/..%2fbob%2fsecret"], 400),
            ("absolute path", ["--path-as-is", "\(base)/u/alice//etc/passwd"], 400),
            ("absolute path, encoded", ["\(base)/u/alice/%2fetc%2fpasswd"], 400),
            ("outside the spaces", ["\(base)/etc/passwd"], 404),
            ("NUL byte", ["\(base)/u/alice/mine.bin%00.txt"], 400),
            ("symlink out of the root", ["\(base)/u/alice/out"], 403),
            ("symlink into another user's space", ["\(base)/u/alice/bobs"], 403),
            ("folder symlink out of the root", ["\(base)/u/alice/outdir/secret"], 403),
            ("hidden name", ["\(base)/u/alice/.mine.bin.sha256"], 403),
            ("over-long name", ["\(base)/u/alice/" + String(repeating: "n", count: 300)], 414),
            ("over-long target", ["\(base)/u/alice/" + String(repeating: "d/", count: 1100) + "x"], 414),
            ("over-long header", ["-H", "X-Long: " + String(repeating: "h", count: 40_000), "\(base)/u/alice/mine.bin"], 431),
            ("method not listed", ["-X", "POST", "\(base)/u/alice/mine.bin"], 405),
            ("method not listed", ["-X", "PATCH", "\(base)/u/alice/mine.bin"], 405),
            ("PUT without a token", ["-T", small, "\(base)/u/alice/new.bin"], 401),
            ("PUT with another user's token", ["-T", small, "-H", "Authorization: Bearer \(bob)", "\(base)/u/alice/new.bin"], 403),
            // The last character changed, so never the right token by chance.
            ("PUT with a wrong token", ["-T", small, "-H", "Authorization: Bearer \(alice.dropLast())\(alice.last == "0" ? "1" : "0")", "\(base)/u/alice/new.bin"], 403),
            ("PUT with a bad checksum", ["-T", small, "-H", "Authorization: Bearer \(alice)", "-H", "X-Checksum-Sha256: 12",
                                         "\(base)/u/alice/new.bin"], 400),
            ("PUT into shared", ["-T", small, "-H", "Authorization: Bearer \(alice)", "\(base)/shared/new.bin"], 403),
            ("PUT of a hidden name", ["-T", small, "-H", "Authorization: Bearer \(alice)", "\(base)/u/alice/.meta/x"], 403),
            ("PUT through a symlink", ["-T", small, "-H", "Authorization: Bearer \(alice)", "\(base)/u/alice/outdir/new"], 403),
            ("PUT over the quota", ["-T", server.folder.path("large"), "-H", "Authorization: Bearer \(alice)",
                                    "\(base)/u/alice/large.bin"], 507),
            ("PUT over the quota, chunked", ["-T", server.folder.path("large"), "-H", "Transfer-Encoding: chunked",
                                             "-H", "Authorization: Bearer \(alice)", "\(base)/u/alice/large.bin"], 507),
            ("DELETE with another user's token", ["-X", "DELETE", "-H", "Authorization: Bearer \(bob)", "\(base)/u/alice/mine.bin"], 403),
            ("DELETE without a token", ["-X", "DELETE", "\(base)/u/alice/mine.bin"], 401),
        ]
        for (what, arguments, status) in cases {
            let logged = server.logLines(containing: "refused").count
            let result = try await curl(["-o", "/dev/null"] + arguments)
            #expect(result.status == status, "\(what): \(result.result)")
            if status != 431 {  // libmicrohttpd answers that one before any handler runs
                let lines = await eventually(timeout: .seconds(2)) { server.logLines(containing: "refused").count == logged + 1 }
                #expect(lines, "\(what): expected one log line, got \(server.logLines(containing: "refused").dropFirst(logged))")
            }
            #expect(server.tree() == before, "\(what) changed the disk")
        }

        // A raw NUL byte in the request line, which no client library sends.
        let raw = try rawTCPExchange(port: server.port, "GET /u/alice/mine.bin\0.txt HTTP/1.1\r\nHost: x\r\n\r\n", timeout: 2)
        #expect(raw.hasPrefix("HTTP/1.1 400"), "\(raw.prefix(100))")
        #expect(server.tree() == before)
        #expect(server.process.isRunning)
        await server.stop()
    }
}

