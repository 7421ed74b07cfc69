import CFlasherSystem
import Synchronization
import SystemSupport

/// How big and how many the pipeline's buffers are, and how downloads retry.
public struct PipelineOptions: Sendable {
    /// Bytes per buffer; writes are this large (page-aligned, 4 MiB).
    public var chunkSize = 4 << 20
    /// Buffers per stage queue; memory is about 2 × (depth + 2) × chunkSize.
    public var queueDepth = 4
    /// Download retries in a row without progress.
    public var retries = 8
    /// Seconds a connection may stay silent before it counts as broken.
    public var timeout: Double = 30

    public init() {}
}

/// Counters the pipeline's threads update and the progress reporter reads.
public final class PipelineProgress: Sendable {
    /// Compressed bytes received.
    public let downloaded = Atomic<Int64>(0)
    /// Image bytes through the writer (written or skipped as holes).
    public let written = Atomic<Int64>(0)
    /// Image bytes actually written to the target.
    public let writtenToDevice = Atomic<Int64>(0)
    /// Image bytes read back and compared, of `verifyTotal`.
    public let verified = Atomic<Int64>(0)
    public let verifyTotal = Atomic<Int64>(0)
    public let resumptions = Atomic<Int>(0)

    public init() {}
}

/// What streaming one image produced.
public struct PipelineResult: Sendable {
    /// The SHA-256 of the decompressed image as it was written; nil when a
    /// bmap's range checksums check everything written and nobody named
    /// the image's own (hashing its holes would be wasted work).
    public var sha256: String?
    public var size: Int64
    public var compression: Compression
}

/// Download → decompress → check → write, one thread per stage, joined by
/// bounded queues of large buffers, so that the network, the decompressor,
/// the hashing and the device all work at once. The first failure of any
/// stage cancels the others and is what `run` throws.
///
/// What is hashed: the downloaded file when the job names its SHA-256; each
/// bmap range, before it is written; the whole decompressed image when the
/// job names its SHA-256 or there is no bmap (then it is also what the
/// read-back compares with). With a bmap and the image's SHA-256 both, the
/// two digests run on two threads (check and write).
public final class FlashPipeline: Sendable {
    private let image: ImageSpec
    private let bmap: Bmap?
    private let options: PipelineOptions
    private let progress: PipelineProgress
    private let log: @Sendable (String) -> Void

    private let compressedPool: ChunkPool
    private let decodedPool: ChunkPool
    private let compressed: BoundedQueue<Chunk>
    private let decoded: BoundedQueue<Chunk>
    private let checked: BoundedQueue<Chunk>
    private let finished = BoundedQueue<Void>(capacity: 3)
    private let failure = Mutex<FlasherError?>(nil)
    /// Set by the decode stage once it knows the format.
    private let detected = Mutex<Compression?>(nil)
    /// Set by the check stage at the end of the image.
    private let digest = Mutex<String?>(nil)
    /// Whether the whole image is hashed (see the type's comment).
    private let hashesImage: Bool
    /// The decompressed image's length, set by the decode stage at its end
    /// (buffers stop short of it when the image ends in a hole).
    private let decodedSize = Mutex<Int64?>(nil)

    public init(image: ImageSpec, bmap: Bmap?, options: PipelineOptions, progress: PipelineProgress,
                log: @escaping @Sendable (String) -> Void) {
        self.image = image
        self.bmap = bmap
        self.options = options
        self.progress = progress
        self.log = log
        hashesImage = image.sha256 != nil || bmap == nil
        compressedPool = ChunkPool(count: options.queueDepth + 2, capacity: options.chunkSize)
        decodedPool = ChunkPool(count: 2 * options.queueDepth + 3, capacity: options.chunkSize)
        compressed = BoundedQueue(capacity: options.queueDepth)
        decoded = BoundedQueue(capacity: options.queueDepth)
        checked = BoundedQueue(capacity: options.queueDepth)
    }

