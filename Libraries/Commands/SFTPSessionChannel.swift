import SFTP
import SSH

/// A session's streams as an SFTP channel, so that an SFTP session ends as
/// any command does when the server stops (a cut reads as the client
/// leaving: what was being uploaded is dropped).
public final class SFTPSessionChannel: SFTPChannel {
    private let streams: any ShellStreams
    private let cuttable: CuttableStreams
    private let io: SSHChannelIO

    /// `io`: the session's channel, read directly so that a packet is read
    /// whole (the session's streams wrap it).
    public init(_ session: ShellSession, io: SSHChannelIO) {
        streams = session.streams
        cuttable = session.cuttable
        self.io = io
    }

    public func receive() -> [UInt8]? { receive(atLeast: 1) }

    public func receive(atLeast minimum: Int) -> [UInt8]? {
        while cuttable.message == nil {
            switch io.read(timeout: 0.5, atLeast: minimum) {
            case .bytes(let bytes): return bytes
            case .timeout: continue
            case .end: return nil
            }
        }
        return nil
    }

    @discardableResult
    public func send(_ packet: [UInt8]) -> Bool {
        streams.write(packet)
        return !streams.isClosed
    }

    /// One line on the client's stderr: OpenSSH's scp and sftp show a
    /// refusal's status code in their own words only ("Failure"), and this
    /// says why.
    public func tell(_ message: String) {
        streams.writeError(Array("sftp: \(message)\n".utf8))
    }

    /// Bytes for the client's stderr as they came (an agent's own lines).
    public func writeError(_ bytes: [UInt8]) { streams.writeError(bytes) }
}
