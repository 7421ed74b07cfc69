/// An `http://HOST[:PORT]/PATH` URL: all the flasher's small client speaks.
/// HTTPS is refused with a clear message (the agent serves plain HTTP).
public struct HTTPURL: Equatable, Sendable, CustomStringConvertible {
    /// A name, an IPv4 address, or an IPv6 address without brackets.
    public let host: String
    public let port: UInt16
    /// The path and query, starting with "/".
    public let target: String

    public init(parsing text: String) throws(FlasherError) {
        func refuse(_ why: String) -> FlasherError { FlasherError(.configuration, "URL '\(text)': \(why)") }
        guard text.utf8.count <= 4096 else { throw FlasherError(.configuration, "a URL longer than 4096 bytes") }
        guard text.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) else {
            throw refuse("spaces, control characters and non-ASCII must be percent-encoded")
        }
        let lowered = text.lowercased()
        if lowered.hasPrefix("https://") { throw refuse("HTTPS is not supported by the flasher, use http://") }
        guard lowered.hasPrefix("http://") else { throw refuse("must start with http://") }
        var rest = Substring(text.dropFirst("http://".count))
        if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var path = String(rest[authorityEnd...])
        if path.isEmpty || path.hasPrefix("?") { path = "/" + path }
        guard !authority.contains("@") else { throw refuse("user names and passwords are not supported") }
        var hostPart = authority
        var portPart: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw refuse("an IPv6 address needs its closing ']'") }
            hostPart = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw refuse("unexpected text after the IPv6 address") }
                portPart = after.dropFirst()
            }
        } else if let colon = authority.firstIndex(of: ":") {
            hostPart = authority[..<colon]
            portPart = authority[authority.index(after: colon)...]
        }
        guard !hostPart.isEmpty else { throw refuse("no host") }
        guard authority.hasPrefix("[") || hostPart.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" }) else {
            throw refuse("the host '\(hostPart)' has characters a host name cannot have")
        }
        var port: UInt16 = 80
        if let portPart {
            guard let value = UInt16(portPart), value > 0 else { throw refuse("the port must be a number from 1 to 65535") }
            port = value
        }
        self.host = String(hostPart)
        self.port = port
        self.target = path
    }

    public init(host: String, port: UInt16, target: String) {
        self.host = host
        self.port = port
        self.target = target
    }

    /// The Host header's value.
    public var hostHeader: String {
        let name = host.contains(":") ? "[\(host)]" : host
        return port == 80 ? name : "\(name):\(port)"
    }

    public var description: String { "http://\(hostHeader)\(target)" }

    /// This URL with `/component` added to its path (before any query).
    public func appendingPathComponent(_ component: String) -> HTTPURL {
        var path = target
        var query = ""
        if let mark = path.firstIndex(of: "?") {
            query = String(path[mark...])
            path = String(path[..<mark])
        }
        while path.hasSuffix("/") { path.removeLast() }
        return HTTPURL(host: host, port: port, target: path + "/" + component + query)
    }
}
