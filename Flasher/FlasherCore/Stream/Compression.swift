/// How an image is compressed. Detected from the first bytes of the stream
/// unless the job names it.
public enum Compression: String, Sendable, CaseIterable {
    case none, gzip, xz, zstd

    public init(named text: String) throws(FlasherError) {
        switch text.lowercased() {
        case "none", "raw": self = .none
        case "gzip", "gz": self = .gzip
        case "xz": self = .xz
        case "zstd", "zst": self = .zstd
        default: throw FlasherError(.configuration, "unknown compression '\(text.prefix(20))' (none, gzip, xz, zstd)")
        }
    }

    /// The longest magic number that `detect` looks at.
    public static let magicLength = 6

    /// The format whose magic number starts `prefix`; `.none` for anything else.
    public static func detect(_ prefix: some Collection<UInt8>) -> Compression {
        let bytes = Array(prefix.prefix(magicLength))
        if bytes.starts(with: [0x1F, 0x8B]) { return .gzip }
        if bytes.starts(with: [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]) { return .xz }
        if bytes.starts(with: [0x28, 0xB5, 0x2F, 0xFD]) { return .zstd }
        return .none
    }

    /// A decoder for this format.
    public func makeDecompressor() throws(FlasherError) -> any Decompressor {
        switch self {
        case .none: return PassthroughDecompressor()
        case .gzip: return try GzipDecompressor()
        case .xz: return try XZDecompressor()
        case .zstd: return try ZstdDecompressor()
        }
    }
}

/// Turns a compressed stream, fed in pieces, into the image's bytes.
/// Each decoder owns its C library's context and frees it in deinit.
public protocol Decompressor: AnyObject {
    /// Decodes all of `input` into the sink's free space, handing full
    /// buffers on as they fill; throws on corrupt data.
    func decompress(_ input: UnsafeRawBufferPointer, into sink: inout OutputSink) throws(FlasherError)
    /// Called once after the last input: writes what is left, and throws
    /// if the stream ended early (a truncated download).
    func finish(into sink: inout OutputSink) throws(FlasherError)
}

/// Where a decompressor writes: a window of free space it fills, and a way to
/// hand a full window on and get an empty one.
public struct OutputSink {
    /// The free part of the current output buffer.
    public private(set) var free: UnsafeMutableRawBufferPointer
    private let flush: (Int) throws(FlasherError) -> UnsafeMutableRawBufferPointer
    private var used = 0
    /// Decompressed bytes produced so far.
    public private(set) var total: Int64 = 0

    /// `flush(n)` receives the number of bytes written into the buffer it
    /// last handed out and returns the next empty buffer.
    public init(first: UnsafeMutableRawBufferPointer, flush: @escaping (Int) throws(FlasherError) -> UnsafeMutableRawBufferPointer) {
        self.free = first
        self.flush = flush
        self.used = 0
    }

    /// Marks `count` bytes at the start of `free` as written; flushes a full buffer.
    public mutating func advance(_ count: Int) throws(FlasherError) {
        used += count
        total += Int64(count)
        free = UnsafeMutableRawBufferPointer(rebasing: free[count...])
        if free.isEmpty { try handOn() }
    }

    /// Hands on what is written so far (the end of the stream), even if not full.
    public mutating func handOn() throws(FlasherError) {
        guard used > 0 else { return }
        free = try flush(used)
        used = 0
    }
}

/// `compression: none`: copies.
final class PassthroughDecompressor: Decompressor {
    func decompress(_ input: UnsafeRawBufferPointer, into sink: inout OutputSink) throws(FlasherError) {
        var rest = input
        while !rest.isEmpty {
            let count = min(rest.count, sink.free.count)
            sink.free.baseAddress!.copyMemory(from: rest.baseAddress!, byteCount: count)
            rest = UnsafeRawBufferPointer(rebasing: rest[count...])
            try sink.advance(count)
        }
    }

    /// The last, partly filled buffer goes on too.
    func finish(into sink: inout OutputSink) throws(FlasherError) { try sink.handOn() }
}
