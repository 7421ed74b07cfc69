import Digest
import Foundation

/// The server's side of RFC 6455, as much as a console needs: the
/// handshake, the client's frames parsed (and refused when malformed or
/// too large), and the server's frames written. No extensions, no
/// subprotocols.
public enum WebSocket {
    public enum Opcode: UInt8, Sendable {
        case continuation = 0, text = 1, binary = 2, close = 8, ping = 9, pong = 10
        public var isControl: Bool { rawValue >= 8 }
    }

    public struct Frame: Equatable, Sendable {
        public var opcode: Opcode
        public var fin: Bool
        public var payload: [UInt8]
    }

    /// Why a connection is closed (the close frame's code and reason).
    public struct Failure: Error, Equatable, Sendable {
        public var code: UInt16
        public var reason: String
        public init(code: UInt16, reason: String) {
            self.code = code
            self.reason = reason
        }
        public static func malformed(_ reason: String) -> Failure { Failure(code: 1002, reason: reason) }
        public static func tooLarge(_ limit: Int) -> Failure { Failure(code: 1009, reason: "a frame larger than \(limit) bytes") }
    }

    /// The handshake's answer to `request`, or why it is none (RFC 6455 4.2.1).
    public static func accept(_ request: HTTPRequest) -> Result<String, Failure> {
        guard request.method == "GET" else { return .failure(.malformed("a WebSocket handshake is a GET")) }
        guard request.header("Upgrade")?.lowercased() == "websocket",
              request.header("Connection")?.lowercased().split(separator: ",")
                .contains(where: { $0.trimmingCharacters(in: .whitespaces) == "upgrade" }) == true else {
            return .failure(.malformed("not a WebSocket handshake (Upgrade: websocket, Connection: Upgrade)"))
        }
        guard request.header("Sec-WebSocket-Version") == "13" else {
            return .failure(Failure(code: 426, reason: "only WebSocket version 13 is spoken"))
        }
        guard let key = request.header("Sec-WebSocket-Key"), key.utf8.count == 24,
              let nonce = Data(base64Encoded: key), nonce.count == 16 else {
            return .failure(.malformed("Sec-WebSocket-Key is not 16 bytes in base64"))
        }
        return .success(acceptValue(key))
    }

    /// `Sec-WebSocket-Accept` for `key`.
    public static func acceptValue(_ key: String) -> String {
        Data(SHA1.digest(of: Array((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").utf8))).base64EncodedString()
    }

    /// A server's frame: never masked, always whole (FIN).
    public static func frame(_ opcode: Opcode, _ payload: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = [0x80 | opcode.rawValue]
        bytes.reserveCapacity(payload.count + 10)
        switch payload.count {
        case ..<126: bytes.append(UInt8(payload.count))
        case ..<65536: bytes += [126, UInt8(payload.count >> 8), UInt8(payload.count & 0xff)]
        default:
            bytes.append(127)
            for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8((UInt64(payload.count) >> UInt64(shift)) & 0xff)) }
        }
        return bytes + payload
    }

    /// A close frame with `code` and a reason cut to fit a control frame.
    public static func closeFrame(_ code: UInt16, _ reason: String) -> [UInt8] {
        var payload = [UInt8(code >> 8), UInt8(code & 0xff)]
        var cut = Substring(reason)
        while cut.utf8.count > 123 { cut = cut.dropLast() }
        payload += Array(cut.utf8)
        return frame(.close, payload)
    }

    /// The client's frames from bytes as they arrive: `append` what was
    /// read, then take `next()` until it is nil. Every length is checked
    /// against `limit` before it is trusted.
    public struct Reader: Sendable {
        public let limit: Int
        private var buffer: [UInt8] = []
        private var start = 0
        /// The opcode of a fragmented message under way.
        private var continuing: Opcode?

        public init(limit: Int) { self.limit = limit }

        /// Bytes held: the part of a frame still to come, and what came
        /// after it.
        public var buffered: Int { buffer.count }

        public mutating func append(_ bytes: UnsafeRawBufferPointer) {
            // What was read already goes first, so that a stream of frames
            // whose reads never end on a frame's end does not pile up.
            if start > 0 {
                buffer.removeSubrange(..<start)
                start = 0
            }
            buffer += bytes
        }

        /// The next whole frame; nil until more bytes come.
        public mutating func next() throws(Failure) -> Frame? {
            let available = buffer.count - start
            guard available >= 2 else { return nil }
            let first = buffer[start], second = buffer[start + 1]
            guard first & 0x70 == 0 else { throw .malformed("reserved bits set (no extension was agreed)") }
            guard let opcode = Opcode(rawValue: first & 0x0f) else { throw .malformed("unknown opcode \(first & 0x0f)") }
            let fin = first & 0x80 != 0
            guard second & 0x80 != 0 else { throw .malformed("a client's frame must be masked") }
            var header = 2
            var length = UInt64(second & 0x7f)
            if length == 126 {
                guard available >= 4 else { return nil }
                length = UInt64(buffer[start + 2]) << 8 | UInt64(buffer[start + 3])
                header = 4
            } else if length == 127 {
                guard available >= 10 else { return nil }
                length = 0
                for index in 0..<8 { length = length << 8 | UInt64(buffer[start + 2 + index]) }
                header = 10
            }
            if opcode.isControl {
                guard fin, length <= 125 else { throw .malformed("a control frame must be whole and at most 125 bytes") }
            }
            guard length <= UInt64(limit) else { throw .tooLarge(limit) }
            let count = Int(length)
            guard available >= header + 4 + count else { return nil }
            let mask = Array(buffer[(start + header)..<(start + header + 4)])
            let body = start + header + 4
            var payload = Array(buffer[body..<(body + count)])
            for index in payload.indices { payload[index] ^= mask[index & 3] }
            start = body + count

            switch opcode {
            case .continuation:
                guard let under = continuing else { throw .malformed("a continuation frame with no message under way") }
                if fin { continuing = nil }
                return Frame(opcode: under, fin: fin, payload: payload)
            case .text, .binary:
                guard continuing == nil else { throw .malformed("a new message before the last one ended") }
                if !fin { continuing = opcode }
                return Frame(opcode: opcode, fin: fin, payload: payload)
            case .close:
                guard count != 1 else { throw .malformed("a close frame of 1 byte") }
                return Frame(opcode: opcode, fin: fin, payload: payload)
            case .ping, .pong:
                return Frame(opcode: opcode, fin: fin, payload: payload)
            }
        }
    }
}
