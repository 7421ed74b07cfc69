#if canImport(Glibc)
import Glibc
#endif
import CSSH
import Synchronization
import SystemSupport

/// Key types a client may log in with: ed25519, ecdsa, and RSA only with
/// SHA-2 signatures (OpenSSH no longer signs with ssh-rsa/SHA-1).
let acceptedPublicKeyTypes = "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,"
    + "rsa-sha2-512,rsa-sha2-256"

/// A listening SSH server socket (libssh's `ssh_bind`). `accept()` blocks
/// until a client connects; each connection is then served by
/// `SSHServerConnection.run` on a thread of the caller's choice.
public final class SSHListener: @unchecked Sendable {
    // `bind` is used by the accepting thread only; `stop()` only writes the wake pipe.
    private let bind: ssh_bind
    private let hostKeyPath: String
    /// The address and port actually bound (the port is the kernel's when 0 was asked).
    public let host: String
    public let port: UInt16
    private let wakeup: WakeupPipe
    private let stopping = Atomic<Bool>(false)

    /// Binds and listens at once, so a taken port fails here with the reason.
    /// The host key at `hostKeyPath` must exist (see `SSHHostKey.ensure`).
    public init(host: String, port: UInt16, hostKeyPath: String) throws(SSHError) {
        guard let bind = ssh_bind_new() else { throw SSHError("ssh_bind_new failed") }
        self.bind = bind
        self.hostKeyPath = hostKeyPath
        var processConfig = false
        var portNumber = Int32(port)
        var ok = ssh_bind_options_set(bind, SSH_BIND_OPTIONS_BINDADDR, host) == SSH_OK
        ok = ok && ssh_bind_options_set(bind, SSH_BIND_OPTIONS_BINDPORT, &portNumber) == SSH_OK
        ok = ok && ssh_bind_options_set(bind, SSH_BIND_OPTIONS_PROCESS_CONFIG, &processConfig) == SSH_OK
        ok = ok && ssh_bind_options_set(bind, SSH_BIND_OPTIONS_HOSTKEY, hostKeyPath) == SSH_OK
        ok = ok && ssh_bind_options_set(bind, SSH_BIND_OPTIONS_PUBKEY_ACCEPTED_KEY_TYPES, acceptedPublicKeyTypes) == SSH_OK
        if let ciphers = SSHCiphers.server {
            ok = ok && ssh_bind_options_set(bind, SSH_BIND_OPTIONS_CIPHERS_C_S, ciphers) == SSH_OK
            ok = ok && ssh_bind_options_set(bind, SSH_BIND_OPTIONS_CIPHERS_S_C, ciphers) == SSH_OK
        }
        guard ok else {
            let reason = String(cString: ssh_get_error(UnsafeMutableRawPointer(bind)))
            ssh_bind_free(bind)
            throw SSHError("ssh options: \(reason)")
        }
        guard ssh_bind_listen(bind) == SSH_OK else {
            let reason = String(cString: ssh_get_error(UnsafeMutableRawPointer(bind)))
            ssh_bind_free(bind)
            throw SSHError("cannot listen on \(host):\(port): \(reason)")
        }
        var address = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let fd = ssh_bind_get_fd(bind)
        // libssh opens its sockets without close-on-exec.
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        if named == 0 && address.ss_family == sa_family_t(AF_INET6) {
            self.port = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) } }
        } else if named == 0 {
            self.port = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) } }
        } else {
            self.port = port
        }
        self.host = host
        do {
            wakeup = try WakeupPipe()
        } catch {
            ssh_bind_free(bind)
            throw SSHError("\(error)")
        }
    }

    deinit {
        ssh_bind_free(bind)
    }

    /// Waits for the next client; nil once `stop()` was called. The key
    /// exchange has not happened yet: `SSHServerConnection.run` does it, on
    /// the connection's own thread.
    public func accept() throws(SSHError) -> SSHServerConnection? {
        var fds = [pollfd(fd: ssh_bind_get_fd(bind), events: Int16(POLLIN), revents: 0),
                   pollfd(fd: wakeup.descriptor, events: Int16(POLLIN), revents: 0)]
        while true {
            if stopping.load(ordering: .acquiring) { return nil }
            let ready = poll(&fds, 2, -1)
            if ready < 0 && errno == EINTR { continue }
            if fds[1].revents != 0 || stopping.load(ordering: .acquiring) { return nil }
            guard fds[0].revents & Int16(POLLIN) != 0 else { continue }
            guard let session = ssh_new() else { throw SSHError("ssh_new failed") }
            guard ssh_bind_accept(bind, session) == SSH_OK else {
                let reason = String(cString: ssh_get_error(UnsafeMutableRawPointer(bind)))
                ssh_free(session)
                throw SSHError("accept: \(reason)")
            }
            // No Nagle: libssh sends each packet of a login on its own, and
            // the second of two waited for the client's delayed ACK (40 ms).
            var one: Int32 = 1
            _ = fcntl(ssh_get_fd(session), F_SETFD, FD_CLOEXEC)
            _ = setsockopt(ssh_get_fd(session), Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            return SSHServerConnection(session: session)
        }
    }

    /// Makes `accept()` return nil; connections already accepted go on.
    public func stop() {
        stopping.store(true, ordering: .releasing)
        wakeup.signal()
    }
}

/// A libssh failure, with libssh's reason.
public struct SSHError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
