/// SFTP version 3 (draft-ietf-secsh-filexfer-02, what OpenSSH speaks) on the
/// wire: packet types, status codes, and a reader and a writer for its
/// integers and strings. Every length read from a packet is checked against
/// what the packet holds before it is used: a hostile client gets
/// `SFTPMalformed`, never a trap.

public enum SFTPPacketType: UInt8, Sendable {
    case initialize = 1, version = 2
    case open = 3, close = 4, read = 5, write = 6, lstat = 7, fstat = 8, setstat = 9, fsetstat = 10
    case opendir = 11, readdir = 12, remove = 13, mkdir = 14, rmdir = 15, realpath = 16, stat = 17
    case rename = 18, readlink = 19, symlink = 20
    case status = 101, handle = 102, data = 103, name = 104, attributes = 105
    case extended = 200, extendedReply = 201
}

public enum SFTPStatusCode: UInt32, Sendable {
    case ok = 0, eof = 1, noSuchFile = 2, permissionDenied = 3, failure = 4, badMessage = 5
    case noConnection = 6, connectionLost = 7, operationUnsupported = 8
}

/// SSH_FXF_* flags of an open request.
public struct SFTPOpenFlags: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let read = SFTPOpenFlags(rawValue: 0x01)
    public static let write = SFTPOpenFlags(rawValue: 0x02)
    public static let append = SFTPOpenFlags(rawValue: 0x04)
    public static let create = SFTPOpenFlags(rawValue: 0x08)
    public static let truncate = SFTPOpenFlags(rawValue: 0x10)
    public static let exclusive = SFTPOpenFlags(rawValue: 0x20)
}

/// A packet that does not parse; `id` when it was read before the fault
/// (the reply is then a BAD_MESSAGE status for it).
public struct SFTPMalformed: Error, Sendable, CustomStringConvertible {
    public var id: UInt32?
    public var description: String

    public init(_ description: String, id: UInt32? = nil) {
        self.description = description
        self.id = id
    }
}

/// Reads a packet's fields front to back.
public struct SFTPReader: Sendable {
    public let bytes: [UInt8]
    public private(set) var offset: Int
    /// Where the packet ends in `bytes`: nothing past it is read.
    public let end: Int

    public init(_ bytes: [UInt8], offset: Int = 0) {
        self.init(SFTPPacketBytes(storage: bytes, range: min(max(0, offset), bytes.count)..<bytes.count))
    }

    /// Reads `packet.range` of its storage only.
    public init(_ packet: SFTPPacketBytes) {
        bytes = packet.storage
        offset = packet.range.lowerBound
        end = packet.range.upperBound
    }

    public var remaining: Int { end - offset }

    public mutating func byte() throws(SFTPMalformed) -> UInt8 {
        guard remaining >= 1 else { throw SFTPMalformed("the packet ends inside a byte field") }
        defer { offset += 1 }
        return bytes[offset]
    }

    public mutating func uint32() throws(SFTPMalformed) -> UInt32 {
        guard remaining >= 4 else { throw SFTPMalformed("the packet ends inside a 32-bit field") }
        defer { offset += 4 }
        return bytes[offset..<offset + 4].reduce(0) { $0 << 8 | UInt32($1) }
    }

    public mutating func uint64() throws(SFTPMalformed) -> UInt64 {
        guard remaining >= 8 else { throw SFTPMalformed("the packet ends inside a 64-bit field") }
        defer { offset += 8 }
        return bytes[offset..<offset + 8].reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// A string's bytes: its 32-bit length is checked against what is left.
    public mutating func string() throws(SFTPMalformed) -> ArraySlice<UInt8> {
        let length = try uint32()
        guard UInt64(length) <= UInt64(remaining) else {
            throw SFTPMalformed("a string of \(length) bytes where \(remaining) are left")
        }
        let count = Int(length)
        defer { offset += count }
        return bytes[offset..<offset + count]
    }

    /// A string that must be UTF-8 (paths and names) without NUL.
    public mutating func text() throws(SFTPMalformed) -> String {
        let raw = try string()
        guard !raw.contains(0), let text = String(validating: raw, as: UTF8.self) else {
            throw SFTPMalformed("a name that is not UTF-8 text")
        }
        return text
    }
}

/// A packet (type and body) as `range` of `storage`.
public struct SFTPPacketBytes: Sendable {
    public let storage: [UInt8]
    public let range: Range<Int>

