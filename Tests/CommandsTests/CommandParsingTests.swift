import Commands
import ShellSupport
import Testing

/// The one parser: options before and after the board, values that are
/// other boards' names, and the words the coordinator sends the agent.
struct CommandParsingTests {
    static func parse(_ words: [String], for home: CommandHome = .coordinator) throws(ShellError) -> LabCommand {
        try LabCommand.parse(words, for: home)
    }

    @Test(arguments: [
        (["flash", "--rootfs", "b1", "b2"], "b2", ["flash", "b2", "--rootfs", "b1"]),
        (["flash", "b2", "--rootfs", "b1"], "b2", ["flash", "b2", "--rootfs", "b1"]),
        (["flash", "--kernel=b1", "--no-verify", "b2", "--dtb", "b3"], "b2", ["flash", "b2", "--kernel", "b1", "--dtb", "b3", "--no-verify"]),
        (["netboot", "--kernel", "b1", "--args", "-x b1", "b2"], "b2", ["netboot", "b2", "--kernel", "b1", "--args", "-x b1"]),
        (["netboot", "--wait", "--kernel", "--kernel", "b1", "b2"], "b2", ["netboot", "b2", "--kernel", "b1", "--wait", "--kernel"]),
        (["power", "--force", "b2", "on"], "b2", ["power", "b2", "on", "--force"]),
        (["console", "--ro", "b2"], "b2", ["console", "b2", "--ro"]),
        (["connect", "--check", "b2", "22"], "b2", ["connect", "b2", "22", "--check"]),
        (["upload", "--sha256", String(repeating: "A", count: 64), "b2", "b1"], "b2",
         ["upload", "b2", "b1", "--sha256", String(repeating: "a", count: 64)]),
        (["rm", "b2", "b1"], "b2", ["rm", "b2", "b1"]),
        (["log", "-f", "--since", "10m", "b2"], "b2", ["log", "b2", "--since", "10m", "--follow"]),
        (["files", "--json", "b2"], "b2", ["files", "b2", "--json"]),
        (["jobs", "--json", "b2"], "b2", ["jobs", "b2", "--json"]),
        (["token", "b2"], "b2", ["token", "b2"]),
    ])
    func theBoardIsNamedOnceWhereverItStands(_ words: [String], _ board: String, _ normalised: [String]) throws {
        let command = try #require(try Self.parse(words).boardCommand)
        #expect(command.board == board)
        #expect(command.words == normalised)
        // The agent reads the normalised words as the same command.
        let again = try #require(try Self.parse(command.words, for: .agent).boardCommand)
        #expect(again.board == board && again.words == normalised)
    }

    @Test(arguments: [
        (["flash", "b1"], "flash: nothing to write: give --rootfs, --kernel or --dtb (usage: flash BOARD"),
        (["flash", "--rootfs", "img"], "flash: missing BOARD (usage: flash BOARD"),
        (["flash", "b1", "b2", "--rootfs", "img"], "flash: unexpected argument 'b2' (usage: flash BOARD"),
        (["flash", "b1", "--kernel", "k", "--bmap", "x.bmap"], "flash: --bmap goes with --rootfs"),
        (["flash", "b1", "--rootfs"], "flash: missing value for '--rootfs <NAME>' (usage:"),
        (["power", "b1", "sideways"], "power: unknown action 'sideways' (usage: power BOARD on|off|cycle|status)"),
        (["power", "b1"], "power: missing ACTION (usage: power BOARD on|off|cycle|status)"),
        (["connect", "b1", "70000"], "connect: '70000' is not a port (usage: connect BOARD PORT)"),
        (["connect", "b1", "22", "--chek"], "connect: unknown option '--chek'. Did you mean '--check'? (usage:"),
        (["upload", "b1", "x", "--sha256", "abc"], "upload: the sha256 'abc' is not 64 hex digits"),
        (["netboot", "b1"], "netboot: --kernel NAME is required (usage: netboot BOARD"),
        (["netboot", "b1", "--kernel", "k", "--args", "it's"], "netboot: --args cannot contain '"),
        (["netboot", "b1", "--kernel", "k", "--timeout", "5m"], "netboot: --timeout goes with --wait"),
        (["netboot", "b1", "--kernel", "k", "--wait", "x", "--timeout", "nan"], "netboot: --timeout 'nan' is not a duration"),
        (["log", "b1", "--since", "soon"], "log: 'soon' is not a duration such as 90s, 10m, 2h or 1d"),
        (["reserve", "b1", "--for", "1h", "--until", "2099-01-01T00:00"], "reserve: give --for or --until, once"),
        (["reservations", "all"], "reservations: unexpected argument 'all' (usage: reservations [--json])"),
        // The numbers of the new commands: each reaches no conversion unchecked.
        (["reserve", "--tag", "x", "--wait", "--timeout", "nan"], "reserve: 'nan' is not a duration"),
        (["reserve", "--tag", "x", "--wait", "--timeout", "1e19"], "reserve: '1e19' is not a duration"),
        (["reserve", "--tag", "x", "--wait", "--timeout", "-1"], "reserve: missing value for '--timeout <DURATION>'"),
        (["reserve", "--tag", "x", "--wait", "--timeout", "1e-300"], "reserve: '1e-300' is not a duration"),
        (["reserve", "--tag", "x", "--timeout", "5m"], "reserve: --timeout is for --wait"),
        (["events", "--since", "-1"], "events: missing value for '--since <ID>'"),
        (["events", "--since", "9223372036854775808"], "events: --since wants an event id"),
        (["events", "--since", "1e19"], "events: --since wants an event id"),
        (["events", "--since", "nan"], "events: --since wants an event id"),
        (["run", "b1", "--timeout", "1e19", "--", "true"], "run: --timeout '1e19' is not a duration from 1s to a day"),
        (["run", "b1", "--timeout", "nan", "--", "true"], "run: --timeout 'nan' is not a duration from 1s to a day"),
        (["run", "b1", "--timeout", "-1", "--", "true"], "run: missing value for '--timeout <DURATION>'"),
        (["run", "b1", "--timeout", "1e-300", "--", "true"], "run: --timeout '1e-300' is not a duration from 1s to a day"),
        (["queue", "all"], "queue: unexpected argument 'all' (usage: queue [--json])"),
        (["whoami", "me"], "whoami: unexpected argument 'me' (usage: whoami)"),
        (["fly", "b1"], "unknown command 'fly' (try 'help')"),
        (["hold", "b1", "--none"], "unknown command 'hold' (try 'help')"),
        (["help", "fly"], "help: unknown command 'fly' (try 'help')"),
    ])
    func badWordsAreOneUsageLine(_ words: [String], _ message: String) {
        #expect(throws: ShellError.self) { try Self.parse(words) }
        do {
            _ = try Self.parse(words)
        } catch {
            #expect(error.status == .usage)
            #expect(error.message.hasPrefix(message), "\(error.message)")
            #expect(!error.message.contains("\n"))
        }
    }

