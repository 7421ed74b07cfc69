/// TFTP packets (RFC 1350, with the option extension of RFC 2347).

public enum TFTPOpcode: UInt16, Sendable {
    case readRequest = 1
    case writeRequest = 2
    case data = 3
    case acknowledgement = 4
    case error = 5
    case optionAcknowledgement = 6
}

/// The error codes of RFC 1350 and RFC 2347.
public enum TFTPErrorCode: UInt16, Sendable {
    case notDefined = 0
    case fileNotFound = 1
    case accessViolation = 2
    case diskFull = 3
    case illegalOperation = 4
    case unknownTransferID = 5
    case fileExists = 6
    case noSuchUser = 7
    case optionRefused = 8
}

/// Why a request is refused: sent to the client as an ERROR packet, and logged.
public struct TFTPRefusal: Error, Equatable, Sendable, CustomStringConvertible {
    public let code: TFTPErrorCode
    public let message: String

    public init(_ code: TFTPErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

public enum TFTPMode: String, Sendable {
    case octet
    case netascii
}

/// A read or write request with its options, names lower-cased, in order.
public struct TFTPRequest: Equatable, Sendable {
    public enum Kind: Sendable { case read, write }

    public var kind: Kind
    public var filename: String
    public var mode: TFTPMode
    public var options: [(name: String, value: String)]

    public init(kind: Kind, filename: String, mode: TFTPMode, options: [(name: String, value: String)] = []) {
        self.kind = kind
        self.filename = filename
        self.mode = mode
        self.options = options
    }

    public static func == (a: TFTPRequest, b: TFTPRequest) -> Bool {
        a.kind == b.kind && a.filename == b.filename && a.mode == b.mode
            && a.options.map(\.name) == b.options.map(\.name) && a.options.map(\.value) == b.options.map(\.value)
    }

    /// Parses an RRQ or WRQ: opcode, filename, mode and option/value pairs,
    /// each NUL-terminated. Anything else is refused with the reason.
    public init(parsing packet: UnsafeRawBufferPointer) throws(TFTPRefusal) {
        guard packet.count >= 2 else { throw TFTPRefusal(.illegalOperation, "truncated packet (\(packet.count) bytes)") }
        let opcode = UInt16(packet[0]) << 8 | UInt16(packet[1])
        switch TFTPOpcode(rawValue: opcode) {
        case .readRequest: kind = .read
        case .writeRequest: kind = .write
        case .some(let other): throw TFTPRefusal(.illegalOperation, "unexpected \(other) packet, not a request")
        case nil: throw TFTPRefusal(.illegalOperation, "unknown opcode \(opcode)")
        }
        var fields: [String] = []
        var start = 2
        for index in 2..<packet.count where packet[index] == 0 {
            let bytes = UnsafeRawBufferPointer(rebasing: packet[start..<index])
            guard let field = String(validating: bytes, as: UTF8.self) else {
                throw TFTPRefusal(.illegalOperation, "malformed request: a field is not UTF-8")
            }
            fields.append(field)
            start = index + 1
        }
        guard start == packet.count else {
            throw TFTPRefusal(.illegalOperation, "malformed request: the last field is not NUL-terminated")
        }
        guard fields.count >= 2 else { throw TFTPRefusal(.illegalOperation, "malformed request: missing filename or mode") }
        guard fields.count % 2 == 0 else {
            throw TFTPRefusal(.illegalOperation, "malformed request: option '\(fields.last!)' has no value")
        }
        filename = fields[0]
        guard !filename.isEmpty else { throw TFTPRefusal(.illegalOperation, "malformed request: empty filename") }
        guard filename.utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x7f }) else {
            throw TFTPRefusal(.accessViolation, "filename contains control characters")
        }
        let modeName = fields[1].lowercased()
        guard let mode = TFTPMode(rawValue: modeName) else {
            throw TFTPRefusal(.illegalOperation, "unsupported transfer mode '\(fields[1])'")
        }
        self.mode = mode
        var options: [(name: String, value: String)] = []
        var pairs = fields[2...].makeIterator()
        while let name = pairs.next(), let value = pairs.next() {
            let name = name.lowercased()
            if !options.contains(where: { $0.name == name }) {  // the first of a repeated option counts
                options.append((name, value))
            }
        }
        self.options = options
    }

    /// The packet form, as a client sends it (for tests and tools).
    public var bytes: [UInt8] {
        var out: [UInt8] = [0, kind == .read ? 1 : 2]
        for field in [filename, mode.rawValue] + options.flatMap({ [$0.name, $0.value] }) {
            out += Array(field.utf8) + [0]
        }
        return out
    }
}

/// Builders for the packets a server sends, and readers for what it receives.
public enum TFTPPacket {
    public static func error(_ code: TFTPErrorCode, _ message: String) -> [UInt8] {
        [0, 5, UInt8(code.rawValue >> 8), UInt8(code.rawValue & 0xff)] + Array(message.utf8) + [0]
    }

    public static func optionAcknowledgement(_ options: [(name: String, value: String)]) -> [UInt8] {
        var out: [UInt8] = [0, 6]
        for (name, value) in options { out += Array(name.utf8) + [0] + Array(value.utf8) + [0] }
        return out
    }

    /// What a transfer can receive from its client.
    public enum Reply: Equatable, Sendable {
        case acknowledgement(block: UInt16)
        case error(code: UInt16, message: String)
        /// Anything else: ignored by a sender, as RFC 1350 allows.
        case other
    }

    public static func parseReply(_ packet: UnsafeRawBufferPointer) -> Reply {
        guard packet.count >= 4 else { return .other }
        let opcode = UInt16(packet[0]) << 8 | UInt16(packet[1])
        let value = UInt16(packet[2]) << 8 | UInt16(packet[3])
        switch TFTPOpcode(rawValue: opcode) {
        case .acknowledgement:
            return .acknowledgement(block: value)
        case .error:
            let text = packet[4...].prefix { $0 != 0 }
            return .error(code: value, message: String(decoding: text, as: UTF8.self))
        default:
            return .other
        }
    }
}
