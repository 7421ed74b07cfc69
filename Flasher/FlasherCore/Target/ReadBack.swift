/// Reads written bytes back from the target and hashes them: the whole
/// image, or only the bmap's mapped ranges.
enum ReadBack {
    /// Compares the target's first `size` bytes with `sha256`.
    static func verify(_ target: TargetDevice, size: Int64, sha256: String, chunkSize: Int,
                       progress: PipelineProgress) throws(FlasherError) {
        let actual = try hash(target, from: 0, length: size, chunkSize: chunkSize, progress: progress)
        guard actual == sha256 else {
            throw FlasherError(.verify, "read back SHA-256 \(actual), wrote \(sha256): the target does not hold what was written")
        }
    }

    /// Compares each mapped range of `bmap` with its checksum.
    static func verify(_ target: TargetDevice, bmap: Bmap, chunkSize: Int, progress: PipelineProgress) throws(FlasherError) {
        for range in bmap.ranges {
            let (offset, length) = bmap.byteRange(of: range)
            let actual = try hash(target, from: offset, length: length, chunkSize: chunkSize, progress: progress)
            guard actual == range.sha256 else {
                throw FlasherError(.verify, "read back blocks \(range.firstBlock)-\(range.lastBlock): SHA-256 \(actual), the bmap says \(range.sha256)",
                                   offset: offset)
            }
        }
    }

    private static func hash(_ target: TargetDevice, from offset: Int64, length: Int64, chunkSize: Int,
                             progress: PipelineProgress) throws(FlasherError) -> String {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 4096)
        defer { buffer.deallocate() }
        var hasher = SHA256()
        var position = offset
        let end = offset + length
        while position < end {
            let want = Int(min(Int64(chunkSize), end - position))
            let n = try target.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<want]), at: position)
            guard n == want else {
                throw FlasherError(.verify, "\(target.path) ends at byte \(position + Int64(n)), before the image's end", offset: position + Int64(n))
            }
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[..<n]))
            position += Int64(n)
            progress.verified.add(Int64(n), ordering: .relaxed)
        }
        return hasher.finalize()
    }
}
