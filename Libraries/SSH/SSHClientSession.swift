#if canImport(Glibc)
import Glibc
#endif
import CSSH
import SystemSupport
import Foundation

/// Where and as whom a client logs in.
public struct SSHClientOptions: Sendable {
    public var host: String
    public var port: UInt16
    /// The SSH user name (our agents identify by key, not by this).
    public var user: String
    public var identity: SSHPrivateKey
    /// The server must show this host key, or the connection is refused.
    public var hostKey: SSHHostKeyPin
    /// Seconds for the TCP connect and for each blocking step of the login.
    public var timeout: Double
    /// The ciphers to offer, most wanted first (libssh's list syntax); nil:
    /// libssh's defaults. The coordinator's hop uses `SSHCiphers.agentLink`.
    public var ciphers: String?

    public init(host: String, port: UInt16, user: String, identity: SSHPrivateKey, hostKey: SSHHostKeyPin, timeout: Double = 5,
                ciphers: String? = nil) {
        self.ciphers = ciphers
        self.host = host
        self.port = port
        self.user = user
        self.identity = identity
        self.hostKey = hostKey
        self.timeout = timeout
    }
}

/// What the remote program sent, as `SSHClientSession.read` returns it.
public enum SSHClientOutput: Sendable, Equatable {
    case stdout([UInt8])
    case stderr([UInt8])
    /// Nothing came within the timeout.
    case timeout
    /// The program ended with this status (and all its output was read);
    /// nil when the channel closed without one (the connection broke).
    case exit(Int32?)
}

/// One command run on an SSH server (libssh's client side): connect, check
/// the pinned host key, log in with a key, open a session channel with an
/// optional pty and environment, exec the command; then stream stdin,
/// stdout and stderr both ways with flow control until the exit status.
///
/// Threads: `init` logs in and execs on the calling thread (it blocks up
/// to a few timeouts); `run()` then moves the bytes, on a thread of the
/// caller's choice, and is from then on the only one to call libssh. The
/// program side (`write`, `read`, `finishInput`, `resize`, `hangUp`) may be
/// called from any thread.
public final class SSHClientSession: @unchecked Sendable {
    // libssh objects: the calling thread in init, then `run`'s thread only.
    private let session: ssh_session
    private let channel: ssh_channel
    private let callbacks: UnsafeMutablePointer<ssh_channel_callbacks_struct>
    private let wakeup: WakeupPipe
    public let peer: String
    /// The cipher negotiated for what this side sends (`aes128-gcm@openssh.com`, …).
    public let cipher: String

    // Guarded by `condition`.
    private let condition = NSCondition()
    /// What `write` queued, as the callers' own bytes (never copied here:
    /// libssh copies from them); `input[inputHead]` is the next, and
    /// `inputOffset` of its bytes are written already.
    private var input: [ArraySlice<UInt8>] = []
    private var inputHead = 0
    private var inputOffset = 0
    /// Bytes queued and not yet written.
    private var inputQueued = 0
    /// Threads waiting in `write` for room, and in `read` for output: the
    /// libssh thread wakes them only when one of them can go on (waking
    /// every waiter for each 64 KiB written cost the coordinator an eighth
    /// of its time in futex calls during an upload).
    private var writersWaiting = 0
    private var readersWaiting = 0
    private var inputFinished = false
    private var output: [(bytes: [UInt8], stderr: Bool)] = []
    private var outputCount = 0
    private var pendingSize: (columns: Int, rows: Int)?
    private var hungUp = false
    private var exitStatus: Int32?
    private var ended = false
    private var endStatus: Int32?

    /// Input queued for the server above which `write` waits.
    public static let inputLimit = 256 * 1024
    /// Output read from the server and not yet taken above which reading
    /// stops, and the server's window closes.
    public static let outputLimit = 1024 * 1024

