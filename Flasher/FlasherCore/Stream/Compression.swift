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
    /// With `otherwiseChecked` (a SHA-256 covers what is written), zstd
    /// skips its own frame checksum: XXH64 over every byte is about a sixth
    /// of its work, and the decoder is the pipeline's slowest stage.
    public func makeDecompressor(otherwiseChecked: Bool = false) throws(FlasherError) -> any Decompressor {
        switch self {
        case .none: return PassthroughDecompressor()
        case .gzip: return try GzipDecompressor()
        case .xz: return try XZDecompressor()
        case .zstd: return try ZstdDecompressor(checksum: !otherwiseChecked)
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
/// hand a full buffer on and get an empty one.
///
/// Given `holes` (long stretches of the image nobody reads: a bmap's
/// unmapped ranges when the whole image is not hashed), their bytes go to a
/// small scratch buffer that stays in the CPU's cache and are dropped: the
/// decoder still produces them, but they cost no memory traffic and no
/// buffers. A buffer then ends where a hole starts, and the next one starts
/// where it ends.
public struct OutputSink {
    /// The free part of the current output buffer (or of the scratch buffer in a hole).
    public private(set) var free: UnsafeMutableRawBufferPointer
    private let flush: (_ count: Int, _ offset: Int64) throws(FlasherError) -> UnsafeMutableRawBufferPointer
    private var buffer: UnsafeMutableRawBufferPointer
    private var used = 0
    /// The image offset of `buffer`'s first byte, once it has one.
    private var bufferStart: Int64 = 0
    /// Decompressed bytes produced so far: the image offset of the next byte.
    public private(set) var total: Int64 = 0
    private let holes: [Range<Int64>]
    private var nextHole = 0
    private let scratch: UnsafeMutableRawBufferPointer?
    private var inHole = false

    /// `flush(count, offset)` receives the number of bytes written into the
    /// buffer it last handed out and their image offset, and returns the
    /// next empty buffer. `holes` must be sorted and apart, and come with
    /// a `scratch` buffer.
    public init(first: UnsafeMutableRawBufferPointer, holes: [Range<Int64>] = [], scratch: UnsafeMutableRawBufferPointer? = nil,
                flush: @escaping (_ count: Int, _ offset: Int64) throws(FlasherError) -> UnsafeMutableRawBufferPointer) {
        precondition(holes.isEmpty || (scratch.map { !$0.isEmpty } ?? false), "holes need a scratch buffer")
        self.buffer = first
        self.free = first
        self.flush = flush
        self.holes = holes
        self.scratch = scratch
        arrange()
    }

    /// Marks `count` bytes at the start of `free` as written; flushes a full buffer.
    public mutating func advance(_ count: Int) throws(FlasherError) {
        guard count > 0 else { return }
        if !inHole {
            if used == 0 { bufferStart = total }
            used += count
        }
        total += Int64(count)
        if used == buffer.count { try handOn() }
        try arrangeHandingOn()
    }

    /// Hands on what is written so far (the end of the stream), even if not full.
    public mutating func handOn() throws(FlasherError) {
        guard used > 0 else { return }
        buffer = try flush(used, bufferStart)
        used = 0
        arrange()
    }

    /// At a hole's start, the buffer so far goes on before the hole is skipped.
    private mutating func arrangeHandingOn() throws(FlasherError) {
        while nextHole < holes.count && holes[nextHole].upperBound <= total { nextHole += 1 }
        if used > 0, nextHole < holes.count, holes[nextHole].lowerBound <= total {
            try handOn()
        } else {
            arrange()
        }
    }

    /// Points `free` at the scratch buffer inside a hole, else at the
    /// buffer's free part up to the next hole.
    private mutating func arrange() {
        while nextHole < holes.count && holes[nextHole].upperBound <= total { nextHole += 1 }
        if nextHole < holes.count, let scratch {
            let hole = holes[nextHole]
            if hole.lowerBound <= total {
                inHole = true
                free = UnsafeMutableRawBufferPointer(rebasing: scratch[..<Int(min(Int64(scratch.count), hole.upperBound - total))])
                return
            }
            inHole = false
            let room = min(Int64(buffer.count - used), hole.lowerBound - total)
            free = UnsafeMutableRawBufferPointer(rebasing: buffer[used..<(used + Int(room))])
            return
        }
        inHole = false
        free = UnsafeMutableRawBufferPointer(rebasing: buffer[used...])
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
