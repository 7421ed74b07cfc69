#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CFlasherSystem
import SystemSupport

/// The device or file an image is written to, open for writing and reading back.
public final class TargetDevice {
    public enum Kind: Sendable { case blockDevice, regularFile }

    public let path: String
    public let kind: Kind
    let descriptor: Int32
    /// The same target opened with O_DIRECT, for whole aligned blocks: no
    /// copy through the page cache (a board's little CPU and RAM stay free
    /// for decompressing), and a read-back that reads the medium. -1 where
    /// the file system has no direct I/O (tmpfs), or after it refused one.
    private var direct: Int32 = -1
    /// Direct I/O's alignment of memory, offsets and lengths.
    static let directAlignment = 4096
    /// The device's size; nil for a file.
    public let capacity: Int64?
    /// Whether blocks that are not written read as zeros: a file created or
    /// truncated now, or a device range that was discarded and reads back as
    /// zeros. Only then may all-zero blocks be skipped without a bmap.
    public private(set) var readsAsZero = false

    /// Opens `path`: a block device exclusively (EBUSY if it is mounted), a
    /// regular file (created or truncated). With `discardUpTo`, a block
    /// device's first bytes are discarded (BLKDISCARD) so zeros can be skipped.
    public init(path: String, imageSize: Int64?, discard: Bool) throws(FlasherError) {
        self.path = path
        var info = stat()
        let exists = stat(path, &info) == 0
        if !exists && errno != ENOENT { throw FlasherError(.write, "stat \(path)", code: errno) }
        let isBlock = exists && (info.st_mode & S_IFMT) == S_IFBLK
        if exists && !isBlock && (info.st_mode & S_IFMT) != S_IFREG {
            throw FlasherError(.write, "\(path) is neither a block device nor a regular file")
        }
        if !exists && path.hasPrefix("/dev/") {
            throw FlasherError(.write, "the target \(path) does not exist", code: ENOENT)
        }
        let flags = isBlock ? O_RDWR | O_EXCL | O_CLOEXEC : O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC
        let fd = open(path, flags, 0o644)
        guard fd >= 0 else { throw FlasherError(.write, "open \(path)", code: errno) }
        descriptor = fd
        if isBlock {
            kind = .blockDevice
            var size: UInt64 = 0
            guard CFlasherSystem_block_device_size(fd, &size) == 0 else {
                let code = errno
                close(fd)
                throw FlasherError(.write, "size of \(path) (BLKGETSIZE64)", code: code)
            }
            capacity = Int64(size)
            if let imageSize, imageSize > Int64(size) {
                close(fd)
                throw FlasherError(.write, "the image (\(imageSize) bytes) does not fit \(path) (\(size) bytes)", code: ENOSPC)
            }
            if discard, let imageSize, imageSize > 0 {
                let length = min(Int64(size), (imageSize + 4095) / 4096 * 4096)
                readsAsZero = CFlasherSystem_discard(fd, 0, UInt64(length)) == 0 && sampleReadsZero(length: length)
            }
        } else {
            kind = .regularFile
            capacity = nil
            readsAsZero = true
        }
        // The exclusive claim on a block device is the first descriptor's.
        direct = CFlasherSystem_open_direct(path)
    }

    deinit {
        close(descriptor)
        if direct >= 0 { close(direct) }
    }

    /// Whether writes and reads go around the page cache where they can.
    public var usesDirectIO: Bool { direct >= 0 }

    /// How much of `bytes` at `offset` may go through `direct`: its whole
    /// aligned blocks from the start, or none.
    private func directPart(_ base: UnsafeRawPointer, count: Int, at offset: Int64) -> Int {
        let alignment = Self.directAlignment
        guard direct >= 0, Int(bitPattern: base) % alignment == 0, offset % Int64(alignment) == 0 else { return 0 }
        return count / alignment * alignment
    }

    /// A direct transfer the file system refused (EINVAL): from now on
    /// everything goes through the page cache.
    private func dropDirect() {
        close(direct)
        direct = -1
    }

