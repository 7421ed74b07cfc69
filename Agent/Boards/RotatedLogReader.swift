#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentCore
import SystemSupport

/// Reads a log as `ConsoleLog` writes and rotates it (`PATH`, `PATH.1` …
/// `PATH.KEEP`), opening only what it needs: `.since` leaves every file last
/// written before that time unopened, `.tail` reads the last bytes only. Each
/// later `read` carries on where the last one stopped: in the file it had
/// open (a rotation renames it, the bytes stay), then in the files rotated
/// after it, then in the new `PATH`.
///
/// A log that rotates more than KEEP times between two reads has dropped the
/// files in between, and one that rotates while a read looks for its files
/// (megabytes within moments) may skip one: those lines are not given.
final class RotatedLogReader: ConsoleLogReader {
    /// The bytes of a line kept back while its end has not come; a longer
    /// line is given in pieces.
    static let longestLine = 1 << 20

    private let path: String
    private let keep: Int
    private let follow: Bool
    /// Lines stamped earlier (or not stamped) are not given.
    private let since: Double?
    /// Where the first read starts; nil once it is done.
    private var start: ConsoleLogStart?
    /// The file read last: `PATH` when it was opened, maybe rotated since.
    private var file: LogFile?
    /// The start of a line whose end has not been read yet.
    private var partial: [UInt8] = []
    /// The bytes up to the next line end are dropped: a tail began there.
    private var skipping = false

    init(path: String, keep: Int, start: ConsoleLogStart, follow: Bool) {
        self.path = path
        self.keep = max(keep, 0)
        self.follow = follow
        self.start = start
        if case .since(let time) = start { since = time } else { since = nil }
    }

    func read(_ line: (String) -> Void) throws {
        if let start {
            self.start = nil
            try readFirst(from: start, line)
        } else {
            try readNew(line)
        }
        if !follow { finishLine(line) }
    }

    private func readFirst(from start: ConsoleLogStart, _ line: (String) -> Void) throws {
        file = try LogFile(path)
        // Rotated files, oldest first; not the open one, should a rotation just have renamed it.
        var rotated: [(name: String, status: stat)] = []
        for index in stride(from: keep, through: 1, by: -1) {
            let name = "\(path).\(index)"
            guard let status = try Self.status(of: name), file?.isSame(as: status) != true else { continue }
            rotated.append((name, status))
        }
        switch start {
        case .since(let time):
            for (name, status) in rotated where Self.modified(status) >= time {
                guard let old = try LogFile(name) else { continue }
                try readToEnd(old, line)
                finishLine(line)
            }
            if let file {
                if Self.modified(file.status) >= time { try readToEnd(file, line) } else { file.offset = file.size }
            }
        case .tail(let bytes):
            // Newest first, the files that hold the last `bytes`; the oldest
            // of them is read from its first line that starts within them.
            var remaining = bytes
            if let file {
                guard remaining > file.size else { return try readToEnd(file, fromLineAt: file.size - remaining, line) }
                remaining -= file.size
            }
            var first = rotated.count
            var offset = 0
            while first > 0 {
                first -= 1
                let size = Int(rotated[first].status.st_size)
                guard remaining > size else {
                    offset = size - remaining
                    break
                }
                remaining -= size
            }
            for index in rotated.indices where index >= first {
                guard let old = try LogFile(rotated[index].name) else { continue }
                try readToEnd(old, fromLineAt: index == first ? offset : 0, line)
                finishLine(line)
            }
            if let file { try readToEnd(file, line) }
        }
    }

    private func readNew(_ line: (String) -> Void) throws {
        guard let file else {
            // There was no log yet: from the start of the one there is now.
            self.file = try LogFile(path)
            if let file = self.file { try readToEnd(file, line) }
            return
        }
        try readToEnd(file, line)
        guard let current = try Self.status(of: path), !file.isSame(as: current) else { return }
        // Rotated. The writer closed the file before renaming it: read to its
        // end again, and its last line, cut there, is a line.
        try readToEnd(file, line)
        finishLine(line)
        // Then the files rotated after it (none when it is still PATH.1, all
        // when it was dropped), oldest first, and the new PATH.
        var position = keep + 1
        for index in stride(from: 1, through: keep, by: 1) {
            if let status = try Self.status(of: "\(path).\(index)"), file.isSame(as: status) {
                position = index
                break
            }
        }
        for index in stride(from: position - 1, through: 1, by: -1) {
            guard let rotated = try LogFile("\(path).\(index)") else { continue }
            try readToEnd(rotated, line)
            finishLine(line)
        }
        self.file = try LogFile(path)
        if let file = self.file { try readToEnd(file, line) }
    }

