@testable import FlasherCore
import Testing
import Wire

/// The manifest as the agent writes it (`JobManifestReport`, Foundation's
/// encoder) read by the flasher's own parser (no Foundation): the two sides
/// of one wire format agree on every member.
struct AgentManifestTests {
    @Test func everyMemberTheAgentWritesIsReadByTheFlasher() throws {
        let sha = String(repeating: "ab", count: 32)
        let manifest = JobManifestReport(images: [
            .init(name: "rootfs", url: "http://10.0.2.2:8080/u/ana/disk.img.zst", target: "/dev/vda",
                  bmap: "http://10.0.2.2:8080/u/ana/disk.img.zst.bmap"),
            .init(name: "kernel", url: "http://10.0.2.2:8080/u/ana/Image%20new", target: "/dev/vda1:/boot/Image", fileSHA256: sha,
                  sha256: sha.uppercased(), size: 31_457_792, compression: "none"),
        ], verify: false, secret: "5e" + String(repeating: "c", count: 62))
        let text = Wire.line(manifest)
        #expect(text.contains(#""v":1"#))
        let job = try JobManifest.parse(Array(text.utf8), jobURL: HTTPURL(parsing: "http://10.0.2.2:8080/api/v1/jobs/7-ab"))
        #expect(job.ignoredMembers.isEmpty, "the flasher knows every member the agent writes")
        #expect(job.verify == false && job.after == .reboot)
        #expect(job.eventsSecret == "5e" + String(repeating: "c", count: 62))
        #expect(job.images.map(\.name) == ["rootfs", "kernel"])
        #expect(job.images[0].bmapURL?.description == "http://10.0.2.2:8080/u/ana/disk.img.zst.bmap")
        #expect(job.images[0].target == TargetSpec(device: "/dev/vda"))
        #expect(job.images[1].url.description == "http://10.0.2.2:8080/u/ana/Image%20new")
        #expect(job.images[1].fileSHA256 == sha && job.images[1].sha256 == sha && job.images[1].size == 31_457_792)
        #expect(job.images[1].compression == Compression.none)
        #expect(job.images[1].target == TargetSpec(device: "/dev/vda1", file: "/boot/Image"))
        #expect(try Wire.decode(JobManifestReport.self, from: Array(text.utf8)) == manifest)
    }
}
