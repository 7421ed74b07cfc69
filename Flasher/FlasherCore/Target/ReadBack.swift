import Synchronization
import SystemSupport

/// Reads written bytes back from the target and hashes them: the whole
/// image, or only the bmap's mapped ranges. A reader thread keeps the
/// device busy (whole blocks read directly, from the medium) while this
/// thread hashes what it has read.
enum ReadBack {
    /// A stretch of the target and the SHA-256 it must have.
    struct Expected {
        var offset: Int64
        var length: Int64
        var sha256: String
        /// The error's text when it does not, given the SHA-256 read.
        var mismatch: @Sendable (String) -> String
    }

    /// Compares the target's first `size` bytes with `sha256`.
    static func verify(_ target: TargetDevice, size: Int64, sha256: String, chunkSize: Int,
                       progress: PipelineProgress) throws(FlasherError) {
        let whole = Expected(offset: 0, length: size, sha256: sha256) { actual in
            "read back SHA-256 \(actual), wrote \(sha256): the target does not hold what was written"
        }
        try verify(target, [whole], chunkSize: chunkSize, progress: progress)
    }

    /// Compares each mapped range of `bmap` with its checksum.
    static func verify(_ target: TargetDevice, bmap: Bmap, chunkSize: Int, progress: PipelineProgress) throws(FlasherError) {
        let ranges = bmap.ranges.map { range in
            let (offset, length) = bmap.byteRange(of: range)
            return Expected(offset: offset, length: length, sha256: range.sha256) { actual in
                "read back blocks \(range.firstBlock)-\(range.lastBlock): SHA-256 \(actual), the bmap says \(range.sha256)"
            }
        }
        try verify(target, ranges, chunkSize: chunkSize, progress: progress)
    }

    static func verify(_ target: TargetDevice, _ expected: [Expected], chunkSize: Int,
                       progress: PipelineProgress) throws(FlasherError) {
        let pool = ChunkPool(count: 4, capacity: chunkSize)
        let read = BoundedQueue<Chunk>(capacity: 3)
        let readFailure = Mutex<FlasherError?>(nil)
        let readerDone = ThreadSignal()
        let device = UncheckedTarget(target)
        do {
            try startThread(named: "flash-readback") {
                do throws(FlasherError) {
                    try readPieces(of: expected, from: device.target, pool: pool, into: read)
                    read.close()
                } catch {
                    readFailure.withLock { $0 = error }
                    read.cancel()
                }
                readerDone.signal()
            }
        } catch {
            throw FlasherError(.verify, "cannot start a thread: \(error)")
        }
        defer {
            // Never return while the reader may still use the target or the pool.
            read.cancel()
            pool.cancel()
            readerDone.wait(timeout: nil)
        }
        var index = 0
        var hasher = SHA256()
        var hashed: Int64 = 0
        while index < expected.count, expected[index].length == 0 {
            try check(expected[index], hasher: &hasher)
            index += 1
        }
        while let chunk = read.pop() {
            hasher.update(chunk.bytes)
            hashed += Int64(chunk.count)
            progress.verified.add(Int64(chunk.count), ordering: .relaxed)
            pool.give(chunk)
            // A range's last piece: check it, and any empty ranges after it.
            while index < expected.count, hashed == expected[index].length {
                try check(expected[index], hasher: &hasher)
                index += 1
                hashed = 0
            }
        }
        if let error = readFailure.withLock({ $0 }) { throw error }
        guard index == expected.count else {
            throw FlasherError(.verify, "the read-back stopped before the end", offset: expected[index].offset + hashed)
        }
    }

    private static func check(_ expected: Expected, hasher: inout SHA256) throws(FlasherError) {
        let actual = hasher.finalize()
        hasher = SHA256()
        guard actual == expected.sha256 else {
            throw FlasherError(.verify, expected.mismatch(actual), offset: expected.offset)
        }
    }

    /// The reader: every range in pieces of at most a chunk, in order.
    private static func readPieces(of expected: [Expected], from target: TargetDevice, pool: ChunkPool,
                                   into queue: BoundedQueue<Chunk>) throws(FlasherError) {
        for range in expected {
            var position = range.offset
            let end = range.offset + range.length
            while position < end {
                guard let chunk = pool.take() else { return }
                let want = Int(min(Int64(chunk.storage.count), end - position))
                let n = try target.read(into: UnsafeMutableRawBufferPointer(rebasing: chunk.storage[..<want]), at: position)
                guard n == want else {
                    throw FlasherError(.verify, "\(target.path) ends at byte \(position + Int64(n)), before the image's end",
                                       offset: position + Int64(n))
                }
                chunk.count = n
                chunk.offset = position
                position += Int64(n)
                guard queue.push(chunk) else { return }
            }
        }
    }
}

/// The target handed to the read-back's reader thread, which alone uses it
/// until `verify` has waited for that thread to end.
private struct UncheckedTarget: @unchecked Sendable {
    let target: TargetDevice
    init(_ target: TargetDevice) { self.target = target }
}
