import FuzzSupport
import Wire

/// The JSON the agent and the coordinator read from each other and from the
/// flasher: an agent's boards, a flasher event, a job manifest, an agent's
/// event as its `watch` streams it (written back as the coordinator does).
@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.bytes(size)
    _ = try? Wire.decode([BoardReport].self, from: bytes)
    _ = try? Wire.decode(FlasherEventReport.self, from: bytes)
    _ = try? Wire.decode(JobManifestReport.self, from: bytes)
    if let event = try? Wire.decode(LabEvent.self, from: bytes) { _ = Wire.line(event) + event.text }
    return 0
}

FuzzMain.run(testOneInput)
