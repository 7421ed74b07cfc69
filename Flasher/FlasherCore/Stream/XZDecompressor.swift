import CLZMA

/// xz through liblzma; concatenated streams decode as one.
final class XZDecompressor: Decompressor {
    private var stream = lzma_stream()
    /// The most memory the decoder may take: every xz preset fits (-9 needs
    /// 65 MiB), while a stream whose header asks for gigabytes is refused
    /// with a reason instead of taking a board's RAM (and PID 1 with it).
    static let memoryLimit: UInt64 = 256 << 20

    init() throws(FlasherError) {
        guard CLZMA_xz_decoder(&stream, Self.memoryLimit) == LZMA_OK else {
            throw FlasherError(.decompress, "liblzma cannot start an xz decoder (out of memory?)")
        }
    }

    deinit { lzma_end(&stream) }

    func decompress(_ input: UnsafeRawBufferPointer, into sink: inout OutputSink) throws(FlasherError) {
        guard let base = input.baseAddress, !input.isEmpty else { return }
        stream.next_in = base.assumingMemoryBound(to: UInt8.self)
        stream.avail_in = input.count
        while stream.avail_in > 0 {
            _ = try step(LZMA_RUN, &sink)
        }
    }

    func finish(into sink: inout OutputSink) throws(FlasherError) {
        stream.next_in = nil
        stream.avail_in = 0
        while try !step(LZMA_FINISH, &sink) {}
        try sink.handOn()
    }

    /// One lzma_code call; true at the end of the stream.
    private func step(_ action: lzma_action, _ sink: inout OutputSink) throws(FlasherError) -> Bool {
        let room = sink.free.count
        stream.next_out = sink.free.baseAddress!.assumingMemoryBound(to: UInt8.self)
        stream.avail_out = room
        let result = lzma_code(&stream, action)
        let produced = room - stream.avail_out
        let offset = sink.total + Int64(produced)
        try sink.advance(produced)
        switch result {
        case LZMA_OK: return false
        case LZMA_STREAM_END: return true
        case LZMA_BUF_ERROR:
            if action == LZMA_FINISH {
                throw FlasherError(.decompress, "the xz stream ends early (truncated image)", offset: offset)
            }
            return false
        case LZMA_MEM_ERROR: throw FlasherError(.decompress, "xz: out of memory", offset: offset)
        case LZMA_MEMLIMIT_ERROR:
            throw FlasherError(.decompress, "xz: the image needs \(lzma_memusage(&stream) >> 20) MiB to decompress, more than the flasher's "
                               + "\(Self.memoryLimit >> 20) MiB (compress it with a smaller dictionary: xz -6)", offset: offset)
        case LZMA_FORMAT_ERROR: throw FlasherError(.decompress, "not an xz stream", offset: offset)
        case LZMA_OPTIONS_ERROR: throw FlasherError(.decompress, "xz: unsupported options", offset: offset)
        case LZMA_DATA_ERROR: throw FlasherError(.decompress, "xz data is corrupt", offset: offset)
        default: throw FlasherError(.decompress, "xz: error \(result.rawValue)", offset: offset)
        }
    }
}
