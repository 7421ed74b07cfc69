/// Which parts of each buffer go to the device: with a bmap, only mapped
/// ranges; without one, every block except all-zero ones when the target
/// is known to read as zeros; otherwise everything.
struct WritePlan {
    private let mapped: [(start: Int64, end: Int64)]
    private let skipZeroBlocks: Bool
    private let hasBmap: Bool
    private var next = 0
    static let zeroBlockSize = 4096

    init(bmap: Bmap?, skipZeroBlocks: Bool) {
        hasBmap = bmap != nil
        mapped = bmap.map { map in
            map.ranges.map { range in
                let (offset, length) = map.byteRange(of: range)
                return (offset, offset + length)
            }
        } ?? []
        self.skipZeroBlocks = skipZeroBlocks
    }

    /// The byte ranges of `bytes` (which sit at image `offset`) to write, in
    /// order. Buffers must come in increasing offsets.
    mutating func segments(of bytes: UnsafeRawBufferPointer, at offset: Int64) -> [Range<Int>] {
        let end = offset + Int64(bytes.count)
        if hasBmap {
            var result: [Range<Int>] = []
            while next < mapped.count && mapped[next].end <= offset { next += 1 }
            var index = next
            while index < mapped.count && mapped[index].start < end {
                let from = max(mapped[index].start, offset) - offset
                let to = min(mapped[index].end, end) - offset
                if from < to { append(Int(from)..<Int(to), to: &result) }
                index += 1
            }
            return result
        }
        guard skipZeroBlocks else { return bytes.isEmpty ? [] : [0..<bytes.count] }
        var result: [Range<Int>] = []
        var position = 0
        while position < bytes.count {
            let length = min(Self.zeroBlockSize, bytes.count - position)
            let block = UnsafeRawBufferPointer(rebasing: bytes[position..<(position + length)])
            if !isAllZero(block) { append(position..<(position + length), to: &result) }
            position += length
        }
        return result
    }

    /// Adds `range`, merging it with the last one when they touch.
    private func append(_ range: Range<Int>, to result: inout [Range<Int>]) {
        if let last = result.last, last.upperBound == range.lowerBound {
            result[result.count - 1] = last.lowerBound..<range.upperBound
        } else {
            result.append(range)
        }
    }
}

/// Follows the image past the bmap's ranges and checks each one's SHA-256
/// as soon as its last byte has gone by.
struct RangeChecker {
    private let bmap: Bmap
    private var index = 0
    private var hasher = SHA256()

    init(bmap: Bmap) { self.bmap = bmap }

    mutating func consume(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws(FlasherError) {
        let end = offset + Int64(bytes.count)
        while index < bmap.ranges.count {
            let range = bmap.ranges[index]
            let (start, length) = bmap.byteRange(of: range)
            let rangeEnd = start + length
            guard start < end else { return }
            let from = max(start, offset)
            let to = min(rangeEnd, end)
            if from < to {
                hasher.update(UnsafeRawBufferPointer(rebasing: bytes[Int(from - offset)..<Int(to - offset)]))
            }
            guard rangeEnd <= end else { return }
            let actual = hasher.finalize()
            hasher = SHA256()
            guard actual == range.sha256 else {
                throw FlasherError(.checksum, "bmap range \(range.firstBlock)-\(range.lastBlock): SHA-256 \(actual), the bmap says \(range.sha256)",
                                   offset: start)
            }
            index += 1
        }
    }

    /// At the end of the image: every range must have been seen whole.
    func finish(imageEnd: Int64) throws(FlasherError) {
        guard imageEnd == bmap.imageSize else {
            throw FlasherError(.checksum, "the image is \(imageEnd) bytes, the bmap says \(bmap.imageSize)", offset: imageEnd)
        }
        guard index == bmap.ranges.count else {
            throw FlasherError(.checksum, "the image ends before the bmap's range \(bmap.ranges[index].firstBlock)", offset: imageEnd)
        }
    }
}
