#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SystemSupport

/// A board's console log on disk: `FOLDER/BOARD.log`, every line prefixed with
/// the UTC time its first byte arrived (`2026-05-01T12:00:00.123Z `), rotated
/// past `maxSize` to `BOARD.log.1` … `.keep` (the oldest dropped).
///
/// The bytes are kept as they came (carriage returns included): stripping each
/// line's 25-byte prefix gives back the console's output exactly, also across
/// a rotation in the middle of a line (the next file starts with a prefix).
/// `@unchecked Sendable`: kept in a `Mutex`, written by the console's reader.
final class ConsoleLog: @unchecked Sendable {
    static let prefixLength = 25

    let path: String
    let maxSize: Int
    let keep: Int
    private var descriptor: Int32 = -1
    private var size = 0
    /// The last byte written ended a line (or nothing is written yet).
    private var atLineStart = true
    private var buffer: [UInt8] = []

    init(folder: String, board: String, maxSize: Int, keep: Int) {
        path = folder + "/" + board + ".log"
        self.maxSize = maxSize
        self.keep = keep
    }

    deinit {
        if descriptor >= 0 { close(descriptor) }
    }

    /// Appends console output that arrived at `time` (Unix seconds).
    func append(_ bytes: UnsafeRawBufferPointer, at time: Double) throws {
        guard !bytes.isEmpty else { return }
        try openIfNeeded()
        let stamp = Self.timestamp(time)
        buffer.removeAll(keepingCapacity: true)
        buffer.reserveCapacity(bytes.count + bytes.count / 16 + Self.prefixLength)
        let base = bytes.baseAddress!
        var lineStart = 0
        while lineStart < bytes.count,
              let found = memchr(base + lineStart, 0x0a, bytes.count - lineStart) {
            let end = base.distance(to: UnsafeRawPointer(found)) + 1
            if atLineStart { buffer.append(contentsOf: stamp) }
            buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[lineStart..<end]))
            lineStart = end
            atLineStart = true
        }
        if lineStart < bytes.count {
            if atLineStart { buffer.append(contentsOf: stamp) }
            buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[lineStart...]))
            atLineStart = false
        }
        try writeBuffer()
    }

    /// A line from the agent itself, on a line of its own.
    func appendNotice(_ text: String, at time: Double) throws {
        try openIfNeeded()
        buffer.removeAll(keepingCapacity: true)
        if !atLineStart { buffer.append(0x0a) }
        buffer.append(contentsOf: Self.timestamp(time))
        buffer.append(contentsOf: Array("-- provisioner: \(text)\n".utf8))
        atLineStart = true
        try writeBuffer()
    }

    private func writeBuffer() throws {
        try buffer.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let count = try systemCall("write \(path)") { write(descriptor, raw.baseAddress! + offset, raw.count - offset) }
                offset += count
            }
        }
        size += buffer.count
        if size >= maxSize { try rotate() }
    }

    private func openIfNeeded() throws {
        guard descriptor < 0 else { return }
        descriptor = try systemCall("open \(path)") { open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640) }
        var info = stat()
        if fstat(descriptor, &info) == 0 { size = Int(info.st_size) }
        if size > 0 {
            // Continue on a fresh line unless the file ends with one.
            var last: UInt8 = 0
            let reader = open(path, O_RDONLY | O_CLOEXEC)
            if reader >= 0 {
                if pread(reader, &last, 1, off_t(size - 1)) == 1 { atLineStart = last == 0x0a }
                close(reader)
            }
            if !atLineStart {
                var newline: UInt8 = 0x0a
                _ = write(descriptor, &newline, 1)
                size += 1
                atLineStart = true
            }
        }
    }

    private func rotate() throws {
        close(descriptor)
        descriptor = -1
        if keep == 0 {
            unlink(path)
        } else {
            unlink("\(path).\(keep)")
            if keep > 1 {
                for index in stride(from: keep - 1, through: 1, by: -1) {
                    rename("\(path).\(index)", "\(path).\(index + 1)")
                }
            }
            rename(path, "\(path).1")
        }
        size = 0
        // A line under way continues in the new file behind a new prefix.
        descriptor = try systemCall("open \(path)") { open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o640) }
        atLineStart = true
    }

    /// `2026-05-01T12:00:00.123Z ` for a Unix time.
    static func timestamp(_ time: Double) -> [UInt8] { Array((ISOTime.format(time, millis: true) + " ").utf8) }

    /// The Unix time of a line's prefix, or nil when it has none.
    static func parseTimestamp(_ line: Substring.UTF8View) -> Double? {
        let bytes = Array(line.prefix(prefixLength))
        guard bytes.count == prefixLength, bytes[19] == 0x2e, bytes[23] == 0x5a, bytes[24] == 0x20,
              let time = ISOTime.parse(bytes[0..<24]) else { return nil }
        return Double(time.seconds) + Double(time.millis) / 1000
    }
}
