import CZstd

/// zstd through libzstd's streaming decoder; several frames decode as one.
final class ZstdDecompressor: Decompressor {
    private let context: OpaquePointer
    /// What the last ZSTD_decompressStream said: 0 at a frame's end.
    private var pending = 0

    /// `checksum`: check each frame's XXH64 checksum where it has one.
    init(checksum: Bool = true) throws(FlasherError) {
        guard let context = ZSTD_createDCtx() else {
            throw FlasherError(.decompress, "libzstd cannot start a decoder (out of memory?)")
        }
        // Images are made with --long (a 128 MiB window) as often as not;
        // up to 256 MiB (--long=28) is taken, as xz's limit: a frame whose
        // header asks for gigabytes is refused, not allowed to take the
        // board's RAM (and PID 1 with it).
        ZSTD_DCtx_setParameter(context, ZSTD_d_windowLogMax, Self.windowLogMax)
        if !checksum {
            // ZSTD_d_forceIgnoreChecksum (an experimental parameter) = ZSTD_d_ignoreChecksum.
            ZSTD_DCtx_setParameter(context, ZSTD_d_experimentalParam3, 1)
        }
        self.context = context
    }

    static let windowLogMax: Int32 = 28

    deinit { ZSTD_freeDCtx(context) }

    func decompress(_ input: UnsafeRawBufferPointer, into sink: inout OutputSink) throws(FlasherError) {
        guard let base = input.baseAddress, !input.isEmpty else { return }
        var inBuffer = ZSTD_inBuffer(src: base, size: input.count, pos: 0)
        while inBuffer.pos < inBuffer.size {
            try step(&inBuffer, &sink)
        }
    }

    func finish(into sink: inout OutputSink) throws(FlasherError) {
        var empty = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
        // Flush what the decoder still holds.
        while pending != 0 {
            let before = sink.total
            try step(&empty, &sink)
            if sink.total == before {
                throw FlasherError(.decompress, "the zstd stream ends early (truncated image)", offset: sink.total)
            }
        }
        try sink.handOn()
    }

    private func step(_ input: inout ZSTD_inBuffer, _ sink: inout OutputSink) throws(FlasherError) {
        var output = ZSTD_outBuffer(dst: sink.free.baseAddress, size: sink.free.count, pos: 0)
        let result = ZSTD_decompressStream(context, &output, &input)
        if ZSTD_isError(result) != 0 {
            let offset = sink.total + Int64(output.pos)
            let name = String(cString: ZSTD_getErrorName(result))
            // ZSTD_error_frameParameter_windowTooLarge (zstd_errors.h is not in the module).
            if name.contains("too much memory") {
                throw FlasherError(.decompress, "zstd: the image needs a window over \(1 << (Self.windowLogMax - 20)) MiB to decompress "
                                   + "(made with --long=29 or more?); the flasher takes --long=\(Self.windowLogMax) at most", offset: offset)
            }
            throw FlasherError(.decompress, "zstd data is corrupt: \(name)", offset: offset)
        }
        pending = result
        try sink.advance(output.pos)
    }
}
