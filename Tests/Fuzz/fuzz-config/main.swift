import AgentCore
import CoordinatorCore
import FuzzSupport

/// agent.yaml and coordinator.yaml as `check-config` reads them.
@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let text = String(decoding: data.bytes(size), as: UTF8.self)
    _ = try? AgentConfig(text: text, file: "/fuzz/agent.yaml")
    _ = try? CoordinatorConfig(text: text, file: "/fuzz/coordinator.yaml")
    return 0
}

FuzzMain.run(testOneInput)
