import AgentCore
@testable import Boards
import Foundation
import Logging
import ProvisionerTesting
import Synchronization

/// Two linked pseudo-terminals from socat: the console opens `consoleSide`,
/// the test plays the board on `boardSide`. Ended by its PID.
final class SocatPair: Sendable {
    let process: RunningProcess
    let consoleSide: String
    let boardSide: String

    init(consoleSide: String, boardSide: String) async throws {
        self.consoleSide = consoleSide
        self.boardSide = boardSide
        process = try RunningProcess("socat", ["-d", "-d", "pty,raw,echo=0,link=\(consoleSide)",
                                               "pty,raw,echo=0,link=\(boardSide)"])
        let deadline = ContinuousClock.now + .seconds(10)
        while !(FileManager.default.fileExists(atPath: consoleSide) && FileManager.default.fileExists(atPath: boardSide)) {
            guard process.isRunning, ContinuousClock.now < deadline else {
                throw ProcessFailure("socat made no ptys", stdout: process.stdout, stderr: process.stderr)
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    func stop() async { await process.terminate() }

    /// Opens the board side raw, for writing and reading like a board would.
    func openBoard() throws -> SerialPort { try SerialPort(path: boardSide, baud: 115200) }
}

/// What one attached session received.
final class Collector: Sendable {
    struct Received {
        var bytes: [UInt8] = []
        var chunks: [ConsoleChunk] = []
        var notices: [String] = []
        var dropped = 0
    }

    let received = Mutex(Received())
    /// Seconds each delivery takes (a slow client).
    let delay: Double
    /// Keeps each chunk too (off for the large transfers).
    let keepChunks: Bool

    init(delay: Double = 0, keepChunks: Bool = true, reserve: Int = 0) {
        self.delay = delay
        self.keepChunks = keepChunks
        received.withLock { $0.bytes.reserveCapacity(reserve) }
    }

    var deliver: @Sendable (ConsoleChunk) -> Void {
        { [self] chunk in
            if delay > 0 { usleep(UInt32(delay * 1_000_000)) }
            received.withLock { received in
                if keepChunks { received.chunks.append(chunk) }
                switch chunk {
                case .output(let bytes): received.bytes += bytes
                case .notice(let text): received.notices.append(text)
                case .dropped(let count): received.dropped += count
                }
            }
        }
    }

    var text: String { received.withLock { String(decoding: $0.bytes, as: UTF8.self) } }
    var byteCount: Int { received.withLock { $0.bytes.count } }
    var notices: [String] { received.withLock { $0.notices } }

    /// Waits until `condition` holds for what was received; false on timeout.
    @discardableResult
    func wait(timeout: Duration = .seconds(10), until condition: (Received) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if received.withLock({ condition($0) }) { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return received.withLock { condition($0) }
    }

    func waitForText(_ text: String, timeout: Duration = .seconds(10)) async -> Bool {
        await wait(timeout: timeout) { String(decoding: $0.bytes, as: UTF8.self).contains(text) }
    }

    func waitForNotice(containing text: String, timeout: Duration = .seconds(10)) async -> Bool {
        await wait(timeout: timeout) { $0.notices.contains { $0.contains(text) } }
    }
}

extension SerialPort {
    /// Reads until `count` bytes came or `timeout` passed.
    func read(count: Int, timeout: Double = 10) -> [UInt8] {
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        let deadline = Date().addingTimeInterval(timeout)
        while result.count < count && Date() < deadline {
            var fds = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&fds, 1, 50) > 0 else { continue }
            guard let n = try? buffer.withUnsafeMutableBytes({ try read(into: $0) }) else { break }
            result += buffer[..<n]
        }
        return result
    }
}

let testLogger: Logger = {
    var logger = Logger(label: "boards-tests")
    logger.logLevel = .warning
    return logger
}()

/// A console on the socat pair's console side, logging into `folder/logs`.
func makeConsole(_ socat: SocatPair, folder: TemporaryDirectory, name: String = "board1",
                 scrollback: Int = 256 << 10, logMaxSize: Int = 16 << 20, logKeep: Int = 5,
                 sessionBacklog: Int = 4 << 20) throws -> SerialConsole {
    let settings = SerialConsole.Settings(device: socat.consoleSide, baud: 115200, scrollback: scrollback,
                                          logFolder: folder.path("logs"), logMaxSize: logMaxSize, logKeep: logKeep,
                                          sessionBacklog: sessionBacklog)
    let console = try SerialConsole(name: name, settings: settings, logger: testLogger)
    try console.start()
    return console
}

/// Waits until the console has the device open.
func waitUntilOpen(_ console: SerialConsole, timeout: Duration = .seconds(10)) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while !console.isOpen {
        if ContinuousClock.now >= deadline { return false }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return true
}

/// The console output a log holds: every file, oldest first, with each
/// line's timestamp prefix removed and notice lines skipped.
func outputInLog(_ path: String, keep: Int) throws -> [UInt8] {
    var files: [String] = []
    for index in stride(from: keep, through: 1, by: -1) where FileManager.default.fileExists(atPath: "\(path).\(index)") {
        files.append("\(path).\(index)")
    }
    files.append(path)
    var output: [UInt8] = []
    for file in files {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
        var start = 0
        while start < bytes.count {
            let end = bytes[start...].firstIndex(of: 0x0a).map { $0 + 1 } ?? bytes.count
            let segment = bytes[min(start + ConsoleLog.prefixLength, end)..<end]
            if !segment.starts(with: Array("-- provisioner: ".utf8)) { output += segment }
            start = end
        }
    }
    return output
}
