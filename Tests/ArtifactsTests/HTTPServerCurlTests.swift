import Foundation
import ProvisionerTesting
import Testing

/// The real binary against real curl and wget on 127.0.0.1 (TESTING.md).
@Suite(.enabled(if: Tools.isInstalled("curl"), "needs curl"))
struct HTTPServerCurlTests {
    @Test func wholeFilesHeadAndListing() async throws {
        let server = try await ArtifactServerProcess.start()
        let token = try await server.token("alice")
        let source = try server.folder.createRandomFile("source.img", size: 3 << 20)
        let put = try await curl(["-T", server.folder.path("source.img"), "-H", "Authorization: Bearer \(token)",
                                  "-H", "X-Checksum-Sha256: \(sha256(source))", "\(server.base)/u/alice/img/rootfs.img"])
        #expect(put.status == 201, "\(put.result)")
        #expect(server.tree().contains("users/alice/img/.rootfs.img.sha256"))

        let get = try await curl(["-o", server.folder.path("fetched"), "\(server.base)/u/alice/img/rootfs.img"])
        #expect(get.status == 200)
        #expect(readFile(server.folder.path("fetched")) == source)
        #expect(get.headers["content-type"] == "application/octet-stream")

        let head = try await curl(["-I", "\(server.base)/u/alice/img/rootfs.img"])
        #expect(head.status == 200)
        #expect(head.headers["content-length"] == "\(3 << 20)")
        #expect(head.headers["accept-ranges"] == "bytes")
        #expect(head.headers["etag"]?.hasPrefix("\"") == true)
        #expect(head.headers["last-modified"]?.hasSuffix(" GMT") == true)

        let listing = try await curl(["\(server.base)/u/alice/?format=json"])
        let json = try JSONSerialization.jsonObject(with: Data(listing.result.stdout.dropLast(3).utf8)) as? [[String: Any]]
        #expect(json?.count == 1)
        #expect(json?.first?["name"] as? String == "img/rootfs.img")
        #expect(json?.first?["size"] as? Int == 3 << 20)
        #expect(json?.first?["sha256"] as? String == sha256(source))
        #expect((json?.first?["modified"] as? String)?.hasSuffix("Z") == true)

        // shared/ is served as placed there (e.g. flasher images); small files come from a cache,
        // which must notice a replaced file.
        for size in [1000, 2000] {
            let small = try server.folder.createRandomFile("data/shared/flasher.txt", size: size)
            for _ in 0..<2 {
                let fetched = try await curl(["-o", server.folder.path("small"), "\(server.base)/shared/flasher.txt"])
                #expect(fetched.status == 200)
                #expect(readFile(server.folder.path("small")) == small)
                #expect(fetched.headers["content-type"] == "text/plain; charset=utf-8")
            }
        }
        await server.stop()
    }

    @Test func rangesAndConditionalRequests() async throws {
        let server = try await ArtifactServerProcess.start()
        let source = try server.folder.createRandomFile("data/users/alice/k.bin", size: 200_000)
        let url = "\(server.base)/u/alice/k.bin"
        for (range, slice, header) in [("100-199", 100..<200, "bytes 100-199/200000"),
                                       ("-1000", 199_000..<200_000, "bytes 199000-199999/200000"),
                                       ("150000-", 150_000..<200_000, "bytes 150000-199999/200000"),
                                       ("199990-300000", 199_990..<200_000, "bytes 199990-199999/200000")] {
            let partial = try await curl(["-r", range, "-o", server.folder.path("part"), url])
            #expect(partial.status == 206, "\(range)")
            #expect(partial.headers["content-range"] == header)
            #expect(readFile(server.folder.path("part")) == source.subdata(in: slice))
        }
        let outside = try await curl(["-r", "200000-", "-o", "/dev/null", url])
        #expect(outside.status == 416)
        #expect(outside.headers["content-range"] == "bytes */200000")

        let tag = try #require(try await curl(["-I", url]).headers["etag"])
        let cached = try await curl(["-H", "If-None-Match: \(tag)", "-o", "/dev/null", url])
        #expect(cached.status == 304)
        #expect(cached.headers["etag"] == tag)
        #expect(try await curl(["-H", "If-None-Match: \"stale\"", "-o", "/dev/null", url]).status == 200)
        // A changed file gets a new tag: the old one no longer matches.
        let token = try await server.token("alice")
        try server.folder.createRandomFile("new.bin", size: 1000)
        #expect(try await curl(["-T", server.folder.path("new.bin"), "-H", "Authorization: Bearer \(token)", url]).status == 200)
        let after = try await curl(["-H", "If-None-Match: \(tag)", "-o", server.folder.path("after"), url])
        #expect(after.status == 200)
        #expect(readFile(server.folder.path("after")) == readFile(server.folder.path("new.bin")))
        await server.stop()
    }

