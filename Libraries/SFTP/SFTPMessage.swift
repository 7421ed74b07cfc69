/// A client's request: its id and what it asks. Parsed by a server, and
/// encoded again by the coordinator, which passes requests on to agents.
public struct SFTPRequest: Sendable, Equatable {
    public var id: UInt32
    public var operation: Operation

    public enum Operation: Sendable, Equatable {
        case open(path: String, flags: SFTPOpenFlags, attributes: SFTPAttributes)
        case close(handle: [UInt8])
        case read(handle: [UInt8], offset: UInt64, length: UInt32)
        case write(handle: [UInt8], offset: UInt64, data: ArraySlice<UInt8>)
        case lstat(path: String)
        case fstat(handle: [UInt8])
        case setstat(path: String, attributes: SFTPAttributes)
        case fsetstat(handle: [UInt8], attributes: SFTPAttributes)
        case opendir(path: String)
        case readdir(handle: [UInt8])
        case remove(path: String)
        case mkdir(path: String, attributes: SFTPAttributes)
        case rmdir(path: String)
        case realpath(path: String)
        case stat(path: String)
        case rename(from: String, to: String)
        case readlink(path: String)
        case symlink(link: String, target: String)
        /// An extension request (`statvfs@openssh.com`, …): its name and the rest of the packet.
        case extended(name: String, data: ArraySlice<UInt8>)
    }

    public init(id: UInt32, _ operation: Operation) {
        self.id = id
        self.operation = operation
    }

    /// Handles are at most this long (OpenSSH's limit is 256).
    public static let maxHandle = 256

    /// Parses a packet from `SFTPFramer` (type first). An unknown type is
    /// malformed with its id, so the server can answer OP_UNSUPPORTED.
    public init(packet: [UInt8]) throws(SFTPMalformed) {
        try self.init(packet: SFTPPacketBytes(packet))
    }

    /// Parses a packet where it lies (`SFTPFramer.nextPacket`): a WRITE's
    /// data stays a slice of that storage.
    public init(packet: SFTPPacketBytes) throws(SFTPMalformed) {
        var reader = SFTPReader(packet)
        let typeByte = try reader.byte()
        let id = try reader.uint32()
        func handle() throws(SFTPMalformed) -> [UInt8] {
            let raw = try reader.string()
            guard raw.count <= Self.maxHandle else { throw SFTPMalformed("a handle of \(raw.count) bytes", id: id) }
            return Array(raw)
        }
        guard let type = SFTPPacketType(rawValue: typeByte) else {
            throw SFTPMalformed("unknown request type \(typeByte)", id: id)
        }
        do throws(SFTPMalformed) {
            switch type {
            case .open:
                let path = try reader.text()
                let flags = SFTPOpenFlags(rawValue: try reader.uint32())
                operation = .open(path: path, flags: flags, attributes: try SFTPAttributes(reading: &reader))
            case .close: operation = .close(handle: try handle())
            case .read: operation = .read(handle: try handle(), offset: try reader.uint64(), length: try reader.uint32())
            case .write:
                let handle = try handle()
                let offset = try reader.uint64()
                operation = .write(handle: handle, offset: offset, data: try reader.string())
            case .lstat: operation = .lstat(path: try reader.text())
            case .fstat: operation = .fstat(handle: try handle())
            case .setstat: operation = .setstat(path: try reader.text(), attributes: try SFTPAttributes(reading: &reader))
            case .fsetstat: operation = .fsetstat(handle: try handle(), attributes: try SFTPAttributes(reading: &reader))
            case .opendir: operation = .opendir(path: try reader.text())
            case .readdir: operation = .readdir(handle: try handle())
            case .remove: operation = .remove(path: try reader.text())
            case .mkdir: operation = .mkdir(path: try reader.text(), attributes: try SFTPAttributes(reading: &reader))
            case .rmdir: operation = .rmdir(path: try reader.text())
            case .realpath: operation = .realpath(path: try reader.text())
            case .stat: operation = .stat(path: try reader.text())
            case .rename: operation = .rename(from: try reader.text(), to: try reader.text())
            case .readlink: operation = .readlink(path: try reader.text())
            case .symlink: operation = .symlink(link: try reader.text(), target: try reader.text())
            case .extended:
                let name = try reader.text()
                operation = .extended(name: name, data: reader.bytes[reader.offset..<reader.end])
            default:
                throw SFTPMalformed("type \(typeByte) is not a request", id: id)
            }
        } catch {
            throw SFTPMalformed(error.description, id: id)
        }
        self.id = id
    }

    /// The packet, length first.
    public var packet: [UInt8] {
        switch operation {
        case .open(let path, let flags, let attributes):
            return encode(.open) { $0.text(path); $0.uint32(flags.rawValue); attributes.write(to: &$0) }
        case .close(let handle): return encode(.close) { $0.string(handle) }
        case .read(let handle, let offset, let length):
            return encode(.read) { $0.string(handle); $0.uint64(offset); $0.uint32(length) }
        case .write(let handle, let offset, let data):
            return encode(.write, capacity: data.count + 64) { $0.string(handle); $0.uint64(offset); $0.string(data) }
        case .lstat(let path): return encode(.lstat) { $0.text(path) }
        case .fstat(let handle): return encode(.fstat) { $0.string(handle) }
        case .setstat(let path, let attributes): return encode(.setstat) { $0.text(path); attributes.write(to: &$0) }
        case .fsetstat(let handle, let attributes): return encode(.fsetstat) { $0.string(handle); attributes.write(to: &$0) }
        case .opendir(let path): return encode(.opendir) { $0.text(path) }
        case .readdir(let handle): return encode(.readdir) { $0.string(handle) }
        case .remove(let path): return encode(.remove) { $0.text(path) }
        case .mkdir(let path, let attributes): return encode(.mkdir) { $0.text(path); attributes.write(to: &$0) }
        case .rmdir(let path): return encode(.rmdir) { $0.text(path) }
        case .realpath(let path): return encode(.realpath) { $0.text(path) }
        case .stat(let path): return encode(.stat) { $0.text(path) }
        case .rename(let from, let to): return encode(.rename) { $0.text(from); $0.text(to) }
        case .readlink(let path): return encode(.readlink) { $0.text(path) }
        case .symlink(let link, let target): return encode(.symlink) { $0.text(link); $0.text(target) }
        case .extended(let name, let data): return encode(.extended) { $0.text(name); $0.append(data) }
        }
    }