    /// Streams the image onto `target`; returns once every stage has stopped.
    public func run(writingTo target: TargetDevice) throws(FlasherError) -> PipelineResult {
        let stages: [(String, @Sendable () throws(FlasherError) -> Void)] = [
            ("flash-download", { () throws(FlasherError) in try self.download() }),
            ("flash-decode", { () throws(FlasherError) in try self.decode() }),
            ("flash-check", { () throws(FlasherError) in try self.check() }),
        ]
        var started = 0
        for (name, body) in stages {
            do {
                try startThread(named: name) {
                    do throws(FlasherError) {
                        try body()
                    } catch {
                        self.fail(error)
                    }
                    self.finished.push(())
                }
                started += 1
            } catch {
                fail(FlasherError(.write, "cannot start a thread: \(error)"))
            }
        }
        var size: Int64 = 0
        do throws(FlasherError) {
            size = try write(to: target)
        } catch {
            fail(error)
        }
        for _ in 0..<started { _ = finished.pop() }
        if let error = failure.withLock({ $0 }) { throw error }
        let sha256 = digest.withLock { $0 }
        guard sha256 != nil || !hashesImage, let compression = detected.withLock({ $0 }) else {
            throw FlasherError(.write, "the pipeline ended without a result")
        }
        return PipelineResult(sha256: sha256, size: size, compression: compression)
    }

    /// Records the first failure and stops every stage.
    private func fail(_ error: FlasherError) {
        failure.withLock { if $0 == nil { $0 = error.about(image: image.name) } }
        for queue in [compressed, decoded, checked] { queue.cancel() }
        compressedPool.cancel()
        decodedPool.cancel()
    }

    private var cancelled: FlasherError { FlasherError(.write, "cancelled") }

    // MARK: Stages

    /// Fills buffers from the HTTP body.
    private func download() throws(FlasherError) {
        yieldToDecoder()
        let log = self.log
        let source = ResumableDownload(url: image.url, retries: options.retries, timeout: options.timeout) { log($0) }
        var offset: Int64 = 0
        var ended = false
        var fileHasher = image.fileSHA256 == nil ? nil : SHA256()
        while !ended {
            guard let chunk = compressedPool.take() else { throw cancelled }
            chunk.offset = offset
            while chunk.count < chunk.storage.count {
                let n = try source.read(into: UnsafeMutableRawBufferPointer(rebasing: chunk.storage[chunk.count...]))
                if n == 0 { ended = true; break }
                chunk.count += n
                progress.downloaded.add(Int64(n), ordering: .relaxed)
                progress.resumptions.store(source.resumptions, ordering: .relaxed)
            }
            offset += Int64(chunk.count)
            if chunk.count > 0 {
                fileHasher?.update(chunk.bytes)
                guard compressed.push(chunk) else { throw cancelled }
            } else {
                compressedPool.give(chunk)
            }
        }
        if let expected = image.fileSHA256, let actual = fileHasher?.finalize(), actual != expected {
            throw FlasherError(.checksum, "SHA-256 of the downloaded file is \(actual), expected \(expected)", offset: offset)
        }
        compressed.close()
    }

    /// The decoder is the one stage that cannot be split across cores, and
    /// most often the slowest: when the CPU is short, the hashing stages
    /// give way to it (nice 5). The bounded queues keep that fair: a
    /// decoder that runs ahead blocks on a full queue and the others run.
    private func yieldToDecoder() {
        _ = CFlasherSystem_set_thread_nice(5)
    }

