@testable import FlasherCore
import Testing

@Suite struct WritePlanTests {
    func segments(_ plan: inout WritePlan, _ bytes: [UInt8], at offset: Int64) -> [Range<Int>] {
        bytes.withUnsafeBytes { plan.segments(of: $0, at: offset) }
    }

    @Test func skipsZeroBlocksOnlyWhenAllowed() {
        var bytes = [UInt8](repeating: 0, count: 5 * 4096 + 100)
        bytes[4096] = 1          // block 1
        bytes[2 * 4096 + 7] = 1  // block 2: joined with block 1
        bytes[5 * 4096 + 99] = 1 // the short last block
        var skipping = WritePlan(bmap: nil, skipZeroBlocks: true)
        #expect(segments(&skipping, bytes, at: 0) == [4096..<(3 * 4096), (5 * 4096)..<bytes.count])
        var writingAll = WritePlan(bmap: nil, skipZeroBlocks: false)
        #expect(segments(&writingAll, bytes, at: 0) == [0..<bytes.count])
    }

    /// The stretches the decoder may drop: between ranges and after the
    /// last, only those at least the minimum long.
    @Test func holesOfABmap() {
        let sha = String(repeating: "0", count: 64)
        let bmap = Bmap(imageSize: 20 * 4096 - 10, blockSize: 4096, blocksCount: 20, ranges: [
            .init(firstBlock: 1, lastBlock: 2, sha256: sha), .init(firstBlock: 4, lastBlock: 4, sha256: sha),
            .init(firstBlock: 10, lastBlock: 11, sha256: sha),
        ])
        let block: Int64 = 4096
        let end: Int64 = 20 * block - 10
        let all: [Range<Int64>] = [0..<block, (3 * block)..<(4 * block), (5 * block)..<(10 * block), (12 * block)..<end]
        #expect(FlashPipeline.holes(of: bmap, atLeast: 4096) == all)
        let long: [Range<Int64>] = [(5 * block)..<(10 * block), (12 * block)..<end]
        #expect(FlashPipeline.holes(of: bmap, atLeast: 5 * 4096) == long)
        let full = Bmap(imageSize: 3 * 4096, blockSize: 4096, blocksCount: 3, ranges: [.init(firstBlock: 0, lastBlock: 2, sha256: sha)])
        #expect(FlashPipeline.holes(of: full, atLeast: 1).isEmpty)
    }

    @Test func writesOnlyMappedRangesAcrossBuffers() {
        let sha = String(repeating: "0", count: 64)
        let bmap = Bmap(imageSize: 10 * 4096 - 10, blockSize: 4096, blocksCount: 10, ranges: [
            .init(firstBlock: 1, lastBlock: 2, sha256: sha), .init(firstBlock: 4, lastBlock: 4, sha256: sha),
            .init(firstBlock: 9, lastBlock: 9, sha256: sha),
        ])
        var plan = WritePlan(bmap: bmap, skipZeroBlocks: true)
        let buffer = [UInt8](repeating: 0, count: 4 * 4096)
        #expect(segments(&plan, buffer, at: 0) == [4096..<(3 * 4096)])          // blocks 0-3
        #expect(segments(&plan, buffer, at: 4 * 4096) == [0..<4096])            // blocks 4-7
        #expect(segments(&plan, Array(buffer[..<(2 * 4096 - 10)]), at: 8 * 4096) == [4096..<(2 * 4096 - 10)])  // cut at the end
    }

    @Test func contentRange() {
        #expect(ResumableDownload.parseContentRange("bytes 100-199/1000")! == (100, 1000))
        #expect(ResumableDownload.parseContentRange("bytes 5-9/*")! == (5, nil))
        #expect(ResumableDownload.parseContentRange("items 1-2/3") == nil)
        #expect(ResumableDownload.parseContentRange("bytes x-2/3") == nil)
    }
}
