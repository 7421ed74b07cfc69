import CZlib

/// gzip (RFC 1952) through zlib's inflate; several concatenated members
/// (as `pigz` or `cat a.gz b.gz` make) decode as one stream.
final class GzipDecompressor: Decompressor {
    private var stream = z_stream()
    /// Inside a member (false before the first byte and after each member's trailer).
    private var inMember = false

    init() throws(FlasherError) {
        guard CZlib_inflate_init_gzip(&stream) == Z_OK else {
            throw FlasherError(.decompress, "zlib cannot start a gzip decoder (out of memory?)")
        }
    }

    deinit { inflateEnd(&stream) }

    func decompress(_ input: UnsafeRawBufferPointer, into sink: inout OutputSink) throws(FlasherError) {
        guard let base = input.baseAddress, !input.isEmpty else { return }
        stream.next_in = UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: UInt8.self))
        stream.avail_in = UInt32(input.count)
        while stream.avail_in > 0 {
            inMember = true
            let room = min(sink.free.count, Int(UInt32.max))
            stream.next_out = sink.free.baseAddress!.assumingMemoryBound(to: UInt8.self)
            stream.avail_out = UInt32(room)
            let result = inflate(&stream, Z_NO_FLUSH)
            let produced = room - Int(stream.avail_out)
            switch result {
            case Z_OK, Z_BUF_ERROR:
                break
            case Z_STREAM_END:
                inMember = false
                inflateReset(&stream)
            default:
                let message = stream.msg.map { String(cString: $0) } ?? "error \(result)"
                throw FlasherError(.decompress, "gzip data is corrupt: \(message)", offset: sink.total + Int64(produced))
            }
            try sink.advance(produced)
        }
    }

    func finish(into sink: inout OutputSink) throws(FlasherError) {
        stream.next_in = nil
        stream.avail_in = 0
        while inMember {
            let room = sink.free.count
            stream.next_out = sink.free.baseAddress!.assumingMemoryBound(to: UInt8.self)
            stream.avail_out = UInt32(room)
            let result = inflate(&stream, Z_FINISH)
            let produced = room - Int(stream.avail_out)
            try sink.advance(produced)
            if result == Z_STREAM_END { inMember = false; break }
            if produced == 0 {
                throw FlasherError(.decompress, "the gzip stream ends early (truncated image)", offset: sink.total)
            }
        }
        try sink.handOn()
    }
}
