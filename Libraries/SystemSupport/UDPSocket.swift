#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSystemSupport

/// A UDP socket, owned: closed when the last reference goes.
public final class UDPSocket: Sendable {
    public let descriptor: Int32

    /// A socket bound to `address` (port 0: the kernel picks one).
    public init(boundTo address: SocketAddress, reuseAddress: Bool = false) throws {
        let domain = address.family == .inet ? AF_INET : AF_INET6
        descriptor = try systemCall("socket") { socket(domain, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        do {
            if reuseAddress { try setOption(SOL_SOCKET, SO_REUSEADDR, 1) }
            if address.family == .inet6 {
                // [::]:69 serves IPv6 only; list 0.0.0.0:69 as well for IPv4.
                try setOption(Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1)
            }
            try address.withSockAddr { sa, length in
                try systemCall("bind \(address)") { bind(descriptor, sa, length) }
            }
        } catch {
            // Not closed here: the init of a class whose properties are all
            // set runs its deinit as it throws, and that closes it (closing
            // it here too closed the number again, maybe another thread's file).
            throw error
        }
    }

    deinit { close(descriptor) }

    /// The address the kernel bound, with the port it chose.
    public func localAddress() throws -> SocketAddress {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = try withUnsafeMutablePointer(to: &storage) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                try systemCall("getsockname") { getsockname(descriptor, sa, &length) }
            }
        }
        return withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { SocketAddress($0, length: length)! }
        }
    }

    /// Only datagrams from `peer` are received from now on; `send` goes there.
    public func connect(to peer: SocketAddress) throws {
        try peer.withSockAddr { sa, length in
            try systemCall("connect \(peer)") { Glibc.connect(descriptor, sa, length) }
        }
    }

    public func setOption(_ level: Int32, _ name: Int32, _ value: Int32) throws {
        var value = value
        try systemCall("setsockopt") {
            setsockopt(descriptor, level, name, &value, socklen_t(MemoryLayout<Int32>.size))
        }
    }

    /// How long `receive` waits before it returns nil; nil waits forever.
    public func setReceiveTimeout(microseconds: Int?) throws {
        let us = microseconds ?? 0
        var tv = timeval(tv_sec: us / 1_000_000, tv_usec: us % 1_000_000)
        try systemCall("setsockopt SO_RCVTIMEO") {
            setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        }
    }

    /// Receives one datagram on a connected socket; nil when the receive
    /// timeout passed first. A datagram longer than the buffer is cut.
    public func receive(into buffer: UnsafeMutableRawBufferPointer) throws -> Int? {
        while true {
            let n = recv(descriptor, buffer.baseAddress, buffer.count, 0)
            if n >= 0 { return n }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return nil
            // An ICMP port unreachable from the peer surfaces here: it is gone.
            default: throw SystemError("recv")
            }
        }
    }

    /// Receives one datagram and says who sent it.
    public func receiveFrom(into buffer: UnsafeMutableRawBufferPointer) throws -> (count: Int, sender: SocketAddress)? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        while true {
            let n = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    recvfrom(descriptor, buffer.baseAddress, buffer.count, 0, $0, &length)
                }
            }
            if n >= 0 {
                let sender = withUnsafePointer(to: &storage) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { SocketAddress($0, length: length) }
                }
                guard let sender else { continue }
                return (n, sender)
            }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return nil
            default: throw SystemError("recvfrom")
            }
        }
    }

    /// Sends one datagram on a connected socket.
    public func send(_ bytes: UnsafeRawBufferPointer) throws {
        try systemCall("send") { Glibc.send(descriptor, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Sends one datagram to `peer`.
    public func send(_ bytes: UnsafeRawBufferPointer, to peer: SocketAddress) throws {
        try peer.withSockAddr { sa, length in
            try systemCall("sendto \(peer)") {
                sendto(descriptor, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL), sa, length)
            }
        }
    }

    /// Sends several datagrams on a connected socket, with as few system
    /// calls as the kernel allows (sendmmsg). Returns how many went out.
    public func send(datagrams: UnsafeMutablePointer<CSystemSupport_datagram>, count: Int) throws -> Int {
        let sent = CSystemSupport_send_datagrams(descriptor, datagrams, UInt32(count))
        if sent < 0 { throw SystemError("sendmmsg") }
        return Int(sent)
    }
}
