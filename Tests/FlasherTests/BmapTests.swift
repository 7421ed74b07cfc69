import Foundation
@testable import FlasherCore
import Testing

@Suite struct BmapTests {
    let sha = String(repeating: "a", count: 64)

    func document(_ ranges: String, imageSize: Int = 40960, blocks: Int = 10, mapped: Int = 3, extra: String = "") -> String {
        """
        <?xml version="1.0" ?>
        <!-- made by hand -->
        <bmap version="2.0">
            <ImageSize> \(imageSize) </ImageSize>
            <BlockSize> 4096 </BlockSize>
            <BlocksCount> \(blocks) </BlocksCount>
            <MappedBlocksCount> \(mapped) </MappedBlocksCount>
            <ChecksumType> sha256 </ChecksumType>\(extra)
            <BlockMap>
                \(ranges)
            </BlockMap>
        </bmap>
        """
    }

    @Test func parsesRanges() throws {
        let bmap = try Bmap(parsing: Array(document("<Range chksum=\"\(sha)\"> 0-1 </Range>\n<Range chksum='\(sha)'>9</Range>").utf8))
        #expect(bmap.ranges == [.init(firstBlock: 0, lastBlock: 1, sha256: sha), .init(firstBlock: 9, lastBlock: 9, sha256: sha)])
        #expect(bmap.mappedBlocksCount == 3)
        #expect(bmap.byteRange(of: bmap.ranges[1]) == (36864, 4096))
    }

    @Test func lastBlockIsCutAtTheImageEnd() throws {
        let bmap = try Bmap(parsing: Array(document("<Range chksum=\"\(sha)\">2</Range>", imageSize: 10000, blocks: 3, mapped: 1).utf8))
        #expect(bmap.byteRange(of: bmap.ranges[0]) == (8192, 1808))
    }

    @Test func readsWhatBmaptoolWrites() throws {
        let folder = try TemporaryFolder()
        _ = try makeImage(at: folder.path("img"), megabytes: 7)
        try #require(try runTool("/usr/bin/bmaptool", ["create", "-o", folder.path("img.bmap"), folder.path("img")]) == 0)
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: folder.path("img.bmap"))))
        let bmap = try Bmap(parsing: bytes)
        #expect(bmap.imageSize == 7 << 20)
        #expect(bmap.mappedBlocksCount * bmap.blockSize == 3 << 20)  // MiB 0, 3 and 6
        #expect(bmap.ranges.count == 3)
        // A changed range makes BmapFileChecksum disagree.
        var damaged = bytes
        let index = damaged.firstRange(of: Array(bmap.ranges[0].sha256.utf8))!.lowerBound
        damaged[index] = damaged[index] == UInt8(ascii: "0") ? UInt8(ascii: "1") : UInt8(ascii: "0")
        #expect(throws: FlasherError.self) { try Bmap(parsing: damaged) }
    }

    @Test(arguments: [
        ("<Range chksum=\"S\"> 5-2 </Range>", "not FIRST-LAST"),
        ("<Range chksum=\"S\"> 0-1 </Range><Range chksum=\"S\"> 1 </Range>", "overlaps"),
        ("<Range chksum=\"S\"> 3 </Range><Range chksum=\"S\"> 0-1 </Range>", "overlaps"),
        ("<Range chksum=\"S\"> 8-10 </Range>", "beyond BlocksCount"),
        ("<Range chksum=\"S\"> 0 </Range>", "MappedBlocksCount 3"),
        ("<Range> 0-2 </Range>", "no chksum"),
        ("<Range chksum=\"abc\"> 0-2 </Range>", "not a SHA-256"),
        ("<Range chksum=\"S\"> -1-1 </Range>", "not FIRST-LAST"),
        ("<Range chksum=\"S\"> 0-99999999999999999999 </Range>", "not FIRST-LAST"),
        ("<Range chksum=\"S\"> 0-2 </Range><Other/>", "unexpected <Other>"),
        ("<Range chksum=\"S\"> 0-2 </Rang>", "closes"),
        ("<Range chksum=\"S\" chksum=\"S\"> 0-2 </Range>", "repeated"),
        ("<Range chksum=\"S\"> 0-2 &bogus; </Range>", "unknown entity"),
        ("<Range chksum=\"S\"> 0-2 <![CDATA[x]]></Range>", "CDATA"),
    ])
    func hostileRangesAreRefused(_ ranges: String, _ expected: String) {
        expectRefusal(document(ranges.replacingOccurrences(of: "\"S\"", with: "\"\(sha)\"")), expected)
    }

    @Test func hostileDocumentsAreRefused() {
        let range = "<Range chksum=\"\(sha)\"> 0-2 </Range>"
        expectRefusal("<!DOCTYPE bmap [<!ENTITY a \"aaaa\">]>" + document(range), "DOCTYPE")
        expectRefusal(document(range).replacingOccurrences(of: "2.0", with: "1.4"), "not supported")
        expectRefusal(document(range).replacingOccurrences(of: "sha256 <", with: "sha1 <"), "only sha256")
        expectRefusal(document(range, imageSize: 999_999), "does not match")
        expectRefusal(document(range).replacingOccurrences(of: "> 4096 <", with: "> 4000 <"), "power of two")
        expectRefusal(document(range).replacingOccurrences(of: "</bmap>", with: ""), "not closed")
        expectRefusal(document(range) + "<more/>", "after the root")
        expectRefusal(document(range, extra: "<BlockSize>4096</BlockSize>"), "appears 2 times")
        expectRefusal("<bmap version=\"2.0\">" + String(repeating: "<a>", count: 10_000), "deeper")
        expectRefusal("", "expected the root")
        expectRefusal(document(range).replacingOccurrences(of: "<ImageSize> 40960 </ImageSize>", with: ""), "no <ImageSize>")
    }

    func expectRefusal(_ text: String, _ expected: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do throws(FlasherError) {
            _ = try Bmap(parsing: Array(text.utf8))
            Issue.record("accepted: \(text.prefix(200))", sourceLocation: sourceLocation)
        } catch {
            #expect(error.what.contains(expected), "\(error)", sourceLocation: sourceLocation)
        }
    }
}
