import Foundation
@testable import FlasherCore
import Testing

/// The target file or device: whole aligned blocks go around the page
/// cache (O_DIRECT), everything else through it, and either way the file
/// holds exactly what was written.
@Suite struct TargetDeviceTests {
    /// A folder on the disk's file system and one on tmpfs (where direct
    /// I/O may be refused at open, and everything goes through the cache).
    static let places = ["disk", "tmpfs"]

    func folder(_ place: String) throws -> TemporaryFolder {
        place == "tmpfs" ? try TemporaryFolder(in: "/dev/shm") : try TemporaryFolder()
    }

    /// A new target file (made first: a missing path under /dev/ is refused).
    func target(in folder: TemporaryFolder) throws -> (TargetDevice, String) {
        let path = folder.path("target.img")
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        return (try TargetDevice(path: path, imageSize: nil, discard: false), path)
    }

    @Test(arguments: places)
    func alignedAndUnalignedWritesLandWhereTheyShould(_ place: String) throws {
        let folder = try folder(place)
        let (target, path) = try target(in: folder)
        var expected = [UInt8](repeating: 0, count: 200_000)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 4096)
        defer { buffer.deallocate() }
        var generator = SplitMix(seed: 3)
        for index in 0..<buffer.count { buffer[index] = UInt8(truncatingIfNeeded: generator.next()) }
        // (where in the buffer, how many bytes, at which file offset)
        let writes: [(Int, Int, Int)] = [
            (0, 3 * 4096 + 17, 0),          // aligned blocks, then a tail
            (1, 8192, 65_536),               // a buffer that is not aligned
            (0, 5000, 40 * 4096 + 100),      // an offset that is not aligned
            (4096, 4096, 4096),              // whole blocks over earlier bytes
            (0, 1, 199_999),                 // one byte at the end
        ]
        for (from, count, offset) in writes {
            try target.write(UnsafeRawBufferPointer(rebasing: buffer[from..<(from + count)]), at: Int64(offset))
            for index in 0..<count { expected[offset + index] = buffer[from + index] }
        }
        try target.finish(size: Int64(expected.count))
        #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: path))) == expected)

        // Reads: aligned (direct), unaligned, and across the end.
        let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 4096)
        defer { readBuffer.deallocate() }
        for (offset, count) in [(0, 1 << 16), (65_536, 12_289), (4097, 9000), (196_608, 1 << 16)] {
            let n = try target.read(into: UnsafeMutableRawBufferPointer(rebasing: readBuffer[..<count]), at: Int64(offset))
            let end = min(offset + count, expected.count)
            #expect(n == end - offset, "read \(count) at \(offset)")
            #expect([UInt8](readBuffer[..<n]) == Array(expected[offset..<end]), "read \(count) at \(offset)")
        }
    }

    /// The read-back's reader thread and this thread's hashing: every range
    /// checked against its own SHA-256, in pieces of at most a buffer.
    @Test(arguments: places)
    func readBackChecksEachRangeAndNamesTheOneThatDiffers(_ place: String) throws {
        let folder = try folder(place)
        let data = try makeImage(at: folder.path("source.img"), megabytes: 7)
        let (target, path) = try target(in: folder)
        try data.withUnsafeBytes { try target.write($0, at: 0) }
        try target.finish(size: Int64(data.count))
        func expected(_ range: Range<Int>, sha256: String? = nil) -> ReadBack.Expected {
            let actual = SHA256.hex(of: [UInt8](data[range]))
            return ReadBack.Expected(offset: Int64(range.lowerBound), length: Int64(range.count), sha256: sha256 ?? actual) {
                "range \(range) reads \($0)"
            }
        }
        let ranges = [expected(0..<(1 << 20)), expected((1 << 20)..<(1 << 20)), expected((3 << 20)..<((6 << 20) + 5)),
                      expected((6 << 20) + 5..<(7 << 20))]
        let progress = PipelineProgress()
        try ReadBack.verify(target, ranges, chunkSize: 1 << 20, progress: progress)
        #expect(progress.verified.load(ordering: .relaxed) == Int64((1 << 20) + (4 << 20)))

        var wrong = ranges
        wrong[2] = expected((3 << 20)..<((6 << 20) + 5), sha256: String(repeating: "0", count: 64))
        do throws(FlasherError) {
            try ReadBack.verify(target, wrong, chunkSize: 1 << 20, progress: PipelineProgress())
            Issue.record("a wrong range was read back as right")
        } catch {
            #expect(error.phase == .verify)
            #expect(error.what == "range \((3 << 20)..<((6 << 20) + 5)) reads \(SHA256.hex(of: [UInt8](data[(3 << 20)..<((6 << 20) + 5)])))")
            #expect(error.offset == Int64(3 << 20))
        }

        // The target is shorter than what was written.
        let beyond = ReadBack.Expected(offset: Int64(6 << 20), length: Int64(2 << 20), sha256: String(repeating: "0", count: 64)) { _ in "?" }
        do throws(FlasherError) {
            try ReadBack.verify(target, [ranges[0], beyond], chunkSize: 1 << 20, progress: PipelineProgress())
            Issue.record("a range past the end was read back")
        } catch {
            #expect(error.phase == .verify)
            #expect(error.what == "\(path) ends at byte \(7 << 20), before the image's end")
        }
    }
}
