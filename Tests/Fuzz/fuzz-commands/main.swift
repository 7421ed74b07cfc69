import Commands
import FuzzSupport
import ShellSupport

/// An SSH exec request's command as both front doors read it: split into
/// words like a shell, then parsed as the agent's and the coordinator's
/// command (help texts, usage errors and all).
@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let line = String(decoding: data.bytes(size), as: UTF8.self)
    guard let words = try? ShellWords.split(line) else { return 0 }
    for home in [CommandHome.agent, .coordinator] {
        if let command = try? LabCommand.parse(words, for: home), let board = command.boardCommand {
            _ = board.words
            _ = board.audit
        }
    }
    return 0
}

FuzzMain.run(testOneInput)
