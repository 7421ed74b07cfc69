import FlasherCore
import FuzzSupport

/// A bmaptool block map (XML), as the flasher reads it.
@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    _ = try? Bmap(parsing: data.bytes(size))
    return 0
}

FuzzMain.run(testOneInput)
