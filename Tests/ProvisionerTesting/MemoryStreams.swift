import Commands
import SSH
import Synchronization

/// A client's streams in memory, for the shell's fast tests: input queued
/// by the test (`type`, `endInput`), output collected. The real twin is
/// `SSHChannelIO`, which the SSH tests drive with OpenSSH.
public final class MemoryStreams: ShellStreams {
    private struct State {
        var input: [ShellInput] = []
        var stdout: [UInt8] = []
        var stderr: [UInt8] = []
        var closed = false
    }

    private let state = Mutex(State())
    public let terminal: SSHTerminal?

    /// `terminal`: as if the client ran `ssh -t` (an 80×24 xterm).
    public init(terminal: Bool) {
        self.terminal = terminal ? SSHTerminal(term: "xterm", columns: 80, rows: 24) : nil
    }

    /// Queues bytes the client types or pipes.
    public func type(_ text: String) { state.withLock { $0.input.append(.bytes(Array(text.utf8))) } }
    public func type(_ bytes: [UInt8]) { state.withLock { $0.input.append(.bytes(bytes)) } }
    /// Queues EOF; `hangUp` as if the client went away instead.
    public func endInput(hangUp: Bool = false) {
        state.withLock {
            $0.input.append(.end)
            $0.closed = hangUp
        }
    }

    public var stdout: String { state.withLock { String(decoding: $0.stdout, as: UTF8.self) } }
    public var stderr: String { state.withLock { String(decoding: $0.stderr, as: UTF8.self) } }

    public func read(timeout: Double?) -> ShellInput {
        state.withLock { state in
            guard !state.input.isEmpty else { return .end }
            let next = state.input.removeFirst()
            if next == .end { state.input.insert(.end, at: 0) }
            return next
        }
    }

    public var isClosed: Bool { state.withLock { $0.closed } }
    public func write(_ bytes: [UInt8]) { state.withLock { $0.stdout += bytes } }
    public func writeError(_ bytes: [UInt8]) { state.withLock { $0.stderr += bytes } }
    public func offer(_ bytes: [UInt8]) { write(bytes) }
    public func takeDropped() -> Int { 0 }
    public func setBreakHandler(_ handler: (@Sendable () -> Void)?) {}
}