    /// The packet as pieces to send one after the other: a WRITE's data is
    /// the request's own (shared with the packet it was read from, so a
    /// proxy does not copy 255 KiB per request); other requests are
    /// `packet`, whole.
    public var pieces: [ArraySlice<UInt8>] {
        guard case .write(let handle, let offset, let data) = operation else { return [packet[...]] }
        let head = encode(.write, following: data.count) {
            $0.string(handle)
            $0.uint64(offset)
            $0.uint32(UInt32(data.count))
        }
        return [head[...], data]
    }

    private func encode(_ type: SFTPPacketType, capacity: Int = 64, following: Int = 0,
                        _ body: (inout SFTPWriter) -> Void) -> [UInt8] {
        SFTPWriter.packet(type, capacity: capacity, following: following) { writer in
            writer.uint32(id)
            body(&writer)
        }
    }
}

/// One entry of a NAME reply.
public struct SFTPName: Sendable, Equatable {
    public var filename: String
    /// What `ls -l` prints for it.
    public var longname: String
    public var attributes: SFTPAttributes

    public init(filename: String, longname: String, attributes: SFTPAttributes) {
        self.filename = filename
        self.longname = longname
        self.attributes = attributes
    }
}

/// The server's replies, as whole packets.
public enum SFTPReply {
    public static func status(_ id: UInt32, _ code: SFTPStatusCode, _ message: String = "") -> [UInt8] {
        SFTPWriter.packet(.status) {
            $0.uint32(id)
            $0.uint32(code.rawValue)
            $0.text(message.isEmpty ? Self.defaultMessage(code) : message)
            $0.text("en")
        }
    }

    public static func handle(_ id: UInt32, _ handle: [UInt8]) -> [UInt8] {
        SFTPWriter.packet(.handle) { $0.uint32(id); $0.string(handle) }
    }

    public static func data(_ id: UInt32, _ bytes: ArraySlice<UInt8>) -> [UInt8] {
        SFTPWriter.packet(.data, capacity: bytes.count + 16) { $0.uint32(id); $0.string(bytes) }
    }

    public static func names(_ id: UInt32, _ names: [SFTPName]) -> [UInt8] {
        SFTPWriter.packet(.name) {
            $0.uint32(id)
            $0.uint32(UInt32(names.count))
            for name in names {
                $0.text(name.filename)
                $0.text(name.longname)
                name.attributes.write(to: &$0)
            }
        }
    }

    public static func attributes(_ id: UInt32, _ attributes: SFTPAttributes) -> [UInt8] {
        SFTPWriter.packet(.attributes) { $0.uint32(id); attributes.write(to: &$0) }
    }

    public static func extended(_ id: UInt32, _ body: (inout SFTPWriter) -> Void) -> [UInt8] {
        SFTPWriter.packet(.extendedReply) { $0.uint32(id); body(&$0) }
    }

    public static func version(_ extensions: [(String, String)]) -> [UInt8] {
        SFTPWriter.packet(.version) {
            $0.uint32(3)
            for (name, data) in extensions {
                $0.text(name)
                $0.text(data)
            }
        }
    }

    static func defaultMessage(_ code: SFTPStatusCode) -> String {
        switch code {
        case .ok: "Success"
        case .eof: "End of file"
        case .noSuchFile: "No such file"
        case .permissionDenied: "Permission denied"
        case .failure: "Failure"
        case .badMessage: "Bad message"
        case .noConnection: "No connection"
        case .connectionLost: "Connection lost"
        case .operationUnsupported: "Operation unsupported"
        }
    }
}

/// What a reply packet (from `SFTPFramer`) starts with: its type and the id
/// of the request it answers; for a HANDLE reply, the handle.
public struct SFTPReplyHead: Sendable {
    public var type: UInt8
    public var id: UInt32
    public var handle: [UInt8]?
    public var status: (code: UInt32, message: String)?

    public init(packet: [UInt8]) throws(SFTPMalformed) {
        try self.init(packet: SFTPPacketBytes(packet))
    }

    public init(packet: SFTPPacketBytes) throws(SFTPMalformed) {
        var reader = SFTPReader(packet)
        type = try reader.byte()
        id = try reader.uint32()
        if type == SFTPPacketType.handle.rawValue {
            let raw = try reader.string()
            guard raw.count <= SFTPRequest.maxHandle else { throw SFTPMalformed("a handle of \(raw.count) bytes", id: id) }
            handle = Array(raw)
        } else if type == SFTPPacketType.status.rawValue {
            let code = try reader.uint32()
            let message = (try? reader.text()) ?? ""
            status = (code, message)
        }
    }
}
