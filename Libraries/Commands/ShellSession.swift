import SSH
import ShellSupport
import Synchronization

/// One client's streams and identity, for the commands it runs. Used from
/// the request's own thread only (except `streams.offer` and `cut`).
public final class ShellSession {
    public let streams: any ShellStreams
    public let identity: ShellIdentity
    /// The SSH user name (a board name opens that board's console).
    public let loginName: String
    /// Input read but not consumed (the rest of a line-editor batch).
    private var pending: [UInt8] = []
    let cuttable: CuttableStreams

    public init(streams: any ShellStreams, identity: ShellIdentity, loginName: String = "") {
        cuttable = CuttableStreams(streams)
        self.streams = cuttable
        self.identity = identity
        self.loginName = loginName
    }

    /// Ends what the session runs as if its client had gone (a console
    /// detaches, a job is cancelled, a tunnel closes); the command then
    /// ends with `message` and `status` (3: its reservation ended; 1: the
    /// server stops). Callable from any thread; the first cut counts.
    public func cut(_ message: String, status: ExitStatus = .notAllowed) { cuttable.cut(message, status: status) }

    /// Why the session was cut, if it was.
    public var cutMessage: String? { cuttable.message }

    /// The exit status a cut session ends with.
    public var cutStatus: ExitStatus { cuttable.status }

    /// `cut` and `printError` for another thread (the reservation watch).
    public var remote: (cut: @Sendable (String) -> Void, tell: @Sendable (String) -> Void) {
        let cuttable = self.cuttable, terminal = isTerminal
        return ({ cuttable.cut($0, status: .notAllowed) }, { cuttable.writeError(TerminalText.bytes($0 + "\n", terminal: terminal)) })
    }

    public var isTerminal: Bool { streams.isTerminal }

    /// Input, pending bytes first.
    public func read(timeout: Double?) -> ShellInput {
        if !pending.isEmpty {
            defer { pending.removeAll() }
            return .bytes(pending)
        }
        return streams.read(timeout: timeout)
    }

    /// Gives bytes back, to be read again first.
    public func unread(_ bytes: some Collection<UInt8>) {
        pending = Array(bytes) + pending
    }

    /// Input read ahead and not used (a routed command gets it first).
    public func takePending() -> [UInt8] {
        defer { pending.removeAll() }
        return pending
    }

    /// Writes text to stdout; on a terminal "\n" becomes "\r\n".
    public func print(_ text: String) {
        streams.write(TerminalText.bytes(text, terminal: isTerminal))
    }

    /// One error line on stderr.
    public func printError(_ line: String) {
        streams.writeError(TerminalText.bytes(line + "\n", terminal: isTerminal))
    }

    /// Raw bytes to stdout (console output, echo).
    public func writeRaw(_ bytes: [UInt8]) { streams.write(bytes) }
}

/// A session's streams that can be cut from another thread: reads then
/// say the client has gone; writes still reach it (the last line).
final class CuttableStreams: ShellStreams {
    private let inner: any ShellStreams
    private let cutWith = Mutex<(message: String, status: ExitStatus)?>(nil)

    init(_ inner: any ShellStreams) { self.inner = inner }

    func cut(_ message: String, status: ExitStatus) { cutWith.withLock { if $0 == nil { $0 = (message, status) } } }
    var message: String? { cutWith.withLock { $0?.message } }
    var status: ExitStatus { cutWith.withLock { $0?.status } ?? .notAllowed }

    var terminal: SSHTerminal? { inner.terminal }
    func read(timeout: Double?) -> ShellInput {
        if message != nil { return .end }
        // A long wait is taken in short steps, so that a cut is seen.
        let step = min(timeout ?? 0.5, 0.5)
        var waited = 0.0
        while true {
            let input = inner.read(timeout: step)
            if message != nil { return .end }
            guard input == .timeout else { return input }
            waited += step
            if let timeout, waited >= timeout { return .timeout }
        }
    }
    var isClosed: Bool { message != nil || inner.isClosed }
    func write(_ bytes: [UInt8]) { inner.write(bytes) }
    func writeError(_ bytes: [UInt8]) { inner.writeError(bytes) }
    func offer(_ bytes: [UInt8]) { inner.offer(bytes) }
    func takeDropped() -> Int { inner.takeDropped() }
    func setBreakHandler(_ handler: (@Sendable () -> Void)?) { inner.setBreakHandler(handler) }
}