    /// Connects, checks the host key, logs in and starts `command` (or, with
    /// `subsystem`, that subsystem instead: `sftp`). Throws `SSHError` with
    /// one line saying which step failed.
    public init(_ options: SSHClientOptions, command: String, subsystem: String? = nil, terminal: SSHTerminal? = nil,
                environment: [String: String] = [:]) throws(SSHError) {
        guard let session = ssh_new() else { throw SSHError("ssh_new failed") }
        let peerName = options.host.contains(":") ? "[\(options.host)]:\(options.port)" : "\(options.host):\(options.port)"
        peer = peerName
        let fail = { (step: String) -> SSHError in
            let reason = String(cString: ssh_get_error(UnsafeMutableRawPointer(session)))
            ssh_disconnect(session)
            ssh_free(session)
            return SSHError("\(peerName): \(step)\(reason.isEmpty ? "" : ": \(reason)")")
        }
        var port = UInt32(options.port)
        var timeout = max(1, Int(options.timeout.rounded(.up)))
        var processConfig = false
        // No Nagle: a login is a run of small packets, and each second one
        // waited for the server's delayed ACK (40 ms, twice per login).
        var noDelay: Int32 = 1
        var ok = ssh_options_set(session, SSH_OPTIONS_HOST, options.host) == SSH_OK
        ok = ok && ssh_options_set(session, SSH_OPTIONS_PORT, &port) == SSH_OK
        ok = ok && ssh_options_set(session, SSH_OPTIONS_USER, options.user) == SSH_OK
        ok = ok && ssh_options_set(session, SSH_OPTIONS_TIMEOUT, &timeout) == SSH_OK
        ok = ok && ssh_options_set(session, SSH_OPTIONS_PROCESS_CONFIG, &processConfig) == SSH_OK
        ok = ok && ssh_options_set(session, SSH_OPTIONS_NODELAY, &noDelay) == SSH_OK
        if let algorithms = options.hostKey.algorithms {
            ok = ok && ssh_options_set(session, SSH_OPTIONS_HOSTKEYS, algorithms) == SSH_OK
        }
        if let ciphers = options.ciphers {
            ok = ok && ssh_options_set(session, SSH_OPTIONS_CIPHERS_C_S, ciphers) == SSH_OK
            ok = ok && ssh_options_set(session, SSH_OPTIONS_CIPHERS_S_C, ciphers) == SSH_OK
        }
        guard ok else { throw fail("ssh options") }
        guard ssh_connect(session) == SSH_OK else { throw fail("cannot connect") }
        _ = fcntl(ssh_get_fd(session), F_SETFD, FD_CLOEXEC)

        var serverKey: ssh_key?
        guard ssh_get_server_publickey(session, &serverKey) == SSH_OK, let serverKey else { throw fail("no host key") }
        let shown = SSHPublicKey.copying(serverKey)
        ssh_key_free(serverKey)
        guard let shown, options.hostKey.accepts(shown) else {
            let error = SSHError("\(peerName): host key mismatch: the server shows \(shown.map { "\($0.type) \($0.fingerprint)" } ?? "an unreadable key"), the config pins \(options.hostKey)")
            ssh_disconnect(session)
            ssh_free(session)
            throw error
        }
        let auth = ssh_userauth_publickey(session, nil, options.identity.key)
        guard auth == SSH_AUTH_SUCCESS.rawValue else {
            if auth == SSH_AUTH_DENIED.rawValue || auth == SSH_AUTH_PARTIAL.rawValue {
                ssh_disconnect(session)
                ssh_free(session)
                throw SSHError("\(peerName): the server refused the key \(options.identity.publicKey.fingerprint)")
            }
            throw fail("authentication failed")
        }
        guard let channel = ssh_channel_new(session) else { throw fail("cannot make a channel") }
        guard ssh_channel_open_session(channel) == SSH_OK else {
            ssh_channel_free(channel)
            throw fail("cannot open a session channel")
        }
        if let terminal {
            guard ssh_channel_request_pty_size(channel, terminal.term, Int32(terminal.columns), Int32(terminal.rows)) == SSH_OK else {
                ssh_channel_free(channel)
                throw fail("pty request refused")
            }
        }
        for (name, value) in environment.sorted(by: { $0.key < $1.key }) {
            guard ssh_channel_request_env(channel, name, value) == SSH_OK else {
                ssh_channel_free(channel)
                throw fail("environment variable \(name) refused")
            }
        }
        guard let pipe = try? WakeupPipe() else {
            ssh_channel_free(channel)
            throw fail("pipe failed")
        }
        self.session = session
        self.channel = channel
        cipher = ssh_get_cipher_out(session).map { String(cString: $0) } ?? "?"
        wakeup = pipe
        callbacks = UnsafeMutablePointer<ssh_channel_callbacks_struct>.allocate(capacity: 1)
        callbacks.initialize(to: ssh_channel_callbacks_struct())
        callbacks.pointee.size = MemoryLayout<ssh_channel_callbacks_struct>.size
        callbacks.pointee.userdata = Unmanaged.passUnretained(self).toOpaque()
        callbacks.pointee.channel_exit_status_function = sshClientExitStatusCallback
        ssh_set_channel_callbacks(channel, callbacks)
        let started = subsystem.map { ssh_channel_request_subsystem(channel, $0) } ?? ssh_channel_request_exec(channel, command)
        guard started == SSH_OK else {
            let reason = String(cString: ssh_get_error(UnsafeMutableRawPointer(session)))
            release()
            throw SSHError("\(peer): \(subsystem.map { "subsystem \($0)" } ?? "exec") refused: \(reason)")
        }
    }

