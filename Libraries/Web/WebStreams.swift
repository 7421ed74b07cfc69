import Commands
import Foundation
import HTTPDaemon
import SSH
import Synchronization
import SystemSupport

/// A command run for a web request, its output kept (a button's `power`,
/// `reserve`, `release`): no input, no terminal. The same commands, policy
/// and audit as over ssh.
final class CapturedStreams: ShellStreams {
    private let output = Mutex<(stdout: [UInt8], stderr: [UInt8])>(([], []))
    var terminal: SSHTerminal? { nil }
    var isClosed: Bool { false }
    func read(timeout: Double?) -> ShellInput { .end }
    func write(_ bytes: [UInt8]) { output.withLock { $0.stdout += bytes } }
    func writeError(_ bytes: [UInt8]) { output.withLock { $0.stderr += bytes } }
    func offer(_ bytes: [UInt8]) { write(bytes) }
    func takeDropped() -> Int { 0 }
    func setBreakHandler(_ handler: (@Sendable () -> Void)?) {}
    var stdout: String { output.withLock { String(decoding: $0.stdout, as: UTF8.self) } }
    var stderr: String { output.withLock { String(decoding: $0.stderr, as: UTF8.self) } }
}

/// A board's console in a browser: the command layer's `console BOARD`
/// runs on these streams as on an ssh terminal (holder types, others
/// watch), its output goes to the browser as server-sent events (base64),
/// and what the browser posts is its input. It ends when the console
/// command ends, the browser goes, or the page is stopped.
final class WebTerminal: ShellStreams, HTTPStream, @unchecked Sendable {
    // @unchecked: the state is guarded by `condition`.
    let id: String
    let user: String
    let terminal: SSHTerminal?
    private let condition = NSCondition()
    private var input: [UInt8] = []
    private var pending: [UInt8] = []
    private var outputEnded = false
    private var closed = false
    private var dropped = 0
    /// Output queued for the browser past which `offer` drops.
    static let limit = 1 << 20

    init(id: String, user: String, columns: Int, rows: Int) {
        self.id = id
        self.user = user
        terminal = SSHTerminal(term: "xterm", columns: min(max(columns, 20), 500), rows: min(max(rows, 5), 200))
    }

    // MARK: The console command's side

    func read(timeout: Double?) -> ShellInput {
        condition.lock()
        defer { condition.unlock() }
        let deadline = timeout.map { Date(timeIntervalSinceNow: $0) } ?? .distantFuture
        while input.isEmpty && !closed {
            if !condition.wait(until: deadline) { return .timeout }
        }
        if !input.isEmpty {
            defer { input.removeAll() }
            return .bytes(input)
        }
        return .end
    }

    var isClosed: Bool { condition.lock(); defer { condition.unlock() }; return closed }
    func write(_ bytes: [UInt8]) { queue(bytes) }
    func writeError(_ bytes: [UInt8]) { queue(bytes) }
    func offer(_ bytes: [UInt8]) { queue(bytes) }
    func takeDropped() -> Int { condition.lock(); defer { condition.unlock() }; defer { dropped = 0 }; return dropped }
    func setBreakHandler(_ handler: (@Sendable () -> Void)?) {}

    private func queue(_ bytes: [UInt8]) {
        condition.lock()
        if closed {
            condition.unlock()
            return
        }
        if pending.count + bytes.count > Self.limit { dropped += bytes.count } else { pending += bytes }
        condition.broadcast()
        condition.unlock()
    }

    /// The console command ended: the stream ends once its output is out.
    func endOutput() {
        condition.lock()
        outputEnded = true
        condition.broadcast()
        condition.unlock()
    }

    // MARK: The browser's side

    /// Keys the browser sent (the holder's; a watcher's never reach the board:
    /// the console runs read-only for them).
    func type(_ bytes: [UInt8]) {
        condition.lock()
        if !closed { input += bytes.prefix(64 * 1024) }
        condition.broadcast()
        condition.unlock()
    }

    /// What the console printed next, up to `limit` bytes: waits up to
    /// `wait` seconds for it (`.idle` when nothing came).
    enum Output { case bytes([UInt8]), idle, end }

    func nextOutput(limit: Int, wait: Double) -> Output {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date(timeIntervalSinceNow: wait)
        while pending.isEmpty && !outputEnded && !closed {
            if !condition.wait(until: deadline) { break }
        }
        if closed || (pending.isEmpty && outputEnded) { return .end }
        if pending.isEmpty { return .idle }
        let count = min(pending.count, limit)
        defer { pending.removeFirst(count) }
        return .bytes(Array(pending[..<count]))
    }

    /// Server-sent events: `event: ready` with this console's id, then one
    /// `data:` line of base64 per piece of output, a comment every 10 s.
    private var started = false

    func read(into buffer: UnsafeMutableRawBufferPointer) -> Int? {
        let text: String
        if !started {
            started = true
            text = "event: ready\ndata: \(id)\n\n"
        } else {
            switch nextOutput(limit: (buffer.count - 16) / 4 * 3, wait: 10) {
            case .end: return nil
            case .idle: text = ": still here\n\n"
            case .bytes(let bytes): text = "data: " + Data(bytes).base64EncodedString() + "\n\n"
            }
        }
        let bytes = Array(text.utf8)
        let count = min(bytes.count, buffer.count)
        bytes.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[..<count])) }
        return count
    }

    /// The browser went (or the page stops): the console command sees its input end.
    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }
}