    /// After a discard: a few blocks across the range must read as zeros,
    /// else the device keeps old data on discard and nothing may be skipped.
    private func sampleReadsZero(length: Int64) -> Bool {
        let block = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 4096)
        defer { block.deallocate() }
        for offset in [0, length / 2 / 4096 * 4096, max(0, length - 4096)] {
            guard pread(descriptor, block.baseAddress, 4096, off_t(offset)) == 4096,
                  isAllZero(UnsafeRawBufferPointer(block)) else { return false }
        }
        return true
    }

    /// Writes all of `bytes` at `offset`: whole aligned blocks directly
    /// (the call returns once the device has them), the rest through the
    /// page cache with its writeback started at once.
    public func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws(FlasherError) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        let directBytes = directPart(base, count: bytes.count, at: offset)
        let done = directBytes > 0 ? try writeAll(direct, base, count: directBytes, at: offset) : 0
        guard done < bytes.count else { return }
        let rest = try writeAll(descriptor, base + done, count: bytes.count - done, at: offset + Int64(done))
        _ = CFlasherSystem_start_writeback(descriptor, offset + Int64(done), Int64(rest))
    }

    /// Writes `count` bytes through `fd` and returns `count`; or 0 when
    /// `fd` is the direct one and the file system refused direct I/O
    /// (from then on everything goes through the page cache).
    private func writeAll(_ fd: Int32, _ base: UnsafeRawPointer, count: Int, at offset: Int64) throws(FlasherError) -> Int {
        var done = 0
        while done < count {
            let n = pwrite(fd, base + done, count - done, off_t(offset + Int64(done)))
            if n < 0 && errno == EINTR { continue }
            if n < 0 && errno == EINVAL && fd == direct && done == 0 { dropDirect(); return 0 }
            if n < 0 { throw FlasherError(.write, "write \(path)", code: errno, offset: offset + Int64(done)) }
            if n == 0 { throw FlasherError(.write, "write \(path): the end of the device", code: ENOSPC, offset: offset + Int64(done)) }
            done += n
        }
        return done
    }

    /// Reads up to `buffer.count` bytes at `offset`; fewer only at the end.
    /// Whole aligned blocks are read directly, from the medium.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(FlasherError) -> Int {
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return 0 }
        var done = 0
        let directBytes = directPart(base, count: buffer.count, at: offset)
        while done < directBytes {
            let n = pread(direct, base + done, directBytes - done, off_t(offset + Int64(done)))
            if n < 0 && errno == EINTR { continue }
            if n < 0 && errno == EINVAL && done == 0 { dropDirect(); break }
            if n < 0 { throw FlasherError(.verify, "read \(path)", code: errno, offset: offset + Int64(done)) }
            if n == 0 { return done }
            done += n
            // A short direct read ends on a block that is not whole: the
            // rest comes through the page cache below.
            if n % Self.directAlignment != 0 { break }
        }
        while done < buffer.count {
            let n = pread(descriptor, base + done, buffer.count - done, off_t(offset + Int64(done)))
            if n < 0 {
                if errno == EINTR { continue }
                throw FlasherError(.verify, "read \(path)", code: errno, offset: offset + Int64(done))
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// Sets a file's final length (its skipped tail reads as zeros) and
    /// flushes everything to the medium.
    public func finish(size: Int64) throws(FlasherError) {
        if kind == .regularFile, ftruncate(descriptor, off_t(size)) != 0 {
            throw FlasherError(.write, "truncate \(path) to \(size) bytes", code: errno)
        }
        guard fsync(descriptor) == 0 else { throw FlasherError(.write, "fsync \(path)", code: errno) }
    }

    /// Forgets cached pages, so the read-back reads what the medium holds.
    public func dropCache() {
        _ = posix_fadvise(descriptor, 0, 0, POSIX_FADV_DONTNEED)
        if kind == .blockDevice { _ = CFlasherSystem_flush_buffers(descriptor) }
    }

    /// After a whole disk was written: the kernel rereads its partition table.
    public func rereadPartitions() {
        if kind == .blockDevice { _ = CFlasherSystem_reread_partitions(descriptor) }
    }
}

/// Whether every byte is zero (word at a time; the loop vectorises).
func isAllZero(_ bytes: UnsafeRawBufferPointer) -> Bool {
    var position = 0
    let count = bytes.count
    let base = bytes.baseAddress!
    while position + 256 <= count {
        var accumulated: UInt64 = 0
        for word in 0..<32 { accumulated |= base.loadUnaligned(fromByteOffset: position + word * 8, as: UInt64.self) }
        if accumulated != 0 { return false }
        position += 256
    }
    while position < count {
        if base.load(fromByteOffset: position, as: UInt8.self) != 0 { return false }
        position += 1
    }
    return true
}
