#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A connected TCP socket, owned: closed when the last reference goes. For
/// tunnels (`ssh -J` to a board's port): blocking reads and writes from one
/// thread each, `shutdown` to pass an end on.
public final class TCPConnection: Sendable {
    public let descriptor: Int32
    public let peer: SocketAddress

    /// Connects to `peer`, giving up after `timeout` seconds (a board that
    /// is off answers nothing at all).
    public init(to peer: SocketAddress, timeout: Double) throws {
        self.peer = peer
        let domain = peer.family == .inet ? AF_INET : AF_INET6
        descriptor = try systemCall("socket") {
            socket(domain, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        }
        do {
            let started = peer.withSockAddr { sa, length in Glibc.connect(descriptor, sa, length) }
            if started != 0 {
                guard errno == EINPROGRESS else { throw SystemError("connect \(peer)") }
                var fds = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
                let ready = try systemCall("poll") { poll(&fds, 1, Int32(timeout * 1000)) }
                guard ready > 0 else { throw SystemError("connect \(peer)", code: ETIMEDOUT) }
                var failure: Int32 = 0
                var length = socklen_t(MemoryLayout<Int32>.size)
                try systemCall("getsockopt") { getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &failure, &length) }
                if failure != 0 { throw SystemError("connect \(peer)", code: failure) }
            }
            let flags = try systemCall("fcntl") { fcntl(descriptor, F_GETFL) }
            try systemCall("fcntl") { fcntl(descriptor, F_SETFL, flags & ~O_NONBLOCK) }
            var one: Int32 = 1
            setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        } catch {
            // Not closed here: the init of a class whose properties are all
            // set runs its deinit as it throws, and that closes it (closing
            // it here too closed the number again, maybe another thread's file).
            throw error
        }
    }

    deinit { close(descriptor) }

    /// Up to `buffer.count` bytes; 0 at the peer's end of stream.
    public func receive(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try systemCall("recv from \(peer)") { recv(descriptor, buffer.baseAddress, buffer.count, 0) }
    }

    /// Sends all of `bytes`.
    public func send(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            offset += try systemCall("send to \(peer)") {
                Glibc.send(descriptor, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            }
        }
    }

    /// Ends our sending side (the peer reads end of stream).
    public func finishSending() { shutdown(descriptor, Int32(SHUT_WR)) }

    /// Ends both directions: a thread blocked in `receive` returns 0.
    public func shutDown() { shutdown(descriptor, Int32(SHUT_RDWR)) }
}
