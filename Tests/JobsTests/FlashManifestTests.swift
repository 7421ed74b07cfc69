@testable import Jobs
import Testing

/// What the agent's manifest asks the flasher to check for each image.
@Suite struct FlashManifestTests {
    let fileSHA = String(repeating: "c", count: 64)

    @Test func theFilesSHA256GoesWithAnImageWithoutABmap() throws {
        let image = FlashImage(name: "rootfs", url: "http://h:8080/u/a/disk.img.zst", sha256: fileSHA, size: nil,
                               bmapURL: nil, target: "/dev/vda")
        #expect(image.manifestImage.fileSHA256 == fileSHA)
        #expect(image.manifestImage.bmap == nil)
    }

    /// With a bmap, its range checksums check every block written (and the
    /// read-back again): the flasher does not hash the whole file as well.
    @Test func aBmapsChecksumsReplaceTheFilesSHA256() throws {
        let image = FlashImage(name: "rootfs", url: "http://h:8080/u/a/disk.img.zst", sha256: fileSHA, size: nil,
                               bmapURL: "http://h:8080/u/a/disk.img.zst.bmap", target: "/dev/vda")
        #expect(image.manifestImage.fileSHA256 == nil)
        #expect(image.manifestImage.bmap == "http://h:8080/u/a/disk.img.zst.bmap")
        #expect(image.manifestImage.target == "/dev/vda")
    }
}
