#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SystemSupport

/// A TCP socket bound to `address` and listening; returns it with the
/// address the kernel bound (port 0: it picks one).
func makeListeningSocket(_ address: SocketAddress, backlog: Int32) throws -> (descriptor: Int32, bound: SocketAddress) {
    let domain = address.family == .inet ? AF_INET : AF_INET6
    let fd = try systemCall("socket") { socket(domain, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
    do {
        var one: Int32 = 1
        try systemCall("setsockopt SO_REUSEADDR") {
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        if address.family == .inet6 {
            // [::]:8080 serves IPv6 only; list 0.0.0.0:8080 as well for IPv4.
            try systemCall("setsockopt IPV6_V6ONLY") {
                setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size))
            }
        }
        try address.withSockAddr { sa, length in
            try systemCall("bind \(address)") { bind(fd, sa, length) }
        }
        try systemCall("listen \(address)") { listen(fd, backlog) }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let bound = try withUnsafeMutablePointer(to: &storage) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                try systemCall("getsockname") { getsockname(fd, sa, &length) }
                return SocketAddress(sa, length: length)
            }
        }
        return (fd, bound ?? address)
    } catch {
        close(fd)
        throw error
    }
}