    public init(storage: [UInt8], range: Range<Int>) {
        self.storage = storage
        self.range = range
    }

    public init(_ packet: [UInt8]) { self.init(storage: packet, range: 0..<packet.count) }

    /// The packet as it goes on the wire, its length in front (one copy).
    public var framed: [UInt8] {
        var writer = SFTPWriter(capacity: 4 + range.count)
        writer.string(storage[range])
        return writer.bytes
    }
}

/// Builds a packet; `packet(_:)` puts the length and type in front.
public struct SFTPWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 64) { bytes.reserveCapacity(capacity) }

    public mutating func byte(_ value: UInt8) { bytes.append(value) }

    public mutating func uint32(_ value: UInt32) {
        bytes.append(contentsOf: [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)])
    }

    public mutating func uint64(_ value: UInt64) {
        uint32(UInt32(value >> 32))
        uint32(UInt32(value & 0xffff_ffff))
    }

    public mutating func string<Bytes: Collection>(_ value: Bytes) where Bytes.Element == UInt8 {
        uint32(UInt32(value.count))
        bytes.append(contentsOf: value)
    }

    public mutating func text(_ value: String) { string(Array(value.utf8)) }

    /// Raw bytes, without a length.
    public mutating func append<Bytes: Collection>(_ value: Bytes) where Bytes.Element == UInt8 { bytes.append(contentsOf: value) }

    /// The whole packet: length, type, then what was written.
    /// `following`: bytes the caller sends right after these, which the
    /// length counts (a WRITE's data, passed on without copying it here).
    public static func packet(_ type: SFTPPacketType, capacity: Int = 64, following: Int = 0,
                              _ body: (inout SFTPWriter) -> Void) -> [UInt8] {
        var writer = SFTPWriter(capacity: capacity)
        writer.uint32(0)
        writer.byte(type.rawValue)
        body(&writer)
        let length = UInt32(writer.bytes.count - 4 + following)
        writer.bytes[0] = UInt8(length >> 24)
        writer.bytes[1] = UInt8(length >> 16 & 0xff)
        writer.bytes[2] = UInt8(length >> 8 & 0xff)
        writer.bytes[3] = UInt8(length & 0xff)
        return writer.bytes
    }
}

/// Cuts a byte stream into packets. A length past `maxPacket` ends the
/// session: nothing sane sends one, and buffering it is what an attacker wants.
public struct SFTPFramer: Sendable {
    /// OpenSSH's SFTP_MAX_MSG_LENGTH.
    public static let maxPacket = 256 * 1024
    private var buffer: [UInt8] = []
    private var start = 0

    public init() {}

