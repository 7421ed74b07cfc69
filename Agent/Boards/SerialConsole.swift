#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentCore
import Logging
import Synchronization
import SystemSupport

/// One board's serial console (`ConsoleHub`): opens the device raw, and a
/// reader thread fans its output out to every attached session (each through
/// its own bounded queue and delivery thread), to a scrollback buffer
/// replayed on attach, and to the timestamped, rotated log on disk.
///
/// When the device goes (a read error, a hang-up, or its path no longer names
/// the device that is open), sessions get a notice and the reader looks for
/// exactly that path again every 200 ms; sessions stay attached across it.
public final class SerialConsole: ConsoleHub, Sendable {
    public struct Settings: Sendable {
        public var device: String
        public var baud: Int
        public var scrollback: Int
        public var logFolder: String
        public var logMaxSize: Int
        public var logKeep: Int
        /// Bytes a session may have waiting before its backlog is dropped.
        public var sessionBacklog: Int

        public init(device: String, baud: Int = 115200, scrollback: Int = 256 << 10, logFolder: String,
                    logMaxSize: Int = 16 << 20, logKeep: Int = 5, sessionBacklog: Int = 4 << 20) {
            self.device = device
            self.baud = baud
            self.scrollback = scrollback
            self.logFolder = logFolder
            self.logMaxSize = logMaxSize
            self.logKeep = logKeep
            self.sessionBacklog = sessionBacklog
        }

        /// A board's settings from its config; the log goes to `DATA_DIR/logs`.
        public init(_ board: BoardConfig, dataDirectory: String) {
            self.init(device: board.serial.device, baud: board.serial.baud, scrollback: board.serial.scrollback,
                      logFolder: dataDirectory + "/logs", logMaxSize: board.serial.logMaxSize,
                      logKeep: board.serial.logKeep)
        }
    }

    private struct State {
        var sessions: [ConsoleSessionQueue] = []
        var scrollback: ScrollbackBuffer
        var stopping = false
        var started = false
        var isOpen = false
        /// How many times the device was opened: `waitUntilOpened(after:)`.
        var openings = 0
    }

    public let name: String
    public let settings: Settings
    private let logger: Logger
    private let state: Mutex<State>
    /// The open device, for writers; only the reader thread opens and closes it.
    private let port = Mutex<SerialPort?>(nil)
    private let log: Mutex<ConsoleLog>
    private let wakeup: WakeupPipe

    public init(name: String, settings: Settings, logger: Logger) throws {
        self.name = name
        self.settings = settings
        self.logger = logger
        state = Mutex(State(scrollback: ScrollbackBuffer(capacity: settings.scrollback)))
        try makeDirectories(settings.logFolder)
        log = Mutex(ConsoleLog(folder: settings.logFolder, board: name, maxSize: settings.logMaxSize,
                               keep: settings.logKeep))
        wakeup = try WakeupPipe()
    }

    /// The path of the log file (older ones are `PATH.1` …).
    public var logPath: String { settings.logFolder + "/" + name + ".log" }

    /// Starts the reader thread; a missing device is waited for, not an error.
    public func start() throws {
        let first = state.withLock { state in
            defer { state.started = true }
            return !state.started
        }
        guard first else { return }
        try startThread(named: "console-\(name)") { [self] in run() }
    }

    /// Stops reading and closes the device; attached sessions get a notice.
    public func stop() {
        state.withLock { $0.stopping = true }
        wakeup.signal()
    }

    public var isOpen: Bool { state.withLock { $0.isOpen } }

    /// How many times the device has been opened so far.
    public var openings: Int { state.withLock { $0.openings } }

    /// Waits until the device is opened for the `after + 1`th time or later
    /// (pass `openings` read before the device appeared). False on timeout.
    public func waitUntilOpened(after openings: Int, timeout: Double) -> Bool {
        let deadline = monotonicSeconds() + timeout
        while monotonicSeconds() < deadline {
            if state.withLock({ $0.isOpen && $0.openings > openings }) { return true }
            usleep(10_000)
        }
        return false
    }

    // MARK: ConsoleHub

    public func attach(readOnly: Bool, replay: Bool, deliver: @escaping @Sendable (ConsoleChunk) -> Void) -> ConsoleSession {
        let queue = ConsoleSessionQueue(limit: settings.sessionBacklog, deliver: deliver)
        state.withLock { state in
            if replay {
                state.scrollback.contents().withUnsafeBytes { queue.push($0, force: true) }
            }
            if !state.isOpen {
                queue.pushNotice("serial device \(settings.device) is not there; waiting for it")
            }
            state.sessions.append(queue)
        }
        do {
            try queue.start()
        } catch {
            logger.error("console \(name): cannot start a session's delivery thread: \(error)")
            remove(queue)
        }
        return SerialConsoleSession(console: self, queue: queue, readOnly: readOnly)
    }

    public func note(_ text: String) { announce(text) }

    public func openLog(from start: ConsoleLogStart, follow: Bool) throws -> any ConsoleLogReader {
        RotatedLogReader(path: logPath, keep: settings.logKeep, start: start, follow: follow)
    }

    /// Drops the scrollback (the board is powered on, off or cycled): the
    /// next session to attach replays only what comes after.
    public func forgetScrollback() {
        state.withLock { $0.scrollback = ScrollbackBuffer(capacity: settings.scrollback) }
    }

    /// The number of sessions attached.
    public var sessionCount: Int { state.withLock { $0.sessions.count } }
    public var bytesRead: Int64 { readCount.load(ordering: .relaxed) }
    public var bytesWritten: Int64 { writtenCount.load(ordering: .relaxed) }
    private let readCount = Atomic<Int64>(0)
    private let writtenCount = Atomic<Int64>(0)

