#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SystemSupport

/// The bytes a transfer sends, read front to back.
public protocol TFTPSource {
    /// Fills `buffer` completely, or as far as the data goes: a short count
    /// means the end was reached.
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

/// A file read through a large buffer, so a 512-byte lockstep transfer does
/// not cost one read(2) per block.
public struct FileSource: TFTPSource {
    private let file: TFTPOpenFile
    private var buffer: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0
    private var atEnd = false

    public init(_ file: TFTPOpenFile, bufferSize: Int = 256 << 10) {
        self.file = file
        buffer = .allocate(byteCount: bufferSize, alignment: 4096)
    }

    /// Frees the buffer; the source is not used after this.
    public func release() { buffer.deallocate() }

    public mutating func read(into destination: UnsafeMutableRawBufferPointer) throws -> Int {
        var copied = 0
        while copied < destination.count {
            if start == end {
                if atEnd { break }
                // Large reads go straight to the destination, skipping a copy.
                if destination.count - copied >= buffer.count {
                    let n = try file.read(into: UnsafeMutableRawBufferPointer(rebasing: destination[copied...]))
                    if n == 0 { atEnd = true }
                    copied += n
                    continue
                }
                start = 0
                end = try file.read(into: buffer)
                if end == 0 { atEnd = true; break }
            }
            let n = min(end - start, destination.count - copied)
            UnsafeMutableRawBufferPointer(rebasing: destination[copied..<copied + n])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: buffer[start..<start + n]))
            start += n
            copied += n
        }
        return copied
    }
}

/// netascii (RFC 764 as RFC 1350 uses it): LF goes out as CR LF, a lone CR
/// as CR NUL.
public struct NetasciiSource<Base: TFTPSource>: TFTPSource {
    private var base: Base
    private var raw = [UInt8](repeating: 0, count: 64 << 10)
    private var rawStart = 0
    private var rawEnd = 0
    private var carry: UInt8?  // second byte of a pair that did not fit
    private var baseEnded = false

    public init(_ base: Base) { self.base = base }

    /// The size of `count` bytes of which `lineFeeds` are LF and
    /// `carriageReturns` CR, once converted.
    public static func convertedSize(count: Int, lineFeeds: Int, carriageReturns: Int) -> Int {
        count + lineFeeds + carriageReturns
    }

    public mutating func read(into destination: UnsafeMutableRawBufferPointer) throws -> Int {
        var out = 0
        while out < destination.count {
            if let pending = carry {
                destination[out] = pending
                out += 1
                carry = nil
                continue
            }
            if rawStart == rawEnd {
                if baseEnded { break }
                rawStart = 0
                rawEnd = try raw.withUnsafeMutableBytes { try base.read(into: $0) }
                if rawEnd < raw.count { baseEnded = true }
                if rawEnd == 0 { break }
            }
            let byte = raw[rawStart]
            rawStart += 1
            switch byte {
            case 0x0a: destination[out] = 0x0d; carry = 0x0a
            case 0x0d: destination[out] = 0x0d; carry = 0x00
            default: destination[out] = byte
            }
            out += 1
        }
        return out
    }
}
