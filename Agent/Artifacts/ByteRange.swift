/// The `Range` header of a GET, applied to a file of a known size (RFC 9110
/// §14). Only single ranges are served; a list of ranges gets the whole file,
/// as the RFC allows.
public enum ByteRangeRequest: Equatable, Sendable {
    /// No usable Range header: send everything with 200.
    case whole
    /// Send `start...end` (inclusive) with 206.
    case partial(start: UInt64, end: UInt64)
    /// 416 with `Content-Range: bytes */SIZE`.
    case unsatisfiable

    /// Reads `header` (e.g. `bytes=0-499`, `bytes=500-`, `bytes=-500`) for a
    /// file of `size` bytes. A malformed header is ignored (whole file).
    public init(header: String?, size: UInt64) {
        guard let header else { self = .whole; return }
        let trimmed = header.trimmingSpaces()
        guard trimmed.lowercased().hasPrefix("bytes=") else { self = .whole; return }
        let spec = trimmed.dropFirst(6).trimmingSpaces()
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { self = .whole; return }
        let first = spec[..<dash].trimmingSpaces()
        let last = spec[spec.index(after: dash)...].trimmingSpaces()
        if first.isEmpty {
            // A suffix: the last N bytes.
            guard let count = UInt64(last) else { self = .whole; return }
            guard count > 0, size > 0 else { self = .unsatisfiable; return }
            self = .partial(start: size - min(count, size), end: size - 1)
            return
        }
        guard let start = UInt64(first) else { self = .whole; return }
        var end = size &- 1
        if !last.isEmpty {
            guard let value = UInt64(last), value >= start else { self = .whole; return }
            end = min(value, size &- 1)
        }
        guard start < size else { self = .unsatisfiable; return }
        self = .partial(start: start, end: end)
    }
}

/// An entity tag for a file: changes whenever the file is replaced (inode)
/// or changed in place (size, modification time).
public func entityTag(inode: UInt64, size: UInt64, modifiedNanoseconds: Int64) -> String {
    "\"\(String(inode, radix: 16))-\(String(size, radix: 16))-\(String(modifiedNanoseconds, radix: 16))\""
}

/// Whether an `If-None-Match` header matches `tag` (weak comparison, as
/// RFC 9110 §13.1.2 asks for GET and HEAD).
public func noneMatchHits(_ header: String, tag: String) -> Bool {
    let strip: (Substring) -> Substring = { $0.hasPrefix("W/") ? $0.dropFirst(2) : $0 }
    for candidate in header.split(separator: ",") {
        let value = candidate.trimmingSpaces()
        if value == "*" || strip(value) == strip(tag[...]) { return true }
    }
    return false
}

extension StringProtocol {
    func trimmingSpaces() -> SubSequence {
        var text = self[...]
        while let first = text.first, first == " " || first == "\t" { text = text.dropFirst() }
        while let last = text.last, last == " " || last == "\t" { text = text.dropLast() }
        return text
    }
}
