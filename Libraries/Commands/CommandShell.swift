import ShellSupport

/// One side's commands: the agent's (local: its boards' switches,
/// consoles, jobs and artifacts) or the coordinator's (routed: a board
/// command runs on the agent that owns the board). `CommandShell` parses
/// each command line once and hands the typed command here.
public protocol CommandBackend: AnyObject, Sendable {
    /// Which commands this side offers.
    var home: CommandHome { get }
    /// The prompt's host part: `alice@HOST> `.
    var promptHost: String { get }
    /// The interactive shell's first line on a terminal.
    func greeting(for session: ShellSession) -> String
    /// What `version` prints.
    var versionLine: String { get }
    /// What `whoami` prints.
    func whoami(_ session: ShellSession) -> String
    /// The lines `help` prints after the commands.
    var helpFooter: String { get }
    /// Runs one command (never help, whoami or version: the shell answers
    /// those) and returns its exit status; a routed command's is the agent's.
    func run(_ command: LabCommand, in session: ShellSession) throws(ShellError) -> Int32
}

/// The shell both binaries run for an SSH request: one command (exec) or
/// the interactive loop. Errors reach the client here, in one place: one
/// line on stderr and the exit status (DESIGN.md "What a user types").
public struct CommandShell: Sendable {
    public let backend: any CommandBackend

    public init(_ backend: any CommandBackend) { self.backend = backend }

    /// Runs one command line (already split) and returns its exit status.
    public func execute(_ words: [String], in session: ShellSession) -> Int32 {
        do throws(ShellError) {
            let status: Int32
            switch try LabCommand.parse(words, for: backend.home) {
            case .help:
                session.print(helpText)
                status = ExitStatus.success.rawValue
            case .commandHelp(let text):
                session.print(text)
                status = ExitStatus.success.rawValue
            case .whoami:
                session.print(backend.whoami(session) + "\n")
                status = ExitStatus.success.rawValue
            case .version:
                session.print(backend.versionLine + "\n")
                status = ExitStatus.success.rawValue
            case let command:
                status = try backend.run(command, in: session)
            }
            if let message = session.cutMessage { throw ShellError.notAllowed(message) }
            return status
        } catch {
            // A cut session ends with why, whatever its command made of it.
            session.printError(session.cutMessage ?? error.message)
            return session.cutMessage == nil ? error.status.rawValue : session.cutStatus.rawValue
        }
    }

    /// `help`: every command this side offers, one line each, generated
    /// from the declarations (`LabCommand.declarations`).
    public var helpText: String {
        var text = "Commands:\n"
        for type in LabCommand.declarations where type.home.contains(backend.home) && type.configuration.shouldDisplay {
            var summary = type.configuration.abstract
            if summary.hasSuffix(".") { summary.removeLast() }
            if let first = summary.first { summary = first.lowercased() + summary.dropFirst() }
            let usage = "  " + type.usage
            text += usage.count < 39 ? usage + String(repeating: " ", count: 39 - usage.count) + summary + "\n"
                : usage + "\n" + String(repeating: " ", count: 39) + summary + "\n"
        }
        return text + "COMMAND --help (or help COMMAND) explains one command and its options.\n" + backend.helpFooter
    }

    /// The lab shell, when the client sends no command. On a terminal: a
    /// prompt and line editing; without one (`ssh -T`, a pipe): one command
    /// a line, no prompt, no echo (a 0x04 byte on a pipe is data; the
    /// channel's EOF ends it). `exit`, `quit` or Ctrl-D leave; the session's
    /// exit status is then the last command's.
    public func interactive(_ session: ShellSession) -> Int32 {
        let terminal = session.isTerminal
        if terminal { session.print(backend.greeting(for: session)) }
        let prompt = "\(session.identity.user)@\(backend.promptHost)> "
        var editor = LineEditor()
        var status: Int32 = 0
        if terminal { session.print(prompt) }
        while true {
            guard case .bytes(let bytes) = session.read(timeout: nil) else {
                if terminal { session.print("\n") }
                // Cut at the prompt (the server stops): say why.
                if let message = session.cutMessage {
                    session.printError(message)
                    return session.cutStatus.rawValue
                }
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
                    guard terminal else { continue }
                    session.print("\n")
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
                        status = ExitStatus.usage.rawValue
                    }
                    if session.streams.isClosed || session.cutMessage != nil { return status }
                    if terminal { session.print(prompt) }
                    break scan
                }
            }
        }
    }
}
