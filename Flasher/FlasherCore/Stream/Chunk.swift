#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A large, page-aligned buffer passed between the pipeline's threads. Only
/// one stage holds a chunk at a time (handed over through a `BoundedQueue`),
/// which is what makes the unchecked Sendable sound.
public final class Chunk: @unchecked Sendable {
    public let storage: UnsafeMutableRawBufferPointer
    /// Bytes in use from the start.
    public var count = 0
    /// Where `storage[0]` belongs in the stream it carries.
    public var offset: Int64 = 0

    public init(capacity: Int) {
        storage = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 4096)
    }

    deinit { storage.deallocate() }

    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: storage[..<count]) }
}

/// A fixed set of chunks: a stage takes one, fills it, and the last stage
/// gives it back. Bounds the pipeline's memory (count × capacity).
public final class ChunkPool: Sendable {
    private let free: BoundedQueue<Chunk>

    public init(count: Int, capacity: Int) {
        free = BoundedQueue(capacity: count)
        for _ in 0..<count { _ = free.push(Chunk(capacity: capacity)) }
    }

    /// An empty chunk, waiting for one if all are in use; nil once cancelled.
    public func take() -> Chunk? {
        guard let chunk = free.pop() else { return nil }
        chunk.count = 0
        chunk.offset = 0
        return chunk
    }

    public func give(_ chunk: Chunk) { _ = free.push(chunk) }

    public func cancel() { free.cancel() }
}
