import Foundation

/// The terminal a client asked for with a pty request.
public struct SSHTerminal: Sendable, Equatable {
    public var term: String
    public var columns: Int
    public var rows: Int

    public init(term: String, columns: Int, rows: Int) {
        self.term = term
        self.columns = columns
        self.rows = rows
    }
}

/// A shell, exec or subsystem request on a session channel, with what came before it.
public struct SSHProgramRequest: Sendable {
    /// The SSH user name (free to name a board, DESIGN.md "Data flow").
    public let user: String
    /// The key the client proved it holds.
    public let key: SSHPublicKey
    /// The client's address, for logs.
    public let peer: String
    /// The exec request's command; nil for a shell or subsystem request.
    public let command: String?
    /// The subsystem a subsystem request named (`sftp`); nil otherwise.
    public let subsystem: String?
    /// Variables sent with env requests (OpenSSH `SendEnv` / `SetEnv`).
    public let environment: [String: String]
    /// Set when the client asked for a pty (`ssh -t`).
    public let terminal: SSHTerminal?
}

/// A direct-tcpip channel open (`ssh -W HOST:PORT`, `ssh -J`): the client
/// asks the server to connect it to `host:port`, as the server sees them.
public struct SSHTunnelRequest: Sendable {
    /// The SSH user name the client logged in with.
    public let user: String
    /// The key the client proved it holds.
    public let key: SSHPublicKey
    /// The client's address, for logs.
    public let peer: String
    /// Where the client wants to go: a host name or address, and a port.
    public let host: String
    public let port: Int
}

/// What a program reading its channel gets.
public enum SSHInput: Sendable, Equatable {
    case bytes([UInt8])
    /// Nothing came within the timeout.
    case timeout
    /// The client sent EOF or closed the channel.
    case end
}

/// The thread-safe side of a session channel that a program uses: its input,
/// stdout and stderr, and its exit status. The connection's thread moves the
/// bytes to and from libssh; the program runs on a thread of its own and
/// never touches libssh.
public final class SSHChannelIO: @unchecked Sendable {
    // All state below is guarded by `condition`.
    private let condition = NSCondition()
    private var input: [UInt8] = []
    private var inputEnded = false
    private var stdout: [UInt8] = []
    /// Bytes at the front of `stdout` already taken: dropped once they are
    /// many, so a byte is moved about once (removing each 32 KiB as it went
    /// moved the whole queue every time).
    private var stdoutTaken = 0
    private var stderr: [UInt8] = []
    private var dropped = 0
    /// `receive` turned bytes away (input full); a read wakes the connection
    /// to move them in.
    private var inputFull = false
    private var closed = false
    /// Bytes of input a waiting `read` wants (0: nobody reads), and writers
    /// waiting for room: `receive` and `takeOutput` wake them only when they
    /// can go on. Waking the reader for each 4 KiB libssh hands over, while
    /// it waited for a 255 KiB SFTP packet, cost an upload through the
    /// coordinator about a tenth of its time in futex calls.
    private var readerWants = 0
    private var writersWaiting = 0
    /// Stdout bytes queued before the waiting stderr: they go first, then
    /// the stderr, then later stdout, in the order the program wrote them (a
    /// refusal's reason written before its SFTP STATUS must reach the client
    /// first: scp acts on the STATUS at once and leaves).
    private var stdoutBeforeStderr = 0
    private var breakHandler: (@Sendable () -> Void)?
    private var status: Int32?
    private var window: SSHTerminal?
    private let wake: @Sendable () -> Void

    /// Queued output above which `write` waits for the client to catch up.
    public static let outputLimit = 256 * 1024
    /// Queued output above which `offer` drops (a console must not stall).
    public static let offerLimit = 1024 * 1024
    /// Input queued for the program above which the client's data waits in
    /// libssh, and the client's window closes (an upload to a slow disk).
    public static let inputLimit = 1024 * 1024
    /// The most input room a read leaves behind (as much as it took, up to
    /// this): an upload's next 32 KiB SSH packets fit without growing, and
    /// a console's keystrokes keep a small buffer.
    static let readBuffer = 64 * 1024

    init(terminal: SSHTerminal?, wake: @escaping @Sendable () -> Void) {
        window = terminal
        self.wake = wake
    }

    // MARK: The program's side

    /// The terminal as last resized by the client; nil without a pty.
    public var terminal: SSHTerminal? { condition.locked { window } }

    /// Waits for input up to `timeout` seconds (nil: until some comes).
    /// `atLeast`: waits for that many bytes (or the end, or the timeout,
    /// which returns what came): a reader of 255 KiB packets then wakes
    /// once per packet, not once per SSH packet of 32 KiB.
    public func read(timeout: Double?, atLeast minimum: Int = 1) -> SSHInput {
        let wanted = max(1, min(minimum, Self.inputLimit))
        condition.lock()
        defer { condition.unlock() }
        let deadline = timeout.map { Date().addingTimeInterval($0) }
        while input.count < wanted && !inputEnded && !inputFull {
            readerWants = wanted
            defer { readerWants = 0 }
            if let deadline {
                if !condition.wait(until: deadline) && input.count < wanted && !inputEnded {
                    if input.isEmpty { return .timeout }
                    break
                }
            } else {
                condition.wait()
            }
        }
        if !input.isEmpty {
            let bytes = input
            // A fresh buffer of a modest size, not removeAll(keepingCapacity:):
            // the bytes handed over still share the old one, so keeping its
            // capacity allocated that much anew for every read, megabytes once
            // a backlog had grown it, and each was an mmap and a munmap.
            input = []
            input.reserveCapacity(Swift.min(bytes.count, Self.readBuffer))
            if inputFull {
                inputFull = false
                wake()
            }
            return .bytes(bytes)
        }
        return .end
    }

