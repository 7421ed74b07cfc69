#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An IPv4 or IPv6 socket address, parsed from the `HOST:PORT` / `[V6]:PORT`
/// form that configs and command lines use.
public struct SocketAddress: Hashable, Sendable, CustomStringConvertible {
    public enum Family: Sendable { case inet, inet6 }

    private enum Storage: Hashable, Sendable {
        case v4(address: UInt32, port: UInt16)  // both in host byte order
        case v6(address: [UInt8], port: UInt16, scope: UInt32)
    }
    private let storage: Storage

    /// Parses `127.0.0.1:69`, `0.0.0.0:8080`, `[::1]:2223`, `localhost:69`.
    public init(parsing text: String) throws(AddressError) {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"),
                  text[text.index(after: close)...].hasPrefix(":") else {
                throw AddressError("'\(text)' is not HOST:PORT (an IPv6 address goes in brackets: [::1]:69)")
            }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":"), text.firstIndex(of: ":") == colon else {
                throw AddressError("'\(text)' is not HOST:PORT (an IPv6 address goes in brackets: [::1]:69)")
            }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard let port = UInt16(portText) else {
            throw AddressError("'\(text)': the port must be a number from 0 to 65535")
        }
        try self.init(host: String(host), port: port)
    }

    /// A numeric address or a name from /etc/hosts (`localhost`), and a port.
    public init(host: String, port: UInt16) throws(AddressError) {
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 {
            storage = .v4(address: UInt32(bigEndian: v4.s_addr), port: port)
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, host, &v6) == 1 {
            storage = .v6(address: withUnsafeBytes(of: v6) { Array($0) }, port: port, scope: 0)
            return
        }
        if host.isEmpty {
            throw AddressError("missing host in ':\(port)' (use 0.0.0.0:\(port) for every address)")
        }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &list) == 0, let first = list else {
            throw AddressError("'\(host)' is neither an IP address nor a known host name")
        }
        defer { freeaddrinfo(list) }
        guard let address = SocketAddress(first.pointee.ai_addr, length: first.pointee.ai_addrlen) else {
            throw AddressError("'\(host)' resolves to an address that is neither IPv4 nor IPv6")
        }
        self = address.withPort(port)
    }

    /// An address the kernel filled in (recvfrom, getsockname).
    public init?(_ address: UnsafePointer<sockaddr>, length: socklen_t) {
        switch Int32(address.pointee.sa_family) {
        case AF_INET where length >= MemoryLayout<sockaddr_in>.size:
            let sin = UnsafeRawPointer(address).loadUnaligned(as: sockaddr_in.self)
            storage = .v4(address: UInt32(bigEndian: sin.sin_addr.s_addr), port: UInt16(bigEndian: sin.sin_port))
        case AF_INET6 where length >= MemoryLayout<sockaddr_in6>.size:
            let sin6 = UnsafeRawPointer(address).loadUnaligned(as: sockaddr_in6.self)
            storage = .v6(address: withUnsafeBytes(of: sin6.sin6_addr) { Array($0) },
                          port: UInt16(bigEndian: sin6.sin6_port), scope: sin6.sin6_scope_id)
        default:
            return nil
        }
    }

    private init(storage: Storage) { self.storage = storage }

    public var family: Family {
        if case .v4 = storage { return .inet }
        return .inet6
    }

    public var port: UInt16 {
        switch storage {
        case .v4(_, let port), .v6(_, let port, _): return port
        }
    }

    /// The same host with another port.
    public func withPort(_ port: UInt16) -> SocketAddress {
        switch storage {
        case .v4(let address, _): return SocketAddress(storage: .v4(address: address, port: port))
        case .v6(let address, _, let scope): return SocketAddress(storage: .v6(address: address, port: port, scope: scope))
        }
    }

    /// The numeric host, e.g. `127.0.0.1` or `::1`.
    public var host: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        switch storage {
        case .v4(let address, _):
            var v4 = in_addr(s_addr: address.bigEndian)
            inet_ntop(AF_INET, &v4, &buffer, socklen_t(buffer.count))
        case .v6(let address, _, _):
            var v6 = in6_addr()
            withUnsafeMutableBytes(of: &v6) { $0.copyBytes(from: address) }
            inet_ntop(AF_INET6, &v6, &buffer, socklen_t(buffer.count))
        }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public var description: String {
        family == .inet ? "\(host):\(port)" : "[\(host)]:\(port)"
    }

    /// Calls `body` with the C form of the address.
    @discardableResult
    public func withSockAddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws -> R) rethrows -> R {
        switch storage {
        case .v4(let address, let port):
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = port.bigEndian
            sin.sin_addr.s_addr = address.bigEndian
            return try withUnsafePointer(to: &sin) {
                try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    try body($0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        case .v6(let address, let port, let scope):
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            sin6.sin6_port = port.bigEndian
            sin6.sin6_scope_id = scope
            withUnsafeMutableBytes(of: &sin6.sin6_addr) { $0.copyBytes(from: address) }
            return try withUnsafePointer(to: &sin6) {
                try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    try body($0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
        }
    }
}

/// A listen or peer address that could not be understood.
public struct AddressError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