/// A console in a browser over a WebSocket: the console's output goes out
/// as binary messages, what the browser sends (text or binary) is typed.
/// One thread writes, one reads; whichever ends first ends the other, and
/// the last one gives the socket back. Pings every 10 s of quiet find a
/// browser that went without a word.
final class WebConsoleSocket: HTTPUpgradeHandler {
    let terminal: WebTerminal
    /// A client's frame may carry at most this much (a paste).
    static let frameLimit = 64 * 1024

    /// The group its threads join (the web service's); nil: none.
    let threads: ThreadGroup?

    init(_ terminal: WebTerminal, threads: ThreadGroup? = nil) {
        self.terminal = terminal
        self.threads = threads
    }

    func upgraded(_ connection: HTTPUpgradedConnection) {
        let session = Session(terminal: terminal, connection: connection)
        do {
            try startThread(named: "web-socket-in", in: threads) { session.readFrames() }
            do {
                try startThread(named: "web-socket-out", in: threads) { session.writeOutput() }
            } catch {
                session.finish(WebSocket.Failure(code: 1011, reason: "the server is out of threads"))
                terminal.close()
                connection.hangUp()
                session.done()
            }
        } catch {
            terminal.close()
            connection.close()
        }
    }

    final class Session: Sendable {
        let terminal: WebTerminal
        let connection: HTTPUpgradedConnection
        private let closeSent = Atomic<Bool>(false)
        private let running = Atomic<Int>(2)
        private let readerDone = DispatchSemaphore(value: 0)

        init(terminal: WebTerminal, connection: HTTPUpgradedConnection) {
            self.terminal = terminal
            self.connection = connection
        }

        /// The console's output as binary messages, until it ends (or the browser goes).
        func writeOutput() {
            loop: while true {
                switch terminal.nextOutput(limit: 64 * 1024, wait: 10) {
                case .bytes(let bytes): if !connection.write(WebSocket.frame(.binary, bytes)) { break loop }
                case .idle: if !connection.write(WebSocket.frame(.ping, [])) { break loop }
                case .end: break loop
                }
            }
            terminal.close()
            finish(WebSocket.Failure(code: 1000, reason: "the console ended"))
            // The browser answers a close with its own; one that does not is cut off.
            if readerDone.wait(timeout: .now() + 2) == .timedOut { connection.hangUp() }
            done()
        }

        /// The browser's frames: its keys typed, pings answered, a close or
        /// a broken frame ends the console.
        func readFrames() {
            var reader = WebSocket.Reader(limit: WebConsoleSocket.frameLimit)
            var buffer = [UInt8](repeating: 0, count: 16 * 1024)
            loop: while true {
                do {
                    while let frame = try reader.next() {
                        switch frame.opcode {
                        case .text, .binary, .continuation: terminal.type(frame.payload)
                        case .ping: connection.write(WebSocket.frame(.pong, frame.payload))
                        case .pong: break
                        case .close: break loop
                        }
                    }
                } catch {
                    finish(error)
                    break loop
                }
                let count = buffer.withUnsafeMutableBytes { connection.read(into: $0) }
                if count == 0 { break }
                buffer.withUnsafeBytes { reader.append(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
            }
            terminal.close()
            readerDone.signal()
            done()
        }

        /// Sends the one close frame of this connection.
        func finish(_ failure: WebSocket.Failure) {
            if closeSent.exchange(true, ordering: .acquiringAndReleasing) { return }
            connection.write(WebSocket.closeFrame(failure.code, failure.reason))
        }

        /// One of the two threads is done; the last gives the socket back.
        func done() {
            if running.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 { connection.close() }
        }
    }
}

/// Server-sent events of a source that waits for news: each `next` call
/// returns the next lines to send (nil: the end), waiting up to ten seconds.
final class EventStream: HTTPStream, @unchecked Sendable {
    private let next: @Sendable () -> String?
    private let closed = Atomic<Bool>(false)
    private var rest: [UInt8] = []

    init(_ next: @escaping @Sendable () -> String?) {
        self.next = next
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) -> Int? {
        while rest.isEmpty {
            if closed.load(ordering: .acquiring) { return nil }
            guard let text = next() else { return nil }
            rest = Array((text.isEmpty ? ": still here\n\n" : text).utf8)
        }
        let count = min(rest.count, buffer.count)
        rest.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[..<count])) }
        rest.removeFirst(count)
        return count
    }

    func close() { closed.store(true, ordering: .releasing) }
    var isClosed: Bool { closed.load(ordering: .acquiring) }
}

/// A request body up to `limit` bytes, then `done` with it.
final class SmallBody: HTTPBodyReceiver, @unchecked Sendable {
    private var bytes: [UInt8] = []
    private let limit: Int
    private let done: @Sendable ([UInt8]) -> HTTPResponse
    private let tooLarge: HTTPResponse

    init(limit: Int, tooLarge: HTTPResponse, done: @escaping @Sendable ([UInt8]) -> HTTPResponse) {
        self.limit = limit
        self.tooLarge = tooLarge
        self.done = done
    }

    func receive(_ piece: UnsafeRawBufferPointer) -> HTTPResponse? {
        guard bytes.count + piece.count <= limit else { return tooLarge }
        bytes += piece
        return nil
    }

    func finish() -> HTTPResponse { done(bytes) }
    func abandon(reason: String) {}
}
