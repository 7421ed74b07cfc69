import FlasherCore
import FuzzSupport

/// The kernel command line the flasher is booted with, and the job it makes of it.
@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let text = String(decoding: data.bytes(size), as: UTF8.self)
    if let commandLine = try? KernelCommandLine(text) { _ = try? FlasherArguments(commandLine: commandLine) }
    _ = try? NetworkSetup(parsing: text)
    return 0
}

FuzzMain.run(testOneInput)