    @Test(arguments: ["-1", "nan", "1e19", "9223372036854775808", "1e-300"])
    func watchsEventIdIsAWholeNumber(_ id: String) {
        do {
            _ = try Self.parse(["watch", "--events-since", id], for: .agent)
            Issue.record("accepted \(id)")
        } catch {
            #expect(error.status == .usage && error.message.hasPrefix("watch: "), "\(error.message)")
            #expect(id == "-1" || error.message.hasPrefix("watch: --events-since wants an event id"), "\(error.message)")
        }
    }

    @Test func everyCommandHasItsHelp() throws {
        for type in LabCommand.declarations {
            for words in [[type.name, "--help"], ["help", type.name]] {
                let home: CommandHome = type.home.contains(.coordinator) ? .coordinator : .agent
                guard case .commandHelp(let text) = try LabCommand.parse(words, for: home) else {
                    Issue.record("\(words) is not a help request")
                    continue
                }
                // ArgumentParser wraps long lines.
                func flat(_ text: String) -> String { text.split(whereSeparator: \.isWhitespace).joined(separator: " ") }
                #expect(flat(text).contains(flat(type.usage)), "\(words): \(text)")
                #expect(flat(text).contains(flat(type.configuration.abstract)), "\(words)")
            }
        }
    }

    @Test func theAgentOffersHoldTheCoordinatorDoesNot() throws {
        guard case .hold(let hold) = try LabCommand.parse(["hold", "b1", "alice", "1900000000", "--guests", "bob"], for: .agent) else {
            Issue.record("not a hold")
            return
        }
        #expect(hold.board == "b1" && hold.user == "alice" && hold.guests == "bob")
        #expect(throws: ShellError.self) { try LabCommand.parse(["hold", "b1", "alice"], for: .agent) }
        #expect(throws: ShellError.self) { try LabCommand.parse(["hold", "b1", "alice", "1", "--none"], for: .agent) }
    }

    /// Commands a program makes (the coordinator's power-off at a
    /// reservation's end, its console and tunnel words) read every property.
    @Test func commandsMadeByTheProgramAreWhole() throws {
        #expect(PowerCommand(board: "b1", .off).words == ["power", "b1", "off"])
        #expect(PowerCommand(board: "b1", .off).access == .holder)
        #expect(ConsoleCommand(board: "b1", readOnly: true).words == ["console", "b1", "--ro"])
        #expect(ConsoleCommand(board: "b1", readOnly: false, force: true).words == ["console", "b1", "--force"])
        #expect(ConnectCommand(board: "b1", port: 22, checkOnly: true).words == ["connect", "b1", "22", "--check"])
        #expect(ConnectCommand(board: "b1", port: 22).audit?.detail == "22")
        for command in [PowerCommand(board: "b1", .on) as any BoardCommand, ConsoleCommand(board: "b1", readOnly: false),
                        ConnectCommand(board: "b1", port: 22)] {
            _ = try AccessPolicy(freeBoardsAreOpen: true).decide(command, identity: ShellIdentity(user: "a"), holder: nil)
        }
    }

    @Test func onlyBoardCommandsNameABoard() throws {
        #expect(try LabCommand.parse(["boards", "--json"], for: .coordinator).boardCommand == nil)
        #expect(try LabCommand.parse(["reserve", "b1"], for: .coordinator).boardCommand == nil)
    }
}
