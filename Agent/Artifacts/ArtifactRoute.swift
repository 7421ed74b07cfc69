/// Which artifact space a request names.
public enum ArtifactSpace: Hashable, Sendable, CustomStringConvertible {
    /// `/u/USER/…`: DATA_DIR/users/USER, written with USER's token.
    case user(String)
    /// `/shared/…`: DATA_DIR/shared (flasher images), read-only over HTTP.
    case shared

    public var description: String {
        switch self {
        case .user(let name): return "/u/\(name)/"
        case .shared: return "/shared/"
        }
    }
}

/// A request target, decoded and checked: the space, the path inside it as
/// components, and the query.
///
/// The raw target is parsed here (not libmicrohttpd's decoded URL), so that
/// `%00`, `%2f` and `%2e%2e` are seen for what they are and refused.
public struct ArtifactRoute: Equatable, Sendable {
    public static let maxTargetLength = 2048
    public static let maxPathLength = 1024
    /// Leaves room for the hidden sidecar and temp names beside a file.
    public static let maxComponentLength = 200

    public var space: ArtifactSpace
    /// The path below the space's folder; empty for the folder itself.
    public var components: [String]
    /// The target ended with `/`: a folder (listings).
    public var namesFolder: Bool
    public var query: [String: String]

    public var path: String { components.joined(separator: "/") }

    public init(space: ArtifactSpace, components: [String], namesFolder: Bool = false, query: [String: String] = [:]) {
        self.space = space
        self.components = components
        self.namesFolder = namesFolder
        self.query = query
    }

    /// Parses a request target such as `/u/alice/images/rootfs.img?sha256=…`.
    public init(target: String) throws(ArtifactRefusal) {
        guard target.utf8.count <= Self.maxTargetLength else {
            throw ArtifactRefusal(414, "the request target is longer than \(Self.maxTargetLength) bytes")
        }
        guard target.hasPrefix("/") else {
            throw .badRequest("the request target must be a path starting with '/'")
        }
        let rawPath: Substring
        var query: [String: String] = [:]
        if let mark = target.firstIndex(of: "?") {
            rawPath = target[..<mark]
            query = try Self.parseQuery(target[target.index(after: mark)...])
        } else {
            rawPath = target[...]
        }
        var segments = rawPath.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        let namesFolder = segments.last?.isEmpty ?? true
        if namesFolder && !segments.isEmpty { segments.removeLast() }
        var decoded: [String] = []
        for segment in segments {
            let name = try Self.decode(segment)
            guard !name.isEmpty else { throw .badRequest("empty path component (a '//' or an absolute path) in '\(target)'") }
            guard !name.contains("/") else { throw .badRequest("an encoded '/' (%2F) is not allowed in '\(target)'") }
            guard name != ".." && name != "." else { throw .badRequest("'\(name)' is not allowed in '\(target)'") }
            guard name.utf8.count <= Self.maxComponentLength else {
                throw ArtifactRefusal(414, "a path component is longer than \(Self.maxComponentLength) bytes")
            }
            decoded.append(name)
        }
        guard decoded.reduce(0, { $0 + $1.utf8.count + 1 }) <= Self.maxPathLength else {
            throw ArtifactRefusal(414, "the path is longer than \(Self.maxPathLength) bytes")
        }
        guard let first = decoded.first else { throw .notFound("nothing at '/': artifacts are under /u/USER/ and /shared/") }
        switch first {
        case "u":
            guard decoded.count >= 2 else { throw .notFound("'/u/' needs a user name: /u/USER/NAME") }
            let user = decoded[1]
            guard Self.isValidUserName(user) else {
                throw .badRequest("'\(user)' is not a user name (a-z, 0-9, '.', '_', '-'; not starting with '.')")
            }
            self.init(space: .user(user), components: Array(decoded.dropFirst(2)),
                      namesFolder: namesFolder || decoded.count == 2, query: query)
        case "shared":
            self.init(space: .shared, components: Array(decoded.dropFirst()),
                      namesFolder: namesFolder || decoded.count == 1, query: query)
        default:
            throw .notFound("nothing at '/\(first)': artifacts are under /u/USER/ and /shared/")
        }
        if let hidden = components.first(where: { $0.hasPrefix(".") }) {
            throw .forbidden("names starting with '.' are reserved ('\(hidden)')")
        }
    }

    /// A file in a user's space named as a user types it (`upload BOARD
    /// NAME`, `rm BOARD NAME`): `images/rootfs.img` is fine; `..`, `.x`, an
    /// absolute path, empty parts and control characters are refused.
    public init(user: String, name: String) throws(ArtifactRefusal) {
        guard Self.isValidUserName(user) else {
            throw .badRequest("'\(user)' is not a user name (a-z, 0-9, '.', '_', '-'; not starting with '.')")
        }
        guard !name.isEmpty else { throw .badRequest("the name is empty") }
        guard !name.hasPrefix("/") else { throw .badRequest("'\(name)': names are relative to your space, not absolute paths") }
        guard name.utf8.count <= Self.maxPathLength else { throw ArtifactRefusal(414, "the name is longer than \(Self.maxPathLength) bytes") }
        var components: [String] = []
        for part in name.split(separator: "/", omittingEmptySubsequences: false) {
            guard !part.isEmpty else { throw .badRequest("'\(name)': empty path component") }
            guard part != ".." && part != "." else { throw .badRequest("'\(part)' is not allowed in '\(name)'") }
            guard !part.hasPrefix(".") else { throw .forbidden("names starting with '.' are reserved ('\(part)')") }
            guard part.utf8.count <= Self.maxComponentLength else {
                throw ArtifactRefusal(414, "a path component is longer than \(Self.maxComponentLength) bytes")
            }
            guard part.utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x7f }) else {
                throw .badRequest("control characters are not allowed in a name")
            }
            components.append(String(part))
        }
        self.init(space: .user(user), components: components)
    }

    /// User names as DESIGN.md sanitises key comments: `[a-z0-9._-]`, at most 64.
    public static func isValidUserName(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 64, !name.hasPrefix(".") else { return false }
        return name.utf8.allSatisfy { byte in
            (byte >= 0x61 && byte <= 0x7a) || (byte >= 0x30 && byte <= 0x39) || byte == 0x2e || byte == 0x5f || byte == 0x2d
        }
    }

    /// Percent-decodes one path segment or query part. Refuses bad escapes,
    /// NUL and other control bytes, and what is not UTF-8.
    static func decode(_ text: Substring, plusIsSpace: Bool = false) throws(ArtifactRefusal) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            var value = byte
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                    throw .badRequest("a bad percent escape in '\(text)'")
                }
                value = high << 4 | low
            } else if byte == UInt8(ascii: "+") && plusIsSpace {
                value = 0x20
            }
            guard value >= 0x20 && value != 0x7f else {
                throw .badRequest(value == 0 ? "a NUL byte is not allowed in a name" : "control characters are not allowed in a name")
            }
            bytes.append(value)
        }
        guard let string = String(validating: bytes, as: UTF8.self) else {
            throw .badRequest("a name must be UTF-8")
        }
        return string
    }

    private static func parseQuery(_ text: Substring) throws(ArtifactRefusal) -> [String: String] {
        var query: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = try decode(parts[0], plusIsSpace: true)
            query[key] = parts.count > 1 ? try decode(parts[1], plusIsSpace: true) : ""
        }
        return query
    }
}

private func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
    default: return nil
    }
}
