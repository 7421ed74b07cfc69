import AgentCore
import ShellSupport

extension AgentShell {
    /// The lab shell, when the client sends no command. On a terminal: a
    /// prompt and line editing; without one (`ssh -T`, a pipe): one command
    /// a line, no prompt. `exit`, `quit` or Ctrl-D leave; the session's exit
    /// status is then the last command's.
    func interactive(_ session: ShellSession) -> Int32 {
        if session.isTerminal {
            session.print("Provisioner agent \(agentName): type 'help' for the commands, Ctrl-D to leave.\n")
        }
        let prompt = "\(session.identity.user)@\(agentName)> "
        var editor = LineEditor()
        var status: Int32 = 0
        if session.isTerminal { session.print(prompt) }
        while true {
            guard case .bytes(let bytes) = session.read(timeout: nil) else {
                if session.isTerminal { session.print("\n") }
                return status
            }
            for (index, byte) in bytes.enumerated() {
                let event: LineEditor.Event?
                if session.isTerminal {
                    event = editor.feed(byte)
                } else {
                    // No terminal: only whole lines matter; no echo.
                    switch editor.feed(byte) {
                    case .submit(let line): event = .submit(line)
                    default: event = nil
                    }
                }
                switch event {
                case nil: break
                case .echo(let echoed): session.writeRaw(echoed)
                case .interrupt:
                    session.print("^C\n" + prompt)
                case .endOfInput:
                    session.print("\n")
                    return status
                case .submit(let line):
                    if session.isTerminal { session.print("\n") }
                    session.unread(bytes[(index + 1)...])
                    let words: [String]
                    do throws(ShellWords.SyntaxError) {
                        words = try ShellWords.split(line)
                    } catch {
                        session.printError(error.message)
                        status = ExitStatus.usage.rawValue
                        if session.isTerminal { session.print(prompt) }
                        break
                    }
                    if words == ["exit"] || words == ["quit"] { return status }
                    if !words.isEmpty { status = execute(words, in: session) }
                    if session.isTerminal { session.print(prompt) }
                    // The bytes after this line were given back; read them again.
                    break
                }
                if case .submit = event { break }
            }
        }
    }
}
