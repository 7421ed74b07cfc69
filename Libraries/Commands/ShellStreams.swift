import SSH

/// What a command reads from its client.
public enum ShellInput: Sendable, Equatable {
    case bytes([UInt8])
    /// Nothing came within the timeout.
    case timeout
    /// The client sent EOF, closed the channel or went away.
    case end
}

/// A command's standard streams, as the SSH channel (or a test) provides
/// them. Calls may block (backpressure) and are made from the command's own
/// thread; `offer` never blocks and may be called from any thread.
public protocol ShellStreams: AnyObject, Sendable {
    /// The client's pty (`ssh -t`) and its window, nil without one. On a
    /// pty no line discipline runs on our side, so the shell echoes and
    /// writes "\r\n" itself.
    var terminal: SSHTerminal? { get }
    func read(timeout: Double?) -> ShellInput
    /// After `read` gave `.end`: true when the client went away rather than
    /// sending EOF (its input may be incomplete).
    var isClosed: Bool { get }
    func write(_ bytes: [UInt8])
    func writeError(_ bytes: [UInt8])
    /// Writes without waiting; drops (and counts) when the client is far behind.
    func offer(_ bytes: [UInt8])
    /// Bytes `offer` dropped since the last call.
    func takeDropped() -> Int
    /// What a break request from the client does (nil: breaks are refused).
    func setBreakHandler(_ handler: (@Sendable () -> Void)?)
}

extension ShellStreams {
    public var isTerminal: Bool { terminal != nil }
}

extension SSHChannelIO: ShellStreams {
    public func read(timeout: Double?) -> ShellInput {
        switch read(timeout: timeout) as SSHInput {
        case .bytes(let bytes): return .bytes(bytes)
        case .timeout: return .timeout
        case .end: return .end
        }
    }

    public func write(_ bytes: [UInt8]) { _ = write(bytes) as Bool }
    public func writeError(_ bytes: [UInt8]) { _ = writeError(bytes) as Bool }
}
