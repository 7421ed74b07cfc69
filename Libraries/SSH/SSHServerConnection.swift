#if canImport(Glibc)
import Glibc
#endif
import CSSH
import Synchronization
import SystemSupport

/// What a server built on `SSHServerConnection` decides: who may log in, and
/// what runs on a session channel.
public protocol SSHServerHandler: AnyObject, Sendable {
    /// Whether `key` may log in (as SSH user `user`). Asked twice per key: for
    /// the client's probe, and once it proved it holds the private key.
    func authenticate(user: String, key: SSHPublicKey, peer: String) -> Bool
    /// Whether a subsystem request (`sftp`) for `name` starts a program;
    /// false refuses it (the client says "subsystem request failed").
    func acceptsSubsystem(_ name: String) -> Bool
    /// Starts the program for a shell, exec or subsystem request. Must return at once:
    /// run the program on a thread of its own, and end it with `io.exit(_:)`.
    func start(_ request: SSHProgramRequest, io: SSHChannelIO)
    /// Whether to open a direct-tcpip channel; nil refuses it (the client
    /// sees "administratively prohibited"). Decide at once (it runs on the
    /// connection's thread); the returned function gets the channel once it
    /// is open and must start a thread of its own that carries the bytes and
    /// ends with `io.exit(_:)` (the status is not sent: tunnels have none).
    func tunnel(_ request: SSHTunnelRequest) -> (@Sendable (SSHChannelIO) -> Void)?
    /// Something worth a log line (refused keys, failed key exchanges).
    func log(_ level: SSHLogLevel, _ message: String)
    /// A connection that completed its key exchange ended; `authenticated`:
    /// whether it ever logged in (for counting refused logins).
    func connectionEnded(peer: String, authenticated: Bool)
}

extension SSHServerHandler {
    /// Servers without tunnels refuse every direct-tcpip open.
    public func tunnel(_ request: SSHTunnelRequest) -> (@Sendable (SSHChannelIO) -> Void)? { nil }
    public func connectionEnded(peer: String, authenticated: Bool) {}
    /// Servers without subsystems refuse them all.
    public func acceptsSubsystem(_ name: String) -> Bool { false }
}

public enum SSHLogLevel: Sendable {
    case debug, info, warning
}

/// One client connection, served by `run` on one thread: key exchange,
/// public-key authentication, then session channels whose programs run on
/// threads of their own and talk to this one through `SSHChannelIO`.
/// libssh is called from that one thread only.
public final class SSHServerConnection: @unchecked Sendable {
    // Everything but `stopping` belongs to the thread inside `run`; the C
    // callbacks (SSHServerCallbacks.swift) run on it too, inside ssh_event_dopoll.
    let session: ssh_session
    /// The client's address, `HOST:PORT`.
    public let peer: String
    var handler: (any SSHServerHandler)?
    var authenticated: (user: String, key: SSHPublicKey)? {
        didSet {
            loggedIn.store(authenticated != nil, ordering: .releasing)
            if authenticated != nil, oldValue == nil { onLoggedIn?() }
        }
    }
    /// Called once the client logged in (on the connection's thread): the
    /// server may start connections it held back.
    var onLoggedIn: (@Sendable () -> Void)?
    /// `authenticated`, for other threads (the server's login limits).
    private let loggedIn = Atomic<Bool>(false)
    var authenticationAttempts = 0
    var channels: [SSHServerChannel] = []
    /// nil when no pipe could be made: then only the poll's timeout wakes `run`.
    private let wakeup: WakeupPipe?
    private let stopping = Atomic<Bool>(false)

    /// Keys a client may offer before it is disconnected.
    static let maxAuthenticationAttempts = 20

    init(session: ssh_session) {
        self.session = session
        peer = Self.peerAddress(of: ssh_get_fd(session))
        wakeup = try? WakeupPipe()
    }