    /// Queues bytes for stdout, waiting while the client is far behind.
    /// Returns false once the channel is closed (the bytes are dropped).
    @discardableResult
    public func write(_ bytes: [UInt8]) -> Bool { enqueue(bytes, stderr: false) }

    /// Queues bytes for stderr (extended data), as `write` does.
    @discardableResult
    public func writeError(_ bytes: [UInt8]) -> Bool { enqueue(bytes, stderr: true) }

    /// Queues bytes for stdout without ever waiting: when the client is too
    /// far behind they are dropped and counted (see `takeDropped`).
    public func offer(_ bytes: [UInt8]) {
        let queued: Bool = condition.locked {
            if closed { return false }
            if queuedStdout + bytes.count > Self.offerLimit {
                dropped += bytes.count
                return false
            }
            stdout += bytes
            return true
        }
        if queued { wake() }
    }

    /// Bytes `offer` dropped since the last call.
    public func takeDropped() -> Int {
        condition.locked {
            defer { dropped = 0 }
            return dropped
        }
    }

    /// Ends the program: the status goes to the client once the queued
    /// output is sent, then EOF and close.
    public func exit(_ status: Int32) {
        condition.locked {
            if self.status == nil { self.status = status }
            condition.broadcast()
        }
        wake()
    }

    /// What to do when the client sends a break (OpenSSH's `~B`); nil
    /// refuses breaks. Called on the connection's thread: it must not block.
    public func setBreakHandler(_ handler: (@Sendable () -> Void)?) {
        condition.locked { breakHandler = handler }
    }

    /// The client asked for a break: false when nobody takes breaks.
    func receiveBreak() -> Bool {
        guard let handler = condition.locked({ breakHandler }) else { return false }
        handler()
        return true
    }

    /// True once the client closed the channel or went away. After `read`
    /// returned `.end`, false means the client sent EOF: its input is complete.
    public var isClosed: Bool { condition.locked { closed } }

    private func enqueue(_ bytes: [UInt8], stderr toStderr: Bool) -> Bool {
        guard !bytes.isEmpty else { return !isClosed }
        condition.lock()
        while !closed && queuedStdout + stderr.count >= Self.outputLimit {
            wake()
            writersWaiting += 1
            _ = condition.wait(until: Date().addingTimeInterval(0.5))
            writersWaiting -= 1
        }
        if closed {
            condition.unlock()
            return false
        }
        if toStderr {
            if stderr.isEmpty { stdoutBeforeStderr = queuedStdout }
            stderr += bytes
        } else {
            stdout += bytes
        }
        condition.unlock()
        wake()
        return true
    }

    // MARK: The connection thread's side

    /// Takes as much of `bytes` as fits under `inputLimit` (all of them with
    /// `overLimit`); returns the count.
    func receive(_ bytes: UnsafeRawBufferPointer, overLimit: Bool = false) -> Int {
        condition.locked {
            let count = overLimit ? bytes.count : min(bytes.count, max(0, Self.inputLimit - input.count))
            if count < bytes.count { inputFull = true }
            if count > 0 {
                input.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[..<count]))
            }
            if readerWants > 0 && (input.count >= readerWants || inputFull) { condition.broadcast() }
            return count
        }
    }

    /// Room for input, in bytes.
    var inputRoom: Int { condition.locked { max(0, Self.inputLimit - input.count) } }

    func endInput() {
        condition.locked {
            inputEnded = true
            condition.broadcast()
        }
    }

    func resize(columns: Int, rows: Int) {
        condition.locked {
            window?.columns = columns
            window?.rows = rows
        }
    }

    /// The client closed the channel or the connection dropped: input ends,
    /// output is dropped from now on.
    func markClosed() {
        condition.locked {
            closed = true
            inputEnded = true
            stdout.removeAll()
            stdoutTaken = 0
            stdoutBeforeStderr = 0
            stderr.removeAll()
            condition.broadcast()
        }
    }

    /// Stdout queued and not taken yet (hold the lock).
    private var queuedStdout: Int { stdout.count - stdoutTaken }

    /// Up to `limit` queued bytes, stdout and stderr in the order written
    /// (`stdoutBeforeStderr`).
    func takeOutput(limit: Int) -> (bytes: [UInt8], stderr: Bool)? {
        condition.locked {
            defer { if writersWaiting > 0 && queuedStdout + stderr.count < Self.outputLimit { condition.broadcast() } }
            if queuedStdout > 0 && (stderr.isEmpty || stdoutBeforeStderr > 0) {
                let count = min(limit, queuedStdout, stderr.isEmpty ? queuedStdout : stdoutBeforeStderr)
                if !stderr.isEmpty { stdoutBeforeStderr -= count }
                let taken = Array(stdout[stdoutTaken..<stdoutTaken + count])
                stdoutTaken += count
                if stdoutTaken == stdout.count {
                    stdout.removeAll(keepingCapacity: true)
                    stdoutTaken = 0
                } else if stdoutTaken >= Self.outputLimit {
                    stdout.removeFirst(stdoutTaken)
                    stdoutTaken = 0
                }
                return (taken, false)
            }
            if !stderr.isEmpty {
                let count = min(limit, stderr.count)
                let taken = Array(stderr[..<count])
                stderr.removeFirst(count)
                return (taken, true)
            }
            return nil
        }
    }

    /// The exit status once the program ended and all its output was taken.
    var finishedStatus: Int32? {
        condition.locked { queuedStdout == 0 && stderr.isEmpty ? status : nil }
    }
}

private extension NSCondition {
    func locked<R>(_ body: () throws -> R) rethrows -> R {
        lock()
        defer { unlock() }
        return try body()
    }
}