    deinit {
        callbacks.deinitialize(count: 1)
        callbacks.deallocate()
    }

    // MARK: The program's side

    /// Queues bytes for the remote program's stdin, waiting while much is
    /// queued already. False once the session ended (the bytes are dropped).
    @discardableResult
    public func write(_ bytes: [UInt8]) -> Bool {
        write([bytes[...]])
    }

    /// Queues `pieces` one after the other, with no other writer's bytes
    /// between them, and without copying them (a proxy passes a request's
    /// head and the data it received as they lie).
    @discardableResult
    public func write(_ pieces: [ArraySlice<UInt8>]) -> Bool {
        condition.lock()
        while !ended && !hungUp && inputQueued >= Self.inputLimit {
            writersWaiting += 1
            condition.wait()
            writersWaiting -= 1
        }
        guard !ended && !hungUp && !inputFinished else {
            condition.unlock()
            return false
        }
        for piece in pieces where !piece.isEmpty {
            input.append(piece)
            inputQueued += piece.count
        }
        condition.unlock()
        wake()
        return true
    }

    /// Sends EOF once the queued input is out.
    public func finishInput() {
        condition.guarded { inputFinished = true }
        wake()
    }

    /// The user's terminal changed size (a window-change request).
    public func resize(columns: Int, rows: Int) {
        condition.guarded { pendingSize = (columns, rows) }
        wake()
    }

    /// Ends the session early: the channel is closed, `read` then returns `.exit`.
    public func hangUp() {
        condition.guarded {
            hungUp = true
            condition.broadcast()
        }
        wake()
    }

    /// The next output, up to `timeout` seconds (nil: until some comes).
    public func read(timeout: Double?) -> SSHClientOutput {
        condition.lock()
        defer { condition.unlock() }
        let deadline = timeout.map { Date().addingTimeInterval($0) }
        while output.isEmpty && !ended {
            readersWaiting += 1
            defer { readersWaiting -= 1 }
            if let deadline {
                if !condition.wait(until: deadline) && output.isEmpty && !ended { return .timeout }
            } else {
                condition.wait()
            }
        }
        guard !output.isEmpty else { return .exit(endStatus) }
        let first = output.removeFirst()
        let wasFull = outputCount >= Self.outputLimit
        outputCount -= first.bytes.count
        if wasFull { wake() }
        return first.stderr ? .stderr(first.bytes) : .stdout(first.bytes)
    }

