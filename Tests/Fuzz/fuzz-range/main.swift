import Artifacts
import FuzzSupport

/// An HTTP Range header against files of a few sizes, as the artifact server reads it.
@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let header = String(decoding: data.bytes(size), as: UTF8.self)
    for length in [0, 1, 4096, UInt64(1) << 40, UInt64.max] as [UInt64] {
        _ = ByteRangeRequest(header: header, size: length)
    }
    return 0
}

FuzzMain.run(testOneInput)