    /// Serves the connection until the client leaves, `stop()` is called, or
    /// authentication does not succeed within `authenticationTimeout` seconds.
    /// Blocks: call it on a thread of its own.
    public func run(handler: any SSHServerHandler, authenticationTimeout: Double = 60) {
        self.handler = handler
        let context = Unmanaged.passUnretained(self).toOpaque()
        var timeout = Int(authenticationTimeout)
        ssh_options_set(session, SSH_OPTIONS_TIMEOUT, &timeout)
        let callbacks = UnsafeMutablePointer<ssh_server_callbacks_struct>.allocate(capacity: 1)
        callbacks.initialize(to: ssh_server_callbacks_struct())
        callbacks.pointee.size = MemoryLayout<ssh_server_callbacks_struct>.size
        callbacks.pointee.userdata = context
        callbacks.pointee.auth_pubkey_function = sshAuthPublicKeyCallback
        callbacks.pointee.channel_open_request_session_function = sshChannelOpenCallback
        defer {
            callbacks.deinitialize(count: 1)
            callbacks.deallocate()
        }
        ssh_set_server_callbacks(session, callbacks)
        ssh_set_message_callback(session, sshMessageCallback, Unmanaged.passUnretained(self).toOpaque())
        ssh_set_auth_methods(session, Int32(SSH_AUTH_METHOD_PUBLICKEY))

        guard ssh_handle_key_exchange(session) == SSH_OK else {
            handler.log(.info, "ssh: key exchange with \(peer) failed: \(lastError)")
            ssh_disconnect(session)
            ssh_free(session)
            return
        }
        guard let event = ssh_event_new() else {
            ssh_disconnect(session)
            ssh_free(session)
            return
        }
        ssh_event_add_session(event, session)
        // The pipe is drained inside the poll, before the channels look at their queues.
        if let wakeup { ssh_event_add_fd(event, wakeup.descriptor, Int16(POLLIN), sshWakeupCallback, Unmanaged.passUnretained(wakeup).toOpaque()) }
        let started = monotonicSeconds()
        while !stopping.load(ordering: .acquiring) {
            if ssh_event_dopoll(event, 500) == SSH_ERROR { break }
            if authenticated == nil {
                if monotonicSeconds() - started > authenticationTimeout {
                    handler.log(.info, "ssh: \(peer) did not authenticate within \(Int(authenticationTimeout)) s")
                    break
                }
                if authenticationAttempts > Self.maxAuthenticationAttempts { break }
            }
            channels.removeAll { !$0.pump() }
            if ssh_is_connected(session) == 0 { break }
        }
        for channel in channels { channel.release() }
        channels.removeAll()
        handler.connectionEnded(peer: peer, authenticated: authenticated != nil)
        if let wakeup { ssh_event_remove_fd(event, wakeup.descriptor) }
        ssh_event_remove_session(event, session)
        ssh_event_free(event)
        ssh_disconnect(session)
        ssh_free(session)
        self.handler = nil
    }

    /// Whether the client has logged in; readable from any thread.
    public var hasLoggedIn: Bool { loggedIn.load(ordering: .acquiring) }

    /// The client's host, without its port.
    public var peerHost: String {
        guard let colon = peer.lastIndex(of: ":") else { return peer }
        return String(peer[..<colon])
    }

    /// Closes a connection that `run` never served (too many waiting to log in).
    func refuse() {
        ssh_disconnect(session)
        ssh_free(session)
    }

    /// Ends the connection (within half a second): programs see their input end.
    public func stop() {
        stopping.store(true, ordering: .releasing)
        wake()
    }

    /// Wakes the thread in `run` so it sends queued output.
    func wake() {
        wakeup?.signal()
    }

    var lastError: String { String(cString: ssh_get_error(UnsafeMutableRawPointer(session))) }

    private static func peerAddress(of fd: Int32) -> String {
        var address = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) }
        }
        guard ok == 0 else { return "?" }
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        var service = [CChar](repeating: 0, count: Int(NI_MAXSERV))
        let named = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getnameinfo($0, length, &host, socklen_t(host.count), &service, socklen_t(service.count),
                            NI_NUMERICHOST | NI_NUMERICSERV)
            }
        }
        guard named == 0 else { return "?" }
        let text = { (chars: [CChar]) in String(decoding: chars.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        let hostText = text(host)
        return (hostText.contains(":") ? "[\(hostText)]" : hostText) + ":" + text(service)
    }
}