    /// Everything until the end: stdout, stderr and the status, for short
    /// commands. Gives up (hanging up) after `timeout` seconds.
    public func collect(timeout: Double) -> (status: Int32?, stdout: [UInt8], stderr: [UInt8]) {
        finishInput()
        var stdout: [UInt8] = []
        var stderr: [UInt8] = []
        let deadline = monotonicSeconds() + timeout
        while true {
            let left = deadline - monotonicSeconds()
            if left <= 0 {
                hangUp()
                return (nil, stdout, stderr)
            }
            switch read(timeout: left) {
            case .stdout(let bytes): stdout += bytes
            case .stderr(let bytes): stderr += bytes
            case .timeout: continue
            case .exit(let status): return (status, stdout, stderr)
            }
        }
    }

    // MARK: The libssh thread

    /// Moves bytes until the program ended and its output was queued, the
    /// connection broke, or `hangUp()`; then closes and frees everything.
    /// Blocks: call it on a thread of its own, once.
    public func run() {
        guard let event = ssh_event_new() else {
            finish(status: nil)
            release()
            return
        }
        ssh_event_add_session(event, session)
        var eofSent = false
        // Input remains after this pass's write: the poll below does not
        // wait (cheaper than waking ourselves through the pipe).
        var moreInput = false
        var inputRefused = false
        var buffer = [UInt8](repeating: 0, count: 32 * 1024)
        var status: Int32?
        loop: while true {
            // Input goes into libssh only once its output buffer is empty:
            // what piles up there is moved to the buffer's front each time
            // it grows (memmove of all of it), which cost a fast sender a
            // third of the coordinator's time.
            let flushed = Int32(ssh_get_poll_flags(session)) & SSH_WRITE_PENDING == 0
            // The front piece of input and the part of it to write: only this
            // thread takes from the queue, so it is written from outside the lock.
            let (front, range, finishedBefore, size, leave) = condition.guarded {
                () -> (ArraySlice<UInt8>, Range<Int>, Bool, (Int, Int)?, Bool) in
                defer { pendingSize = nil }
                let window = flushed ? Int(ssh_channel_window_size(channel)) : 0
                guard window > 0, inputHead < input.count else {
                    return ([], 0..<0, inputFinished && inputQueued == 0, pendingSize, hungUp)
                }
                let front = input[inputHead]
                let count = min(window, front.count - inputOffset, 64 * 1024)
                return (front, inputOffset..<inputOffset + count, false, pendingSize, hungUp)
            }
            if leave { break loop }
            var finished = finishedBefore
            moreInput = false
            if !range.isEmpty {
                // The program may end without reading all its input (and the
                // server close the channel): its output and status, still in
                // libssh's buffers, are read on below, not dropped.
                if !inputRefused {
                    let written = front.withUnsafeBytes {
                        ssh_channel_write(channel, $0.baseAddress! + range.lowerBound, UInt32(range.count))
                    }
                    if written == SSH_ERROR { inputRefused = true }
                }
                let more = condition.guarded { () -> Bool in
                    defer { finished = inputFinished && inputQueued == 0 }
                    let wasFull = inputQueued >= Self.inputLimit
                    inputQueued -= range.count
                    inputOffset = range.upperBound
                    if inputOffset == input[inputHead].count {
                        inputHead += 1
                        inputOffset = 0
                        if inputHead == input.count {
                            input.removeAll(keepingCapacity: true)
                            inputHead = 0
                        } else if inputHead >= 64 {
                            input.removeFirst(inputHead)
                            inputHead = 0
                        }
                    }
                    if wasFull && inputQueued < Self.inputLimit && writersWaiting > 0 { condition.broadcast() }
                    return inputQueued > 0
                }
                moreInput = more
            }
            if finished && !eofSent && !inputRefused {
                ssh_channel_send_eof(channel)
                eofSent = true
            }
            if let size { ssh_channel_change_pty_size(channel, Int32(size.0), Int32(size.1)) }
            for toStderr in [Int32(0), 1] {
                while true {
                    let room = condition.guarded { Self.outputLimit - outputCount }
                    guard room > 0 else { break }
                    let count = buffer.withUnsafeMutableBytes {
                        ssh_channel_read_nonblocking(channel, $0.baseAddress, UInt32(min(room, $0.count)), toStderr)
                    }
                    if count == SSH_ERROR { break loop }
                    guard count > 0 else { break }
                    let bytes = Array(buffer[..<Int(count)])
                    condition.guarded {
                        output.append((bytes, toStderr != 0))
                        outputCount += bytes.count
                        if readersWaiting > 0 { condition.broadcast() }
                    }
                }
            }
            let drained = ssh_channel_poll(channel, 0) <= 0 && ssh_channel_poll(channel, 1) <= 0
            if drained {
                status = condition.guarded { exitStatus }
                if ssh_channel_is_closed(channel) != 0 { break loop }
                if ssh_channel_is_eof(channel) != 0 && status != nil { break loop }
            }
            if ssh_is_connected(session) == 0 { break loop }
            // Wait on the socket and the wake pipe ourselves: libssh's event
            // loop did not wake for a client session's incoming packets
            // (window adjusts came in only at the timeout), so it is asked
            // to process what arrived without waiting.
            // Reading stderr (or `drained`) may have processed packets that put
            // stdout into libssh's buffer, with no socket event left to wake
            // the poll: then, with room for it, do not wait (a console's
            // banner once came 500 ms late).
            let buffered = !drained && condition.guarded { outputCount < Self.outputLimit }
            let waiting = Int32(ssh_get_poll_flags(session)) & SSH_WRITE_PENDING != 0
            var fds = [pollfd(fd: ssh_get_fd(session), events: Int16(POLLIN) | (waiting ? Int16(POLLOUT) : 0), revents: 0),
                       pollfd(fd: wakeup.descriptor, events: Int16(POLLIN), revents: 0)]
            if poll(&fds, 2, buffered || moreInput ? 0 : 500) < 0 && errno != EINTR { break loop }
            if fds[1].revents != 0 { wakeup.drain() }
            if ssh_event_dopoll(event, 0) == SSH_ERROR { break loop }
        }
        status = condition.guarded { exitStatus }
        // Our close answers the server's; after ours, wait briefly for its own
        // (a server that frees its channel first may report an odd status).
        if ssh_channel_is_closed(channel) == 0 {
            if !eofSent { ssh_channel_send_eof(channel) }
            ssh_channel_close(channel)
            let deadline = monotonicSeconds() + 1
            while ssh_channel_is_closed(channel) == 0 && ssh_is_connected(session) != 0 && monotonicSeconds() < deadline {
                if ssh_event_dopoll(event, 100) == SSH_ERROR { break }
            }
        }
        ssh_event_remove_session(event, session)
        ssh_event_free(event)
        finish(status: status)
        release()
    }

    private func finish(status: Int32?) {
        condition.guarded {
            ended = true
            endStatus = status
            input.removeAll()
            inputHead = 0
            inputOffset = 0
            inputQueued = 0
            condition.broadcast()
        }
    }

    private func release() {
        ssh_channel_free(channel)
        ssh_disconnect(session)
        ssh_free(session)
    }

    fileprivate func received(exitStatus status: Int32) {
        condition.guarded { exitStatus = status }
    }

    private func wake() { wakeup.signal() }
}

/// The server's exit-status request (runs inside libssh, on `run`'s thread).
let sshClientExitStatusCallback: ssh_channel_exit_status_callback = { _, _, status, userdata in
    guard let userdata else { return }
    Unmanaged<SSHClientSession>.fromOpaque(userdata).takeUnretainedValue().received(exitStatus: status)
}

private extension NSCondition {
    func guarded<R>(_ body: () throws -> R) rethrows -> R {
        lock()
        defer { unlock() }
        return try body()
    }
}