    // MARK: Input

    func write(_ bytes: [UInt8]) throws {
        try port.withLock { port in
            guard let port else {
                throw BoardError("\(name): serial device \(settings.device) is not there (waiting for it)")
            }
            do {
                try port.write(bytes)
                writtenCount.add(Int64(bytes.count), ordering: .relaxed)
            } catch {
                throw BoardError("\(name): cannot write to the console: \(error)")
            }
        }
    }

    func sendBreak() throws {
        try port.withLock { port in
            guard let port else {
                throw BoardError("\(name): serial device \(settings.device) is not there (waiting for it)")
            }
            do {
                try port.sendBreak()
            } catch {
                throw BoardError("\(name): cannot send a break: \(error)")
            }
        }
    }

    func remove(_ queue: ConsoleSessionQueue) {
        state.withLock { state in state.sessions.removeAll { $0 === queue } }
    }

    // MARK: The reader thread

    private var stopping: Bool { state.withLock { $0.stopping } }

    private func run() {
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var wasOpen = false
        var reportedMissing = false
        while !stopping {
            let opened: SerialPort
            do {
                opened = try SerialPort(path: settings.device, baud: settings.baud)
            } catch {
                if !reportedMissing {
                    reportedMissing = true
                    if !wasOpen { logger.warning("console \(name): \(error); waiting for \(settings.device)") }
                }
                sleepOrWake(milliseconds: 200)
                continue
            }
            reportedMissing = false
            let identity = Self.deviceIdentity(descriptor: opened.descriptor)
            port.withLock { $0 = opened }
            state.withLock { state in
                state.isOpen = true
                state.openings += 1
            }
            if wasOpen {
                announce("serial device \(settings.device) is back")
            } else {
                logger.info("console \(name): opened \(settings.device) at \(settings.baud) baud")
            }
            wasOpen = true
            let reason = readUntilGone(opened.descriptor, identity: identity, buffer: &buffer)
            state.withLock { $0.isOpen = false }
            port.withLock { port in
                port?.close()
                port = nil
            }
            if let reason {
                announce("serial device \(settings.device) is gone (\(reason)); waiting for it to come back")
            }
        }
        state.withLock { state in
            for queue in state.sessions { queue.pushNotice("console stopped") }
        }
        logger.info("console \(name): stopped")
    }

    /// Reads and fans out until the device goes (returns why) or `stop()` (nil).
    private func readUntilGone(_ descriptor: Int32, identity: (UInt, UInt)?,
                               buffer: inout [UInt8]) -> String? {
        var fds = [pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: wakeup.descriptor, events: Int16(POLLIN), revents: 0)]
        var lastCheck = monotonicSeconds()
        while true {
            let ready = poll(&fds, 2, 250)
            if fds[1].revents != 0 {
                wakeup.drain()
                if stopping { return nil }
            }
            if ready > 0 && fds[0].revents != 0 {
                // Read everything there first: a hang-up may come with the last bytes.
                while true {
                    let count: Int
                    do {
                        count = try buffer.withUnsafeMutableBytes { raw in
                            try readAvailable(descriptor, raw)
                        }
                    } catch {
                        return "\(error)"
                    }
                    if count == 0 { break }
                    buffer.withUnsafeBytes { fanOut(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
                    if count < buffer.count { break }
                }
                if fds[0].revents & Int16(POLLHUP | POLLERR | POLLNVAL) != 0 {
                    return "hang-up"
                }
            }
            let now = monotonicSeconds()
            if now - lastCheck >= 0.5 {
                lastCheck = now
                if let problem = pathProblem(identity) { return problem }
            }
        }
    }

    private func readAvailable(_ descriptor: Int32, _ raw: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            let count = read(descriptor, raw.baseAddress, raw.count)
            if count > 0 { return count }
            if count == 0 { throw SystemError("read: end of file", code: EIO) }
            if errno == EINTR { continue }
            if errno == EAGAIN { return 0 }
            throw SystemError("read")
        }
    }

    /// Why the configured path no longer names the open device, if it does not.
    private func pathProblem(_ identity: (UInt, UInt)?) -> String? {
        var info = stat()
        guard stat(settings.device, &info) == 0 else { return "\(settings.device) no longer exists" }
        if let identity, (UInt(info.st_dev), UInt(info.st_rdev)) != identity {
            return "\(settings.device) now names another device"
        }
        return nil
    }

    private static func deviceIdentity(descriptor: Int32) -> (UInt, UInt)? {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { return nil }
        return (UInt(info.st_dev), UInt(info.st_rdev))
    }

    /// The log first: whatever a session has seen (a job's `--wait` text)
    /// is already in the log when it acts on it (`log` right after).
    private func fanOut(_ bytes: UnsafeRawBufferPointer) {
        readCount.add(Int64(bytes.count), ordering: .relaxed)
        let now = wallClock()
        log.withLock { log in
            do {
                try log.append(bytes, at: now)
            } catch {
                logger.error("console \(name): cannot write the log: \(error)")
            }
        }
        state.withLock { state in
            state.scrollback.append(bytes)
            for queue in state.sessions { queue.push(bytes) }
        }
    }

    /// Tells the sessions and both logs.
    private func announce(_ text: String) {
        logger.notice("console \(name): \(text)")
        let now = wallClock()
        log.withLock { log in try? log.appendNotice(text, at: now) }
        state.withLock { state in
            for queue in state.sessions { queue.pushNotice(text) }
        }
    }

    private func sleepOrWake(milliseconds: Int32) {
        var fds = pollfd(fd: wakeup.descriptor, events: Int16(POLLIN), revents: 0)
        if poll(&fds, 1, milliseconds) > 0 { wakeup.drain() }
    }
}
