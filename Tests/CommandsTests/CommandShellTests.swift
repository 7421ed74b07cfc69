import Commands
import ProvisionerTesting
import SSH
import ShellSupport
import Synchronization
import Testing

/// The one shell loop, in memory: a backend that records what it ran.
final class RecordingBackend: CommandBackend {
    let ran = Mutex<[String]>([])
    let home: CommandHome = .coordinator
    let promptHost = "lab"
    let versionLine = "test 1"
    let helpFooter = "footer\n"

    func greeting(for session: ShellSession) -> String { "hello \(session.identity.user)\n" }
    func whoami(_ session: ShellSession) -> String { session.identity.user }

    func run(_ command: LabCommand, in session: ShellSession) throws(ShellError) -> Int32 {
        let words = command.boardCommand?.words.joined(separator: " ") ?? "\(command)".prefix(while: { $0 != "(" }).description
        ran.withLock { $0.append(words) }
        if let power = command.boardCommand as? PowerCommand, power.verb == .off { throw .notAllowed("power: no") }
        session.print("ran \(words)\n")
        return ExitStatus.success.rawValue
    }
}

struct CommandShellTests {
    static func session(_ streams: MemoryStreams) -> ShellSession {
        ShellSession(streams: streams, identity: ShellIdentity(user: "alice"))
    }

    @Test func aPipeRunsOneCommandALineWithoutPromptOrEcho() {
        let backend = RecordingBackend(), streams = MemoryStreams(terminal: false)
        streams.type("power b1 on\nfly\n\u{4}power --force b1 off\nwhoami\n")
        streams.endInput()
        #expect(CommandShell(backend).interactive(Self.session(streams)) == 0)
        // Ctrl-D on a pipe is a byte, not the end: the line after it runs.
        #expect(backend.ran.withLock { $0 } == ["power b1 on", "power b1 off --force"])
        #expect(streams.stdout == "ran power b1 on\nalice\n")
        #expect(streams.stderr == "unknown command 'fly' (try 'help')\npower: no\n")
    }

    @Test func aTerminalHasAPromptEchoCtrlCAndCtrlD() {
        let backend = RecordingBackend(), streams = MemoryStreams(terminal: true)
        streams.type("powx\u{7f}er b1 on\r")
        streams.type("half a line\u{3}")
        streams.type("\u{4}")
        #expect(CommandShell(backend).interactive(Self.session(streams)) == 0)
        #expect(backend.ran.withLock { $0 } == ["power b1 on"])
        let out = streams.stdout
        #expect(out.hasPrefix("hello alice\r\nalice@lab> powx\u{8} \u{8}er b1 on\r\nran power b1 on\r\nalice@lab> "))
        #expect(out.contains("^C\r\nalice@lab> "))
        #expect(out.hasSuffix("\r\n"))
    }

    @Test func exitLeavesWithTheLastStatus() {
        let backend = RecordingBackend(), streams = MemoryStreams(terminal: false)
        streams.type("power b1 off\nexit\npower b1 on\n")
        #expect(CommandShell(backend).interactive(Self.session(streams)) == 3)
        #expect(backend.ran.withLock { $0 } == ["power b1 off"])
    }

    @Test func helpIsGeneratedFromTheDeclarations() {
        let streams = MemoryStreams(terminal: false)
        #expect(CommandShell(RecordingBackend()).execute(["help"], in: Self.session(streams)) == 0)
        for type in LabCommand.declarations where type.home.contains(.coordinator) && type.configuration.shouldDisplay {
            #expect(streams.stdout.contains("  " + type.usage), "\(type.name)")
        }
        #expect(!streams.stdout.contains("hold BOARD USER"))
        #expect(streams.stdout.hasSuffix("footer\n"))
        #expect(CommandShell(RecordingBackend()).execute(["flash", "--help"], in: Self.session(streams)) == 0)
        #expect(streams.stdout.contains(FlashCommand.usage))
    }

    @Test func aCutSessionEndsWithWhyAndExit3() {
        let backend = RecordingBackend(), streams = MemoryStreams(terminal: false)
        let session = Self.session(streams)
        session.cut("your reservation of b1 has ended: this session is closed")
        #expect(CommandShell(backend).execute(["power", "b1", "on"], in: session) == 3)
        #expect(streams.stderr == "your reservation of b1 has ended: this session is closed\n")
    }
}
