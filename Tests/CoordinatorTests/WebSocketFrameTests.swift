import HTTPDaemon
import Testing

/// RFC 6455's frames as the console's WebSocket reads and writes them,
/// without a socket: every length is checked before it is trusted.
struct WebSocketFrameTests {
    /// A client's frame: masked with `mask`, `payload` of any length.
    static func masked(_ first: UInt8, _ payload: [UInt8], mask: [UInt8] = [1, 2, 3, 4]) -> [UInt8] {
        var frame = [first]
        if payload.count < 126 {
            frame.append(0x80 | UInt8(payload.count))
        } else if payload.count < 65536 {
            frame += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xff)]
        } else {
            frame.append(0x80 | 127)
            for shift in stride(from: 56, through: 0, by: -8) { frame.append(UInt8((payload.count >> shift) & 0xff)) }
        }
        return frame + mask + payload.enumerated().map { $0.element ^ mask[$0.offset & 3] }
    }

    static func frames(_ bytes: [UInt8], limit: Int = 64 * 1024, pieces: Int = 1) throws(WebSocket.Failure) -> [WebSocket.Frame] {
        var reader = WebSocket.Reader(limit: limit)
        var frames: [WebSocket.Frame] = []
        let step = max(1, bytes.count / pieces)
        var start = 0
        while start < bytes.count {
            let end = min(bytes.count, start + step)
            bytes[start..<end].withUnsafeBytes { reader.append($0) }
            while let frame = try reader.next() { frames.append(frame) }
            start = end
        }
        return frames
    }

    @Test func theHandshakeAnswersAsRFC6455sExample() throws {
        #expect(WebSocket.acceptValue("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        let good = HTTPRequest(method: "GET", target: "/", headers: [("Upgrade", "WebSocket"), ("Connection", "keep-alive, Upgrade"),
                                                                    ("Sec-WebSocket-Version", "13"), ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")])
        #expect(try WebSocket.accept(good).get() == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        var post = good
        post.method = "POST"
        var short = good
        short.headers[3].value = "c2hvcnQ="
        var noUpgrade = good
        noUpgrade.headers[1].value = "keep-alive"
        var old = good
        old.headers[2].value = "8"
        for (request, code) in [(post, 1002), (short, 1002), (noUpgrade, 1002), (old, 426)] {
            guard case .failure(let failure) = WebSocket.accept(request) else {
                Issue.record("accepted \(request.headers)")
                continue
            }
            #expect(Int(failure.code) == code && !failure.reason.isEmpty)
        }
    }

    @Test func framesOfEveryLengthAreReadWholeAndUnmasked() throws {
        let medium = [UInt8](repeating: 0x61, count: 300)
        let large = (0..<70_000).map { UInt8($0 & 0xff) }
        let bytes = Self.masked(0x81, Array("ls\r".utf8)) + Self.masked(0x82, medium) + Self.masked(0x82, large)
            + Self.masked(0x89, Array("hi".utf8)) + Self.masked(0x88, [0x03, 0xe8])
        for pieces in [1, 7, bytes.count] {
            let frames = try Self.frames(bytes, limit: 100_000, pieces: pieces)
            #expect(frames.map(\.opcode) == [.text, .binary, .binary, .ping, .close], "in \(pieces) pieces")
            #expect(frames.map(\.payload) == [Array("ls\r".utf8), medium, large, Array("hi".utf8), [0x03, 0xe8]])
        }
        // A message in fragments keeps its first frame's kind.
        let fragments = try Self.frames(Self.masked(0x01, Array("ver".utf8)) + Self.masked(0x89, []) + Self.masked(0x80, Array("sion".utf8)))
        #expect(fragments.map(\.opcode) == [.text, .ping, .text] && fragments.map(\.fin) == [false, true, true])
    }

    /// A paste streamed in frames whose reads never end on a frame's end:
    /// what the reader holds stays under a frame and a read.
    @Test func aLongStreamDoesNotPileUp() throws {
        let frame = Self.masked(0x82, [UInt8](repeating: 0x61, count: 100))
        let stream = Array((0..<2000).map { _ in frame }.joined())
        var reader = WebSocket.Reader(limit: 64 * 1024)
        var frames = 0, most = 0
        var start = 0
        while start < stream.count {
            let end = min(stream.count, start + 37)
            stream[start..<end].withUnsafeBytes { reader.append($0) }
            while try reader.next() != nil { frames += 1 }
            most = max(most, reader.buffered)
            start = end
        }
        #expect(frames == 2000 && most < frame.count + 37, "\(frames) frames, held up to \(most) bytes")
    }

    @Test func brokenFramesCloseWithTheirCode() {
        let cases: [(String, [UInt8], UInt16)] = [
            ("unmasked", [0x81, 0x02, 0x68, 0x69], 1002),
            ("a reserved bit", Self.masked(0xc1, [0x68]), 1002),
            ("opcode 3", Self.masked(0x83, [0x68]), 1002),
            ("a fragmented ping", Self.masked(0x09, []), 1002),
            ("a ping of 126 bytes", Self.masked(0x89, [UInt8](repeating: 0, count: 126)), 1002),
            ("a continuation first", Self.masked(0x80, [0x68]), 1002),
            ("a new message inside one", Self.masked(0x01, [0x68]) + Self.masked(0x81, [0x69]), 1002),
            ("a close of 1 byte", Self.masked(0x88, [3]), 1002),
            ("past the limit", Self.masked(0x82, [UInt8](repeating: 0, count: 65)), 1009),
            ("a 64-bit length of 2^63", [0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4], 1009),
            ("a 64-bit length of 2^64-1", [0x82, 0xff] + [UInt8](repeating: 0xff, count: 8) + [1, 2, 3, 4], 1009),
        ]
        for (name, bytes, code) in cases {
            do {
                let frames = try Self.frames(bytes, limit: 64)
                Issue.record("\(name): read as \(frames)")
            } catch {
                #expect(error.code == code, "\(name): \(error)")
            }
        }
        // Half a frame is no frame yet, and no error.
        #expect((try? Self.frames(Array(Self.masked(0x81, Array("hello".utf8)).prefix(6)))) == [])
    }

    @Test func theServersFramesAreUnmaskedWithTheShortestLength() {
        #expect(WebSocket.frame(.binary, [0x41]) == [0x82, 0x01, 0x41])
        #expect(Array(WebSocket.frame(.binary, [UInt8](repeating: 0, count: 300)).prefix(4)) == [0x82, 126, 0x01, 0x2c])
        #expect(Array(WebSocket.frame(.binary, [UInt8](repeating: 0, count: 70_000)).prefix(10)) == [0x82, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70])
        let close = WebSocket.closeFrame(1000, String(repeating: "é", count: 100))
        #expect(close.count <= 127 && close[0] == 0x88 && Array(close[2..<4]) == [0x03, 0xe8])
        #expect(String(validating: close[4...], as: UTF8.self) != nil, "the reason was cut inside a character")
    }
}
