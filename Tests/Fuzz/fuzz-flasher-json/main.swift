import FlasherCore
import FuzzSupport

/// The flasher's own JSON parser, and the job manifest read with it.
@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.bytes(size)
    if let json = try? JSON(parsing: bytes) { _ = json.serialized }
    _ = try? JobManifest.parse(bytes, jobURL: HTTPURL(host: "10.0.2.2", port: 8080, target: "/api/v1/jobs/1-ab"))
    return 0
}

FuzzMain.run(testOneInput)