    public mutating func append<Bytes: Collection>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        if start > 0 && start >= buffer.count / 2 {
            buffer.removeFirst(start)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// Takes `bytes` over without copying them when nothing else waits
    /// (the last packet ended where the last bytes did). When part of a
    /// packet waits, `bytes` are copied after it: a channel hands over all
    /// it holds, so a 255 KiB WRITE that arrives with the start of the
    /// next one makes the next one copied here.
    public mutating func append(_ bytes: [UInt8]) {
        if start == buffer.count {
            buffer = bytes
            start = 0
        } else {
            append(bytes[...])
        }
    }

    /// The next whole packet (type and body, without the length), if it came.
    public mutating func next() throws(SFTPMalformed) -> [UInt8]? {
        try nextPacket().map { Array($0.storage[$0.range]) }
    }

    /// The next whole packet, where it lies in the framer's storage (shared,
    /// not copied; the storage is copied only if it is still held when more
    /// is appended).
    public mutating func nextPacket() throws(SFTPMalformed) -> SFTPPacketBytes? {
        guard buffer.count - start >= 4 else { return nil }
        let length = buffer[start..<start + 4].reduce(0) { $0 << 8 | UInt32($1) }
        guard length >= 1 else { throw SFTPMalformed("a packet of length 0") }
        guard length <= UInt32(Self.maxPacket) else {
            throw SFTPMalformed("a packet of \(length) bytes (at most \(Self.maxPacket))")
        }
        let count = Int(length)
        guard buffer.count - start - 4 >= count else { return nil }
        defer { start += 4 + count }
        return SFTPPacketBytes(storage: buffer, range: start + 4..<start + 4 + count)
    }

    /// Bytes waiting that are not a whole packet yet.
    public var pending: Int { buffer.count - start }

    /// Bytes still to come before the next packet is whole (at least 1;
    /// a length past the limit counts as 1: `next` refuses it).
    public var needed: Int {
        let waiting = buffer.count - start
        guard waiting >= 4 else { return 4 - waiting }
        let length = buffer[start..<start + 4].reduce(0) { $0 << 8 | UInt32($1) }
        guard length <= UInt32(Self.maxPacket) else { return 1 }
        return max(1, 4 + Int(length) - waiting)
    }
}

/// File attributes (ATTRS): only the fields whose flag is set.
public struct SFTPAttributes: Sendable, Equatable {
    public var size: UInt64?
    public var owner: (uid: UInt32, gid: UInt32)?
    public var permissions: UInt32?
    public var times: (access: UInt32, modified: UInt32)?

    static let sizeFlag: UInt32 = 0x1, ownerFlag: UInt32 = 0x2, permissionsFlag: UInt32 = 0x4, timesFlag: UInt32 = 0x8
    static let extendedFlag: UInt32 = 0x8000_0000

    public init(size: UInt64? = nil, permissions: UInt32? = nil, modified: UInt32? = nil) {
        self.size = size
        self.permissions = permissions
        times = modified.map { ($0, $0) }
    }

    public static let folderMode: UInt32 = 0o040755
    public static let fileMode: UInt32 = 0o100644

    public static func == (a: SFTPAttributes, b: SFTPAttributes) -> Bool {
        a.size == b.size && a.owner?.uid == b.owner?.uid && a.owner?.gid == b.owner?.gid && a.permissions == b.permissions
            && a.times?.access == b.times?.access && a.times?.modified == b.times?.modified
    }

    public init(reading reader: inout SFTPReader) throws(SFTPMalformed) {
        let flags = try reader.uint32()
        if flags & Self.sizeFlag != 0 { size = try reader.uint64() }
        if flags & Self.ownerFlag != 0 { owner = (try reader.uint32(), try reader.uint32()) }
        if flags & Self.permissionsFlag != 0 { permissions = try reader.uint32() }
        if flags & Self.timesFlag != 0 { times = (try reader.uint32(), try reader.uint32()) }
        if flags & Self.extendedFlag != 0 {
            // Read past and dropped; each pair takes at least 8 bytes, so a
            // huge count runs out of packet, not of time.
            let count = try reader.uint32()
            for _ in 0..<count {
                _ = try reader.string()
                _ = try reader.string()
            }
        }
    }

    public func write(to writer: inout SFTPWriter) {
        var flags: UInt32 = 0
        if size != nil { flags |= Self.sizeFlag }
        if owner != nil { flags |= Self.ownerFlag }
        if permissions != nil { flags |= Self.permissionsFlag }
        if times != nil { flags |= Self.timesFlag }
        writer.uint32(flags)
        if let size { writer.uint64(size) }
        if let owner { writer.uint32(owner.uid); writer.uint32(owner.gid) }
        if let permissions { writer.uint32(permissions) }
        if let times { writer.uint32(times.access); writer.uint32(times.modified) }
    }

    public var isFolder: Bool { (permissions ?? 0) & 0o170000 == 0o040000 }
}
