import FuzzSupport
import HTTPDaemon

/// A browser's WebSocket frames, as the web console reads them: any bytes,
/// fed whole and in two pieces, under a small and the real frame limit.
@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = Array(data.bytes(size))
    for limit in [125, 64 * 1024] {
        for split in [bytes.count, bytes.count / 2] {
            var reader = WebSocket.Reader(limit: limit)
            bytes[..<split].withUnsafeBytes { reader.append($0) }
            bytes[split...].withUnsafeBytes { reader.append($0) }
            do {
                while let frame = try reader.next() {
                    precondition(frame.payload.count <= limit, "a frame past the limit was read")
                    precondition(!frame.opcode.isControl || frame.payload.count <= 125, "a long control frame was read")
                }
            } catch {
                precondition(error.code == 1002 || error.code == 1009, "closed with \(error.code)")
            }
        }
    }
    return 0
}

FuzzMain.run(testOneInput)
