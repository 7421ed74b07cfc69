import ShellSupport

/// One client's streams and identity, for the commands it runs. Used from
/// the request's own thread only (except `streams.offer`).
public final class ShellSession {
    public let streams: any ShellStreams
    public let identity: ShellIdentity
    /// The SSH user name (a board name opens that board's console).
    public let loginName: String
    /// Input read but not consumed (the rest of a line-editor batch).
    private var pending: [UInt8] = []

    public init(streams: any ShellStreams, identity: ShellIdentity, loginName: String = "") {
        self.streams = streams
        self.identity = identity
        self.loginName = loginName
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