    @Test(.enabled(if: Tools.isInstalled("wget"), "needs wget"))
    func wgetResumesAnInterruptedDownload() async throws {
        let server = try await ArtifactServerProcess.start()
        let source = try server.folder.createRandomFile("data/shared/rootfs.img", size: 3 << 20)
        try server.folder.createDirectory("download")
        try server.folder.createFile("download/rootfs.img", contents: source.prefix(1 << 20))
        let result = try await RunningProcess.run("wget", ["-q", "-c", "\(server.base)/shared/rootfs.img"],
                                                  workingDirectory: server.folder.path("download"))
        #expect(result.exitCode == 0, "\(result)")
        #expect(readFile(server.folder.path("download/rootfs.img")) == source)
        #expect(server.logLines(containing: "GET /shared/rootfs.img").first?.contains(": 206, \(2 << 20) bytes") == true,
                "\(server.logLines(containing: "GET /shared/rootfs.img"))")
        await server.stop()
    }

    @Test func uploadWithWrongChecksumLeavesNothing() async throws {
        let server = try await ArtifactServerProcess.start()
        let token = try await server.token("alice")
        try server.folder.createRandomFile("source", size: 100_000)
        let wrong = String(repeating: "ab", count: 32)
        for url in ["\(server.base)/u/alice/new/dir/x.img?sha256=\(wrong)", "\(server.base)/u/alice/x.img"] {
            let put = try await curl(["-T", server.folder.path("source"), "-H", "Authorization: Bearer \(token)",
                                      "-H", "X-Checksum-Sha256: \(wrong)", url])
            #expect(put.status == 422, "\(put.result)")
        }
        #expect(server.tree().isEmpty)
        #expect(server.logLines(containing: "422 sha256 mismatch").count == 2)
        await server.stop()
    }

    @Test func cutOffUploadLeavesNoFileAndNoTempFile() async throws {
        let server = try await ArtifactServerProcess.start()
        let token = try await server.token("alice")
        try server.folder.createRandomFile("big", size: 20 << 20)
        let upload = try RunningProcess("curl", ["-sS", "--limit-rate", "500k", "-T", server.folder.path("big"),
                                                 "-H", "Authorization: Bearer \(token)", "\(server.base)/u/alice/cut.img"])
        let started = await eventually { server.tree().contains { $0.contains("/.upload-") } }
        #expect(started, "the temp file never appeared: \(server.tree())")
        try await Task.sleep(for: .milliseconds(300))
        upload.signal(SIGKILL)
        _ = await upload.waitForExit(timeout: .seconds(5))
        // Seen at once as a rule; under load (a CI run) libmicrohttpd has
        // missed the closed socket until its 30 s connection timeout, which
        // abandons the upload the same way.
        let cleaned = await eventually(timeout: .seconds(40)) { server.tree().isEmpty }
        #expect(cleaned, "left behind: \(server.tree())")
        #expect(server.logLines(containing: "abandoned").count == 1)
        await server.stop()
    }

    @Test func concurrentUploadsOfOneNameLeaveOneCompleteFile() async throws {
        let server = try await ArtifactServerProcess.start()
        let token = try await server.token("alice")
        var sources: [Data] = []
        for index in 0..<6 { sources.append(try server.folder.createRandomFile("source\(index)", size: 2 << 20)) }
        let uploads = try (0..<6).map { index in
            try RunningProcess("curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-T", server.folder.path("source\(index)"),
                                        "-H", "Authorization: Bearer \(token)",
                                        "-H", "X-Checksum-Sha256: \(sha256(sources[index]))", "\(server.base)/u/alice/same.img"])
        }
        for upload in uploads {
            #expect(await upload.waitForExit(timeout: .seconds(60)) == 0)
            #expect(["200", "201"].contains(upload.stdout), "\(upload.stdout) \(upload.stderr)")
        }
        #expect(server.tree() == ["users/alice", "users/alice/.same.img.sha256", "users/alice/same.img"])
        let stored = try #require(readFile(server.data + "/users/alice/same.img"))
        #expect(sources.contains(stored))
        let listing = try await curl(["\(server.base)/u/alice/?format=json"])
        #expect(listing.result.stdout.contains(sha256(stored)))
        await server.stop()
    }

    @Test func fiftyParallelDownloads() async throws {
        let server = try await ArtifactServerProcess.start()
        let source = try server.folder.createRandomFile("data/shared/kernel.img", size: 4 << 20)
        try server.folder.createDirectory("out")
        let downloads = try (0..<50).map { index in
            try RunningProcess("curl", ["-sS", "-f", "-o", server.folder.path("out/\(index)"), "\(server.base)/shared/kernel.img"])
        }
        for download in downloads {
            #expect(await download.waitForExit(timeout: .seconds(120)) == 0, "\(download.stderr)")
        }
        for index in 0..<50 {
            #expect(readFile(server.folder.path("out/\(index)")) == source, "download \(index)")
        }
        await server.stop()
    }

    @Test func filesLargerThan4GiB() async throws {
        let server = try await ArtifactServerProcess.start()
        let size: UInt64 = 4_831_838_208  // 4.5 GiB, sparse
        let path = server.data + "/shared/huge.img"
        #expect(FileManager.default.createFile(atPath: path, contents: nil))
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.truncate(atOffset: size)
        let tail = Data((0..<64).map { UInt8($0 + 1) })
        try handle.seek(toOffset: size - 64)
        try handle.write(contentsOf: tail)
        try handle.close()

        let head = try await curl(["-I", "\(server.base)/shared/huge.img"])
        #expect(head.status == 200)
        #expect(head.headers["content-length"] == "\(size)")
        let range = try await curl(["-r", "\(size - 100)-", "-o", server.folder.path("tail"), "\(server.base)/shared/huge.img"])
        #expect(range.status == 206)
        #expect(range.headers["content-range"] == "bytes \(size - 100)-\(size - 1)/\(size)")
        #expect(readFile(server.folder.path("tail")) == Data(count: 36) + tail)
        await server.stop()
    }

    @Test func deleteWithTheOwnersToken() async throws {
        let server = try await ArtifactServerProcess.start()
        let token = try await server.token("alice")
        try server.folder.createRandomFile("source", size: 1000)
        #expect(try await curl(["-T", server.folder.path("source"), "-H", "Authorization: Bearer \(token)",
                                "\(server.base)/u/alice/a/b.bin"]).status == 201)
        #expect(try await curl(["-X", "DELETE", "-H", "Authorization: Bearer \(token)", "\(server.base)/u/alice/a/b.bin"]).status == 204)
        #expect(server.tree() == ["users/alice", "users/alice/a"])
        #expect(try await curl(["-o", "/dev/null", "\(server.base)/u/alice/a/b.bin"]).status == 404)
        await server.stop()
    }

    @Test func tokenCommandIsStableAndPrivate() async throws {
        let server = try await ArtifactServerProcess.start()
        let first = try await server.token("alice")
        #expect(first.count == 64)
        #expect(try await server.token("alice") == first)
        #expect(try await server.token("bob") != first)
        let mode = try FileManager.default.attributesOfItem(atPath: server.data + "/tokens/alice")[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let bad = try await RunningProcess.run(try Tools.agent(), ["token", "--root", server.data, "../x"])
        #expect(bad.exitCode == 2)
        await server.stop()
    }
}
