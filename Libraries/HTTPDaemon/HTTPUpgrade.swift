#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CMicroHTTPD
import Synchronization

/// Takes a connection over after its `101 Switching Protocols` answer.
public protocol HTTPUpgradeHandler: AnyObject, Sendable {
    /// Called on the connection's thread once the answer is sent. It must
    /// return soon (under TLS, libmicrohttpd forwards the bytes on that
    /// thread once it returns): start threads for the protocol, and have
    /// them `close` the connection when they are done with it.
    func upgraded(_ connection: HTTPUpgradedConnection)
}

extension HTTPResponse {
    /// An answer that hands the connection to `handler` once sent (a `101`
    /// with its `Upgrade` header, which `headers` must carry).
    public init(status: Int, headers: [(String, String)], upgrade handler: any HTTPUpgradeHandler) {
        self.init(status: status, headers: headers)
        body = .upgrade(handler)
    }
}

/// An upgraded connection's socket, in blocking mode: bytes in and out, as
/// the new protocol wants them. Under TLS it is one end of a socket pair
/// that libmicrohttpd encrypts on the way. One thread reads; any thread
/// writes (whole writes do not interleave).
public final class HTTPUpgradedConnection: @unchecked Sendable {
    // @unchecked: `extra` is the reading thread's alone; writes and the
    // close are under `writing`.
    private let socket: Int32
    nonisolated(unsafe) private let handle: OpaquePointer
    private var extra: [UInt8]
    private let writing = Mutex<Bool>(false)  // closed

    init(socket: Int32, handle: OpaquePointer, extra: [UInt8]) {
        self.socket = socket
        self.handle = handle
        self.extra = extra
        let flags = fcntl(socket, F_GETFL)
        if flags >= 0 { _ = fcntl(socket, F_SETFL, flags & ~O_NONBLOCK) }
    }

    /// Up to `buffer.count` bytes (what came with the request's headers
    /// first); 0 at the end of the stream or on an error.
    public func read(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        guard buffer.count > 0 else { return 0 }
        if !extra.isEmpty {
            let count = min(extra.count, buffer.count)
            extra.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[..<count])) }
            extra.removeFirst(count)
            return count
        }
        while true {
            let count = recv(socket, buffer.baseAddress, buffer.count, 0)
            if count >= 0 { return count }
            if errno != EINTR { return 0 }
        }
    }

    /// Writes all of `bytes`; false when the peer is gone (or it was closed).
    @discardableResult
    public func write(_ bytes: [UInt8]) -> Bool {
        writing.withLock { closed in
            guard !closed else { return false }
            var sent = 0
            while sent < bytes.count {
                let count = bytes.withUnsafeBytes { send(socket, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
                if count > 0 {
                    sent += count
                } else if count < 0 && errno == EINTR {
                    continue
                } else {
                    return false
                }
            }
            return true
        }
    }

    /// Ends both directions: a thread waiting in `read` returns 0. The
    /// socket stays open until `close`.
    public func hangUp() {
        writing.withLock { closed in
            if !closed { _ = shutdown(socket, Int32(SHUT_RDWR)) }
        }
    }

    /// Gives the socket back to libmicrohttpd, which closes it. Once only,
    /// when no thread reads any more (later writes return false).
    public func close() {
        let first = writing.withLock { closed in
            defer { closed = true }
            return !closed
        }
        if first { _ = CMicroHTTPD_upgrade_close(handle) }
    }
}
