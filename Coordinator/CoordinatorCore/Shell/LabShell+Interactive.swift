import ShellSupport
extension LabShell {
    /// The lab shell, when the client sends no command. On a terminal: a
    /// prompt and line editing; without one (`ssh -T`, a pipe): one command
    /// a line, no prompt. `exit`, `quit` or Ctrl-D leave; the session's exit
    /// status is then the last command's.
    public func interactive(_ session: LabSession) -> Int32 {
        let terminal = session.isTerminal
        if terminal {
            session.print("Provisioner lab: you are \(session.user.name); type 'help' for the commands, Ctrl-D to leave.\n")
        }
        let prompt = "\(session.user.name)@lab> "
        var editor = LineEditor()
        var status: Int32 = 0
        if terminal { session.print(prompt) }
        while true {
            guard case .bytes(let bytes) = session.read(timeout: nil) else {
                if terminal { session.print("\n") }
                return status
            }
            scan: for (index, byte) in bytes.enumerated() {
                guard let event = editor.feed(byte) else { continue }
                switch event {
                case .echo(let echoed):
                    if terminal { session.writeRaw(echoed) }
                case .interrupt:
                    if terminal { session.print("^C\n" + prompt) }
                case .endOfInput:
                    if terminal { session.print("\n") }
                    return status
                case .submit(let line):
                    if terminal { session.print("\n") }
                    // What follows the line is read again after the command.
                    session.unread(bytes[(index + 1)...])
                    do throws(ShellWords.SyntaxError) {
                        let words = try ShellWords.split(line)
                        if words == ["exit"] || words == ["quit"] { return status }
                        if !words.isEmpty { status = execute(words, in: session) }
                    } catch {
                        session.printError(error.message)
                        status = CommandError.usage(error.message).status.rawValue
                    }
                    if session.io.isClosed { return status }
                    if terminal { session.print(prompt) }
                    break scan
                }
            }
        }
    }
}