    /// Reads `file` from the first line that starts at `offset` or later.
    private func readToEnd(_ file: LogFile, fromLineAt offset: Int, _ line: (String) -> Void) throws {
        if offset > 0 {
            // The byte before is a line's end, or the line it ends is dropped.
            file.offset = offset - 1
            skipping = true
        }
        try readToEnd(file, line)
    }

    /// Reads `file` from where it was left to its end, 64 KiB at a time.
    private func readToEnd(_ file: LogFile, _ line: (String) -> Void) throws {
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = try chunk.withUnsafeMutableBytes { buffer in
                try systemCall("read \(path)") { pread(file.descriptor, buffer.baseAddress, buffer.count, off_t(file.offset)) }
            }
            if count == 0 { return }
            file.offset += count
            chunk.withUnsafeBytes { take(UnsafeRawBufferPointer(rebasing: $0[..<count]), line) }
        }
    }

    /// Splits bytes into lines (bytes, not Characters: "\r\n" is one
    /// Character in Swift), keeping back the start of one without its end.
    private func take(_ bytes: UnsafeRawBufferPointer, _ line: (String) -> Void) {
        guard let base = bytes.baseAddress else { return }
        var start = 0
        while start < bytes.count, let found = memchr(base + start, 0x0a, bytes.count - start) {
            let end = base.distance(to: UnsafeRawPointer(found))
            if skipping {
                skipping = false
            } else if partial.isEmpty {
                give(UnsafeRawBufferPointer(rebasing: bytes[start..<end]), line)
            } else {
                partial.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
                partial.withUnsafeBytes { give($0, line) }
                partial.removeAll(keepingCapacity: true)
            }
            start = end + 1
        }
        guard !skipping, start < bytes.count else { return }
        partial.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start...]))
        if partial.count >= Self.longestLine { finishLine(line) }
    }

    /// Gives the line under way as it is: its file ended, or it is too long.
    private func finishLine(_ line: (String) -> Void) {
        skipping = false
        guard !partial.isEmpty else { return }
        partial.withUnsafeBytes { give($0, line) }
        partial.removeAll(keepingCapacity: true)
    }

    private func give(_ bytes: UnsafeRawBufferPointer, _ line: (String) -> Void) {
        guard !bytes.isEmpty else { return }
        let shown = bytes.last == 0x0d ? UnsafeRawBufferPointer(rebasing: bytes.dropLast()) : bytes
        let text = String(decoding: shown, as: UTF8.self)
        if let since {
            guard let time = ConsoleLog.parseTimestamp(Substring(text).utf8), time >= since else { return }
        }
        line(text)
    }

    /// The status of a file, or nil when there is none.
    private static func status(of path: String) throws -> stat? {
        var status = stat()
        guard stat(path, &status) == 0 else {
            if errno == ENOENT { return nil }
            throw SystemError("stat \(path)")
        }
        return status
    }

    /// When a file was last written, in Unix seconds.
    static func modified(_ status: stat) -> Double {
        Double(status.st_mtim.tv_sec) + Double(status.st_mtim.tv_nsec) / 1e9
    }
}

/// One file of the log, open for reading, and how far it is read.
private final class LogFile {
    let descriptor: Int32
    /// As it was when opened.
    let status: stat
    var offset = 0

    /// Opens `path`; nil when there is none.
    init?(_ path: String) throws {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            if errno == ENOENT { return nil }
            throw SystemError("open \(path)")
        }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            let error = SystemError("fstat \(path)")
            close(descriptor)
            throw error
        }
        self.descriptor = descriptor
        self.status = status
    }

    deinit { close(descriptor) }

    var size: Int { Int(status.st_size) }

    func isSame(as other: stat) -> Bool { other.st_dev == status.st_dev && other.st_ino == status.st_ino }
}
