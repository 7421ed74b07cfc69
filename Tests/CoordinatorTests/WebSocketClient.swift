#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ProvisionerTesting

/// A WebSocket client as small as a test needs (RFC 6455): the handshake
/// written by hand (so that a test can get it wrong on purpose), masked
/// frames out, the server's frames in.
final class WebSocketClient {
    let fd: Int32
    /// The server's answer to the handshake: status line and headers.
    private(set) var answer = ""
    private var received: [UInt8] = []

    /// Connects to 127.0.0.1:`port` and sends a GET of `path` with `headers`
    /// (nothing else: the test writes the WebSocket headers it wants).
    init(port: UInt16, path: String, headers: [String]) throws {
        fd = try tcpConnection(from: "127.0.0.1", to: port)
        let request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n" + headers.map { $0 + "\r\n" }.joined() + "\r\n"
        sendRaw(Array(request.utf8))
        while true {
            if let end = received.firstRange(of: Array("\r\n\r\n".utf8)) {
                answer = String(decoding: received[..<end.lowerBound], as: UTF8.self)
                received.removeSubrange(..<end.upperBound)
                return
            }
            guard fill() else {
                answer = String(decoding: received, as: UTF8.self)
                return
            }
        }
    }

    deinit { close(fd) }

    /// The status code of the handshake's answer.
    var status: Int { Int(answer.split(separator: " ").dropFirst().first ?? "") ?? 0 }

    /// The standard handshake's headers, for `key`.
    static func handshake(origin: String, key: String = "dGhlIHNhbXBsZSBub25jZQ==", cookie: String) -> [String] {
        ["Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: \(key)", "Sec-WebSocket-Version: 13",
         "Origin: \(origin)", "Cookie: \(cookie)"]
    }

    func sendRaw(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// A masked frame, as a browser sends it.
    func send(_ opcode: UInt8, _ payload: [UInt8], fin: Bool = true) {
        let mask: [UInt8] = [0x37, 0xfa, 0x21, 0x3d]
        var frame: [UInt8] = [(fin ? 0x80 : 0) | opcode]
        if payload.count < 126 {
            frame.append(0x80 | UInt8(payload.count))
        } else {
            frame += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xff)]
        }
        frame += mask
        frame += payload.enumerated().map { $0.element ^ mask[$0.offset & 3] }
        sendRaw(frame)
    }

    func sendText(_ text: String) { send(1, Array(text.utf8)) }

    /// The next frame from the server (opcode, payload); nil when the
    /// connection ends or nothing comes within 3 s.
    func nextFrame() -> (opcode: UInt8, payload: [UInt8])? {
        while true {
            if received.count >= 2 {
                var length = Int(received[1] & 0x7f)
                var header = 2
                if length == 126, received.count >= 4 {
                    length = Int(received[2]) << 8 | Int(received[3])
                    header = 4
                } else if length == 127, received.count >= 10 {
                    length = received[2..<10].reduce(0) { $0 << 8 | Int($1) }
                    header = 10
                }
                if length < 126 || header > 2, received.count >= header + length {
                    let frame = (received[0] & 0x0f, Array(received[header..<(header + length)]))
                    received.removeSubrange(..<(header + length))
                    return frame
                }
            }
            guard fill() else { return nil }
        }
    }

    /// Binary and text messages as text, until one contains `text` (pings
    /// skipped); all of it, or nil when the connection ends first.
    func read(until text: String) -> String? {
        var seen = ""
        while let frame = nextFrame() {
            if frame.opcode == 1 || frame.opcode == 2 { seen += String(decoding: frame.payload, as: UTF8.self) }
            if frame.opcode == 8 { return nil }
            if seen.contains(text) { return seen }
        }
        return nil
    }

    /// The close frame that comes next (after any messages): its code and reason.
    func closeFrame() -> (code: Int, reason: String)? {
        while let frame = nextFrame() {
            guard frame.opcode == 8 else { continue }
            guard frame.payload.count >= 2 else { return (1005, "") }
            return (Int(frame.payload[0]) << 8 | Int(frame.payload[1]), String(decoding: frame.payload.dropFirst(2), as: UTF8.self))
        }
        return nil
    }

    private func fill() -> Bool {
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        let count = recv(fd, &buffer, buffer.count, 0)
        guard count > 0 else { return false }
        received += buffer[..<count]
        return true
    }
}
