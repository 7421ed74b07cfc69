import AgentCore
import Foundation
import SystemSupport

/// One attached session's backlog and the thread that delivers it, so a slow
/// session never holds up the console's reader: past `limit` bytes waiting,
/// the backlog is dropped and the session gets `.dropped(n)` instead.
///
/// `@unchecked Sendable`: every variable is guarded by `condition`.
final class ConsoleSessionQueue: @unchecked Sendable {
    let limit: Int
    private let deliver: @Sendable (ConsoleChunk) -> Void
    private let condition = NSCondition()
    private var chunks: [ConsoleChunk] = []
    private var pendingBytes = 0
    private var closed = false

    /// Output chunks are merged up to this size, so a burst of small reads is
    /// delivered in few calls.
    private static let mergeSize = 64 << 10

    init(limit: Int, deliver: @escaping @Sendable (ConsoleChunk) -> Void) {
        self.limit = max(limit, 1)
        self.deliver = deliver
    }

    /// Starts the delivery thread; it ends after `close()`.
    func start() throws {
        try startThread(named: "console-session") { [self] in run() }
    }

    /// Queues board output. `force` skips the limit (the scrollback replay).
    func push(_ bytes: UnsafeRawBufferPointer, force: Bool = false) {
        guard !bytes.isEmpty else { return }
        condition.lock()
        defer { condition.unlock() }
        guard !closed else { return }
        if !force && pendingBytes + bytes.count > limit {
            var dropped = bytes.count
            chunks.removeAll { chunk in
                if case .output(let data) = chunk { dropped += data.count; return true }
                if case .dropped(let count) = chunk { dropped += count; return true }
                return false
            }
            pendingBytes = 0
            chunks.append(.dropped(dropped))
            condition.signal()
            return
        }
        if case .output(var last)? = chunks.last, last.count + bytes.count <= Self.mergeSize {
            chunks.removeLast()
            last.append(contentsOf: bytes)
            chunks.append(.output(last))
        } else {
            chunks.append(.output(Array(bytes)))
        }
        pendingBytes += bytes.count
        condition.signal()
    }

    func pushNotice(_ text: String) {
        condition.lock()
        defer { condition.unlock() }
        guard !closed else { return }
        chunks.append(.notice(text))
        condition.signal()
    }

    /// Drops what is waiting and ends the delivery thread.
    func close() {
        condition.lock()
        closed = true
        chunks.removeAll()
        pendingBytes = 0
        condition.signal()
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while chunks.isEmpty && !closed { condition.wait() }
            if closed {
                condition.unlock()
                return
            }
            let batch = chunks
            chunks.removeAll(keepingCapacity: true)
            pendingBytes = 0
            condition.unlock()
            for chunk in batch {
                if isClosed { return }
                deliver(chunk)
            }
        }
    }

    private var isClosed: Bool {
        condition.lock()
        defer { condition.unlock() }
        return closed
    }
}

/// A session's handle on a `SerialConsole`; detached by `detach()` or when
/// the last reference goes.
public final class SerialConsoleSession: ConsoleSession {
    public let readOnly: Bool
    let queue: ConsoleSessionQueue
    private let console: SerialConsole

    init(console: SerialConsole, queue: ConsoleSessionQueue, readOnly: Bool) {
        self.console = console
        self.queue = queue
        self.readOnly = readOnly
    }

    deinit { detach() }

    public func write(_ bytes: [UInt8]) throws {
        guard !readOnly else {
            throw BoardError("\(console.name): this console session is read-only (attached with --ro)")
        }
        try console.write(bytes)
    }

    public func sendBreak() throws {
        guard !readOnly else {
            throw BoardError("\(console.name): this console session is read-only (attached with --ro)")
        }
        try console.sendBreak()
    }

    public func detach() {
        console.remove(queue)
        queue.close()
    }
}
