/// TFTP packets written and read by the tests themselves (RFC 1350, 2347),
/// independent of the server's own code, so a shared mistake cannot hide.
public enum TFTPWire {
    public static func readRequest(_ filename: String, mode: String = "octet",
                                   options: [(name: String, value: String)] = []) -> [UInt8] {
        request(opcode: 1, filename, mode: mode, options: options)
    }

    public static func writeRequest(_ filename: String, mode: String = "octet") -> [UInt8] {
        request(opcode: 2, filename, mode: mode, options: [])
    }

    public static func data(_ block: UInt16, _ payload: [UInt8] = []) -> [UInt8] {
        header(3, block) + payload
    }

    public static func acknowledgement(_ block: UInt16) -> [UInt8] {
        header(4, block)
    }

    public static func error(_ code: UInt16, _ message: String) -> [UInt8] {
        header(5, code) + Array(message.utf8) + [0]
    }

    /// Opcode and a 16-bit number (block or error code), big-endian.
    private static func header(_ opcode: UInt8, _ value: UInt16) -> [UInt8] {
        [0, opcode, UInt8(value >> 8), UInt8(value & 0xff)]
    }

    public static func optionAcknowledgement(_ options: [(name: String, value: String)]) -> [UInt8] {
        var bytes: [UInt8] = [0, 6]
        for (name, value) in options { bytes += cString(name) + cString(value) }
        return bytes
    }

    private static func request(opcode: UInt8, _ filename: String, mode: String,
                                options: [(name: String, value: String)]) -> [UInt8] {
        var bytes: [UInt8] = [0, opcode]
        bytes += cString(filename)
        bytes += cString(mode)
        for (name, value) in options { bytes += cString(name) + cString(value) }
        return bytes
    }

    /// A field as TFTP carries it: the UTF-8 bytes and a NUL.
    public static func cString(_ text: String) -> [UInt8] {
        Array(text.utf8) + [0]
    }

    /// A packet as a client sees it.
    public enum Packet: Equatable, Sendable, CustomStringConvertible {
        case data(block: UInt16, payload: [UInt8])
        case acknowledgement(block: UInt16)
        case error(code: UInt16, message: String)
        case optionAcknowledgement([String: String])
        case other([UInt8])

        public var description: String {
            switch self {
            case .data(let block, let payload): "DATA block \(block), \(payload.count) bytes"
            case .acknowledgement(let block): "ACK block \(block)"
            case .error(let code, let message): "ERROR \(code) '\(message)'"
            case .optionAcknowledgement(let options):
                "OACK " + options.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            case .other(let bytes): "unknown packet \(bytes.prefix(16))"
            }
        }
    }

    public static func parse(_ bytes: [UInt8]) -> Packet {
        guard bytes.count >= 2, bytes[0] == 0 else { return .other(bytes) }
        let value = bytes.count >= 4 ? UInt16(bytes[2]) << 8 | UInt16(bytes[3]) : 0
        switch bytes[1] {
        case 3 where bytes.count >= 4:
            return .data(block: value, payload: Array(bytes[4...]))
        case 4 where bytes.count >= 4:
            return .acknowledgement(block: value)
        case 5 where bytes.count >= 5 && bytes.last == 0:
            return .error(code: value, message: String(decoding: bytes[4..<(bytes.count - 1)], as: UTF8.self))
        case 6 where bytes.last == 0:
            let fields = bytes[2..<(bytes.count - 1)].split(separator: 0, omittingEmptySubsequences: false)
                .map { String(decoding: $0, as: UTF8.self) }
            guard fields.count % 2 == 0 else { return .other(bytes) }
            var options: [String: String] = [:]
            for index in stride(from: 0, to: fields.count, by: 2) { options[fields[index].lowercased()] = fields[index + 1] }
            return .optionAcknowledgement(options)
        default:
            return .other(bytes)
        }
    }
}
