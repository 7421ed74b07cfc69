import Artifacts
import Digest
import HTTPDaemon
import Testing

@Suite struct ArtifactRouteTests {
    @Test func userPathsAndQueries() throws {
        let route = try ArtifactRoute(target: "/u/alice/images/root%20fs.img?sha256=AB&x")
        #expect(route.space == .user("alice"))
        #expect(route.components == ["images", "root fs.img"])
        #expect(!route.namesFolder)
        #expect(route.query == ["sha256": "AB", "x": ""])
    }

    @Test func foldersAndShared() throws {
        #expect(try ArtifactRoute(target: "/u/alice/").namesFolder)
        #expect(try ArtifactRoute(target: "/u/alice").namesFolder)
        #expect(try ArtifactRoute(target: "/u/alice/?format=json").query["format"] == "json")
        let shared = try ArtifactRoute(target: "/shared/flasher/Image")
        #expect(shared.space == .shared && shared.path == "flasher/Image")
    }

    @Test(arguments: [
        ("/u/alice/../bob/x", 400), ("/u/alice/%2e%2e/bob/x", 400), ("/u/alice/%2E%2E", 400),
        ("/u/alice/./x", 400), ("/u/alice/a%00b", 400), ("/u/alice/a%2fb", 400), ("/u/alice//etc/passwd", 400),
        ("//etc/passwd", 400), ("http://host/u/alice/x", 400), ("/u/alice/%zz", 400), ("/u/alice/%ff", 400),
        ("/u/alice/a%0ab", 400), ("/u/Alice/x", 400), ("/u/.alice/x", 400), ("/u/alice/.meta/x", 403),
        ("/u/alice/.x.sha256", 403), ("/etc/passwd", 404), ("/", 404), ("/u/", 404),
        ("/u/alice/" + String(repeating: "a", count: 201), 414), ("/u/alice/" + String(repeating: "a/", count: 1100), 414),
    ])
    func refusals(target: String, status: Int) {
        #expect(throws: ArtifactRefusal.self) { try ArtifactRoute(target: target) }
        do {
            _ = try ArtifactRoute(target: target)
        } catch {
            #expect(error.status == status, "\(target): \(error)")
        }
    }

    @Test func userNames() {
        #expect(ArtifactRoute.isValidUserName("alice.b_c-9"))
        #expect(!ArtifactRoute.isValidUserName(""))
        #expect(!ArtifactRoute.isValidUserName(".hidden"))
        #expect(!ArtifactRoute.isValidUserName("Bob"))
        #expect(!ArtifactRoute.isValidUserName(String(repeating: "a", count: 65)))
    }
}

@Suite struct ByteRangeTests {
    @Test func singleRanges() {
        #expect(ByteRangeRequest(header: nil, size: 100) == .whole)
        #expect(ByteRangeRequest(header: "bytes=0-9", size: 100) == .partial(start: 0, end: 9))
        #expect(ByteRangeRequest(header: "bytes=90-", size: 100) == .partial(start: 90, end: 99))
        #expect(ByteRangeRequest(header: "bytes=90-500", size: 100) == .partial(start: 90, end: 99))
        #expect(ByteRangeRequest(header: "bytes=-10", size: 100) == .partial(start: 90, end: 99))
        #expect(ByteRangeRequest(header: "bytes=-500", size: 100) == .partial(start: 0, end: 99))
        #expect(ByteRangeRequest(header: "bytes=5000000000-", size: 5_000_000_100) == .partial(start: 5_000_000_000, end: 5_000_000_099))
    }

    @Test func unsatisfiableAndIgnored() {
        #expect(ByteRangeRequest(header: "bytes=100-", size: 100) == .unsatisfiable)
        #expect(ByteRangeRequest(header: "bytes=-0", size: 100) == .unsatisfiable)
        #expect(ByteRangeRequest(header: "bytes=0-", size: 0) == .unsatisfiable)
        #expect(ByteRangeRequest(header: "bytes=0-1,5-6", size: 100) == .whole)
        #expect(ByteRangeRequest(header: "bytes=9-1", size: 100) == .whole)
        #expect(ByteRangeRequest(header: "items=0-1", size: 100) == .whole)
        #expect(ByteRangeRequest(header: "bytes=x-1", size: 100) == .whole)
    }

    @Test func entityTags() {
        let tag = entityTag(inode: 1, size: 2, modifiedNanoseconds: 3)
        #expect(noneMatchHits(tag, tag: tag))
        #expect(noneMatchHits("\"other\", W/\(tag)", tag: tag))
        #expect(noneMatchHits("*", tag: tag))
        #expect(!noneMatchHits("\"other\"", tag: tag))
        #expect(tag != entityTag(inode: 1, size: 2, modifiedNanoseconds: 4))
    }

    @Test func httpDates() {
        #expect(HTTPDate.format(784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(HTTPDate.parse("Sun, 06 Nov 1994 08:49:37 GMT") == 784_111_777)
        #expect(HTTPDate.parse("Sunday, 06-Nov-94 08:49:37 GMT") == nil)
    }
}

@Suite struct DigestTests {
    @Test func knownVectors() {
        #expect(SHA256Hasher.hex(of: []) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256Hasher.hex(of: Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func piecesAndCopies() {
        let bytes = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        var hasher = SHA256Hasher()
        hasher.update(bytes[..<1234])
        var copy = hasher  // carries on independently
        hasher.update(bytes[1234...])
        #expect(hasher.finalize() == SHA256Hasher.hex(of: bytes))
        copy.update(bytes[1234..<2000])
        #expect(copy.finalize() == SHA256Hasher.hex(of: bytes[..<2000]))
    }
}
