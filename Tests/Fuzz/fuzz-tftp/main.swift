import FuzzSupport
import TFTP

/// A TFTP request as the server's listening socket receives it: the packet,
/// then its options as the server would negotiate them.
@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.bytes(size)
    bytes.withUnsafeBytes { packet in
        guard let request = try? TFTPRequest(parsing: packet) else { return }
        for size in [nil, 0, 1 << 20] as [Int?] {
            _ = try? TFTPNegotiation(options: request.options, transferSize: size, limits: TFTPLimits())
        }
    }
    _ = bytes.withUnsafeBytes { TFTPPacket.parseReply($0) }
    return 0
}

FuzzMain.run(testOneInput)