    /// Decompresses into full buffers with their image offsets.
    private func decode() throws(FlasherError) {
        // A SHA-256 the job names, or the bmap's, checks what is written.
        let otherwiseChecked = image.fileSHA256 != nil || image.sha256 != nil || bmap != nil
        var decompressor: (any Decompressor)?
        var format = image.compression ?? .none
        guard let first = decodedPool.take() else { throw cancelled }
        var current = first
        let pool = decodedPool
        let queue = decoded
        // Nothing reads the bmap's long holes unless the whole image is hashed.
        let holes = hashesImage ? [] : bmap.map { Self.holes(of: $0, atLeast: options.chunkSize / 16) } ?? []
        let scratch = holes.isEmpty ? nil : UnsafeMutableRawBufferPointer.allocate(byteCount: options.chunkSize / 16, alignment: 4096)
        defer { scratch?.deallocate() }
        var sink = OutputSink(first: current.storage, holes: holes, scratch: scratch) {
            (count: Int, offset: Int64) throws(FlasherError) -> UnsafeMutableRawBufferPointer in
            current.count = count
            current.offset = offset
            guard queue.push(current) else { throw FlasherError(.write, "cancelled") }
            guard let next = pool.take() else { throw FlasherError(.write, "cancelled") }
            current = next
            return next.storage
        }
        while let input = compressed.pop() {
            if decompressor == nil {
                if image.compression == nil { format = Compression.detect(input.bytes) }
                decompressor = try format.makeDecompressor(otherwiseChecked: otherwiseChecked)
                log("\(image.name): \(format == .none ? "not compressed" : format.rawValue)")
            }
            try decompressor!.decompress(input.bytes, into: &sink)
            compressedPool.give(input)
        }
        if failure.withLock({ $0 != nil }) { throw cancelled }
        if decompressor == nil { decompressor = try format.makeDecompressor(otherwiseChecked: otherwiseChecked) }  // an empty body
        try decompressor!.finish(into: &sink)
        decodedPool.give(current)  // the empty buffer the sink held last
        detected.withLock { $0 = format }
        let size = sink.total
        decodedSize.withLock { $0 = size }
        decoded.close()
    }

    /// The stretches between `bmap`'s ranges (and after the last) that are
    /// at least `minimum` bytes long.
    static func holes(of bmap: Bmap, atLeast minimum: Int) -> [Range<Int64>] {
        var holes: [Range<Int64>] = []
        var position: Int64 = 0
        for range in bmap.ranges {
            let (offset, length) = bmap.byteRange(of: range)
            if offset - position >= Int64(minimum) { holes.append(position..<offset) }
            position = max(position, offset + length)
        }
        if bmap.imageSize - position >= Int64(minimum) { holes.append(position..<bmap.imageSize) }
        return holes
    }

    /// Hashes the whole image, or checks the bmap's ranges when that is
    /// the only digest.
    private func check() throws(FlasherError) {
        yieldToDecoder()
        var hasher = hashesImage ? SHA256() : nil
        var ranges = hashesImage ? nil : bmap.map { RangeChecker(bmap: $0) }
        var end: Int64 = 0
        while let chunk = decoded.pop() {
            hasher?.update(chunk.bytes)
            try ranges?.consume(chunk.bytes, at: chunk.offset)
            end = chunk.offset + Int64(chunk.count)
            guard checked.push(chunk) else { throw cancelled }
        }
        if failure.withLock({ $0 != nil }) { throw cancelled }
        try ranges?.finish(imageEnd: decodedSize.withLock { $0 } ?? end)
        if let sha256 = hasher?.finalize() { digest.withLock { $0 = sha256 } }
        checked.close()
    }

    /// Writes what must be written (checking each bmap range's SHA-256
    /// first when the check stage hashes the whole image); returns the
    /// image size.
    private func write(to target: TargetDevice) throws(FlasherError) -> Int64 {
        var plan = WritePlan(bmap: bmap, skipZeroBlocks: bmap == nil && target.readsAsZero)
        var ranges = hashesImage ? bmap.map { RangeChecker(bmap: $0) } : nil
        var size: Int64 = 0
        while let chunk = checked.pop() {
            try ranges?.consume(chunk.bytes, at: chunk.offset)
            for segment in plan.segments(of: chunk.bytes, at: chunk.offset) {
                try target.write(UnsafeRawBufferPointer(rebasing: chunk.bytes[segment]), at: chunk.offset + Int64(segment.lowerBound))
                progress.writtenToDevice.add(Int64(segment.count), ordering: .relaxed)
            }
            size = chunk.offset + Int64(chunk.count)
            progress.written.store(size, ordering: .relaxed)
            decodedPool.give(chunk)
        }
        if failure.withLock({ $0 != nil }) { return size }
        size = decodedSize.withLock { $0 } ?? size
        progress.written.store(size, ordering: .relaxed)
        try ranges?.finish(imageEnd: size)
        return size
    }
}
