import CSSH

/// A session channel of one connection: its pty and env requests, then one
/// shell, exec or subsystem request whose program talks through `io`; or a
/// direct-tcpip channel whose bytes a tunnel carries through `io`. Used on
/// the connection's thread only.
final class SSHServerChannel {
    unowned let connection: SSHServerConnection
    let channel: ssh_channel
    private let callbacks: UnsafeMutablePointer<ssh_channel_callbacks_struct>
    var terminal: SSHTerminal?
    var environment: [String: String] = [:]
    private(set) var io: SSHChannelIO?
    /// A direct-tcpip channel: no exit status at its end.
    private(set) var isTunnel = false
    /// The client closed the channel.
    var peerClosed = false
    /// The client sent EOF (passed on once the backlog is in).
    var remoteEOF = false
    /// Client data waits in libssh's buffer for room in `io`'s input.
    var inputBacklog = false
    /// We sent exit-status, EOF and CHANNEL_CLOSE; waiting for the client's close.
    private var closing = false
    /// Where `moveBacklog` reads into: made once, on first need (making and
    /// zeroing 64 KiB on every pass of the loop showed in an upload's profile).
    private lazy var backlogBuffer = [UInt8](repeating: 0, count: 64 * 1024)

    /// Environment requests kept per channel, so a client cannot grow memory without bound.
    static let maxEnvironment = 64

    init?(connection: SSHServerConnection) {
        guard let channel = ssh_channel_new(connection.session) else { return nil }
        self.connection = connection
        self.channel = channel
        callbacks = UnsafeMutablePointer<ssh_channel_callbacks_struct>.allocate(capacity: 1)
        callbacks.initialize(to: ssh_channel_callbacks_struct())
        callbacks.pointee.size = MemoryLayout<ssh_channel_callbacks_struct>.size
        callbacks.pointee.userdata = Unmanaged.passUnretained(self).toOpaque()
        callbacks.pointee.channel_data_function = sshChannelDataCallback
        callbacks.pointee.channel_eof_function = sshChannelEOFCallback
        callbacks.pointee.channel_close_function = sshChannelCloseCallback
        callbacks.pointee.channel_pty_request_function = sshChannelPTYCallback
        callbacks.pointee.channel_pty_window_change_function = sshChannelWindowChangeCallback
        callbacks.pointee.channel_shell_request_function = sshChannelShellCallback
        callbacks.pointee.channel_exec_request_function = sshChannelExecCallback
        callbacks.pointee.channel_env_request_function = sshChannelEnvCallback
        callbacks.pointee.channel_subsystem_request_function = sshChannelSubsystemCallback
        ssh_set_channel_callbacks(channel, callbacks)
    }

    /// Answers a shell (`command` nil), exec or subsystem request: false refuses it.
    func startProgram(command: String?, subsystem: String? = nil) -> Bool {
        guard io == nil, let handler = connection.handler, let identity = connection.authenticated else { return false }
        if let subsystem, !handler.acceptsSubsystem(subsystem) {
            handler.log(.info, "ssh: \(connection.peer): refused the subsystem '\(subsystem)'")
            return false
        }
        let connection = self.connection
        let io = SSHChannelIO(terminal: terminal, wake: { [weak connection] in connection?.wake() })
        self.io = io
        let request = SSHProgramRequest(user: identity.user, key: identity.key, peer: connection.peer,
                                        command: command, subsystem: subsystem, environment: environment, terminal: terminal)
        handler.start(request, io: io)
        return true
    }

    /// Opens a direct-tcpip channel: `start` carries its bytes.
    func startTunnel(_ start: @Sendable (SSHChannelIO) -> Void) {
        let connection = self.connection
        let io = SSHChannelIO(terminal: nil, wake: { [weak connection] in connection?.wake() })
        self.io = io
        isTunnel = true
        start(io)
    }

    /// Moves queued output to the client within its window; once the program
    /// ended and its output is out, sends exit-status, EOF and close. False
    /// once the channel is done and freed.
    func pump() -> Bool {
        if peerClosed {
            release()
            return false
        }
        guard let io, !closing else { return true }
        if inputBacklog { moveBacklog(to: io) }
        // Output goes into libssh only while its output buffer is empty (the
        // connection's loop comes back when the socket took it): what piles
        // up there is moved to the buffer's front each time it grows.
        var budget = Int(ssh_channel_window_size(channel))
        while budget > 0, Int32(ssh_get_poll_flags(connection.session)) & SSH_WRITE_PENDING == 0,
              let (bytes, toStderr) = io.takeOutput(limit: min(budget, 64 * 1024)) {
            let written = bytes.withUnsafeBytes { buffer in
                toStderr ? ssh_channel_write_stderr(channel, buffer.baseAddress, UInt32(buffer.count))
                         : ssh_channel_write(channel, buffer.baseAddress, UInt32(buffer.count))
            }
            if written == SSH_ERROR {
                io.markClosed()
                return true
            }
            budget -= bytes.count
        }
        if let status = io.finishedStatus {
            // The client closes its side when it sees our close; freeing the
            // channel before that makes OpenSSH report exit status 255.
            if !isTunnel { ssh_channel_request_send_exit_status(channel, status) }
            ssh_channel_send_eof(channel)
            ssh_channel_close(channel)
            closing = true
        }
        return true
    }

    /// Moves client data that waited in libssh into `io` as room allows
    /// (reading it reopens the client's window); passes EOF on after it.
    private func moveBacklog(to io: SSHChannelIO) {
        while true {
            let room = min(io.inputRoom, backlogBuffer.count)
            guard room > 0 else { return }
            let count = backlogBuffer.withUnsafeMutableBytes { ssh_channel_read_nonblocking(channel, $0.baseAddress, UInt32(room), 0) }
            guard count > 0 else { break }
            // When libssh's buffer was empty, the read first processed new
            // packets, and the data callback may have filled `io` meanwhile:
            // these bytes are out of libssh already and must all be taken
            // (dropping what no longer fitted corrupted uploads now and then).
            _ = backlogBuffer.withUnsafeBytes { io.receive(UnsafeRawBufferPointer(rebasing: $0[..<Int(count)]), overLimit: true) }
        }
        guard ssh_channel_poll(channel, 0) <= 0 else { return }
        inputBacklog = false
        if remoteEOF { io.endInput() }
    }

    /// Frees the libssh channel; the program sees its input end.
    func release() {
        io?.markClosed()
        ssh_channel_free(channel)
        callbacks.deinitialize(count: 1)
        callbacks.deallocate()
    }
}
