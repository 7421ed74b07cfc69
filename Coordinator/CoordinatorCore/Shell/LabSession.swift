import SSH
import ShellSupport

/// One client's request at the front door: who it is, and its streams.
/// Used from the request's own thread.
public final class LabSession {
    public let io: SSHChannelIO
    public let user: CoordinatorConfig.User
    /// The SSH user name (a board name opens that board's console).
    public let loginName: String
    /// Input read but not consumed (the rest of a line-editor batch).
    private var pending: [UInt8] = []

    public init(io: SSHChannelIO, user: CoordinatorConfig.User, loginName: String) {
        self.io = io
        self.user = user
        self.loginName = loginName
    }

    public var isTerminal: Bool { io.terminal != nil }

    /// Input, pending bytes first.
    func read(timeout: Double?) -> SSHInput {
        if !pending.isEmpty {
            defer { pending.removeAll() }
            return .bytes(pending)
        }
        return io.read(timeout: timeout)
    }

    /// Gives bytes back, to be read again first.
    func unread(_ bytes: some Collection<UInt8>) { pending = Array(bytes) + pending }

    /// Input read ahead and not used (a routed command gets it first).
    func takePending() -> [UInt8] {
        defer { pending.removeAll() }
        return pending
    }

    /// Text to stdout; on a terminal "\n" becomes "\r\n".
    func print(_ text: String) { io.write(TerminalText.bytes(text, terminal: isTerminal)) }

    /// One error line on stderr.
    func printError(_ line: String) { io.writeError(TerminalText.bytes(line + "\n", terminal: isTerminal)) }

    func writeRaw(_ bytes: [UInt8]) { io.write(bytes) }
}
