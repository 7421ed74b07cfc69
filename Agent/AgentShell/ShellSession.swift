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
        streams.write(terminalBytes(text))
    }

    /// One error line on stderr.
    public func printError(_ line: String) {
        streams.writeError(terminalBytes(line + "\n"))
    }

    /// Raw bytes to stdout (console output, echo).
    public func writeRaw(_ bytes: [UInt8]) { streams.write(bytes) }

    func terminalBytes(_ text: String) -> [UInt8] {
        guard isTerminal else { return Array(text.utf8) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count + 8)
        var previous: UInt8 = 0
        for byte in text.utf8 {
            if byte == 0x0A && previous != 0x0D { bytes.append(0x0D) }
            bytes.append(byte)
            previous = byte
        }
        return bytes
    }
}
