@testable import Boards
import Foundation
import Glibc
import ProvisionerTesting
import Testing

/// Reading a console log touches only what it shows (with the defaults a
/// log is up to 96 MiB in six files): `--since` leaves files last written
/// before it unopened, a plain `log` reads its last bytes, `--follow` reads
/// only what was appended, across rotations.
@Suite struct RotatedLogReaderTests {
    @Test func filesLastWrittenBeforeSinceAreNotOpened() throws {
        let folder = try TemporaryDirectory(prefix: "console-log-since")
        let settings = SerialConsole.Settings(device: folder.path("absent-tty"), logFolder: folder.path("logs"))
        let console = try SerialConsole(name: "board1", settings: settings, logger: testLogger)  // never started
        let now = Date().timeIntervalSince1970
        try writeLogFile(folder.path("logs/board1.log.2"), ["two hours ago"], at: now - 7200)
        try writeLogFile(folder.path("logs/board1.log.1"), ["twenty minutes ago"], at: now - 1200)
        try writeLogFile(folder.path("logs/board1.log"), ["a minute ago"], at: now - 60)
        // Unreadable, which stops anyone but root; inotify tells for root too.
        try folder.setPermissions("logs/board1.log.2", 0)
        try folder.setPermissions("logs/board1.log.1", 0)
        let watch = try OpenWatch(folder: folder.path("logs"))

        #expect(try console.logLines(since: now - 600).map(withoutStamp) == ["a minute ago"])
        #expect(watch.opened() == ["board1.log"])

        try folder.setPermissions("logs/board1.log.1", 0o640)
        #expect(try console.logLines(since: now - 1800).map(withoutStamp) == ["twenty minutes ago", "a minute ago"])
        #expect(watch.opened() == ["board1.log", "board1.log.1"])
    }

    @Test func tailReadsTheLastBytesFromTheFirstWholeLineInThem() throws {
        let folder = try TemporaryDirectory(prefix: "console-log-tail")
        let log = ConsoleLog(folder: try folder.createDirectory("logs"), board: "board1", maxSize: 1000, keep: 5)
        let texts = (0..<100).map { "line \($0)" }
        for text in texts { try append(text + "\r\n", to: log) }
        #expect(FileManager.default.fileExists(atPath: log.path + ".3"))
        let watch = try OpenWatch(folder: folder.path("logs"))

        let lines = try readAll(RotatedLogReader(path: log.path, keep: 5, start: .tail(bytes: 500), follow: false))
        // The lines that lie wholly in the last 500 bytes: a stamp, the text, "\r\n".
        var total = 0
        let expected = texts.reversed().prefix { total += ConsoleLog.prefixLength + $0.utf8.count + 2; return total <= 500 }.reversed()
        #expect(lines.map(withoutStamp) == Array(expected))
        #expect(watch.opened() == ["board1.log", "board1.log.1"], "the older files are not opened")
    }

    @Test func followReadsOnlyWhatCameAndEachLineOnceAcrossRotations() throws {
        let folder = try TemporaryDirectory(prefix: "console-log-follow")
        let log = ConsoleLog(folder: try folder.createDirectory("logs"), board: "board1", maxSize: 4096, keep: 3)
        for index in 0..<20 { try append("before \(index)\r\n", to: log) }
        let reader = RotatedLogReader(path: log.path, keep: 3, start: .tail(bytes: 1 << 20), follow: true)
        var followed = try readAll(reader)
        #expect(followed.map(withoutStamp) == (0..<20).map { "before \($0)" })
        let watch = try OpenWatch(folder: folder.path("logs"))
        #expect(try readAll(reader).isEmpty)
        #expect(watch.opened().isEmpty, "nothing new: no file opened")

        // A line is given once it is complete.
        try append("=> ", to: log)
        #expect(try readAll(reader).isEmpty)
        try append("boot\r\n", to: log)
        followed += try readAll(reader)
        #expect(followed.suffix(1).map(withoutStamp) == ["=> boot"])

        // Two rotations between two reads: the file it had open (now .2) is
        // read on, not opened again; .1 and the new file follow it.
        let after = (0..<250).map { "after \($0)" }
        for text in after { try append(text + "\r\n", to: log) }
        #expect(FileManager.default.fileExists(atPath: log.path + ".2") && !FileManager.default.fileExists(atPath: log.path + ".3"))
        let new = try readAll(reader)
        #expect(new.map(withoutStamp) == after)
        #expect(!watch.opened().contains("board1.log.2"))
        followed += new

        // A rotation within a line: its start ends the old file, its rest
        // starts the new one behind a new stamp, as a plain read shows it.
        let long = String(repeating: "x", count: 5000)
        try append(long, to: log)
        try append("rest\r\n", to: log)
        let cut = try readAll(reader)
        #expect(cut.map(withoutStamp) == [long, "rest"])
        followed += cut

        let plain = try readAll(RotatedLogReader(path: log.path, keep: 3, start: .tail(bytes: .max), follow: false))
        #expect(plain.count == 20 + 1 + 250 + 2)
        #expect(followed == plain, "followed: each line once, none missing")
    }
}

/// Console output arriving now.
private func append(_ text: String, to log: ConsoleLog) throws {
    try Array(text.utf8).withUnsafeBytes { try log.append($0, at: Date().timeIntervalSince1970) }
}

/// The lines one `read` gives.
private func readAll(_ reader: RotatedLogReader) throws -> [String] {
    var lines: [String] = []
    try reader.read { lines.append($0) }
    return lines
}

/// Writes log lines stamped `time` and makes `time` the file's last change.
func writeLogFile(_ path: String, _ lines: [String], at time: Double) throws {
    let stamp = String(decoding: ConsoleLog.timestamp(time), as: UTF8.self)
    try Data(lines.map { stamp + $0 + "\r\n" }.joined().utf8).write(to: URL(fileURLWithPath: path))
    try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: time)], ofItemAtPath: path)
}

/// A log line without its timestamp prefix.
func withoutStamp(_ line: String) -> String { String(line.dropFirst(ConsoleLog.prefixLength)) }

/// The names of the files in a folder opened since the last look (inotify's
/// IN_OPEN: a `stat` is not an open).
final class OpenWatch {
    private let descriptor: Int32

    init(folder: String) throws {
        descriptor = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard descriptor >= 0 else { throw TestSetupError("inotify_init1: errno \(errno)") }
        guard inotify_add_watch(descriptor, folder, UInt32(IN_OPEN)) >= 0 else {
            close(descriptor)
            throw TestSetupError("inotify_add_watch \(folder): errno \(errno)")
        }
    }

    deinit { close(descriptor) }

    func opened() -> Set<String> {
        var names: Set<String> = []
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            guard count > 0 else { return names }
            var offset = 0
            while offset + MemoryLayout<inotify_event>.size <= count {
                let length = buffer.withUnsafeBytes { Int($0.load(fromByteOffset: offset + 12, as: UInt32.self)) }
                let start = offset + MemoryLayout<inotify_event>.size
                let name = buffer[start..<min(start + length, count)].prefix { $0 != 0 }
                if !name.isEmpty { names.insert(String(decoding: name, as: UTF8.self)) }
                offset = start + length
            }
        }
    }
}
