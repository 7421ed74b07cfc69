import CoordinatorStore
import ProvisionerCore
import Foundation
import SSH
import ShellSupport
import Synchronization
import SystemSupport

extension LabShell {
    /// Board commands run on the agent that owns the board, as the caller
    /// (`--as USER`), streams piped both ways and the agent's exit status
    /// passed through. Access is decided here (DESIGN.md "Decisions"):
    /// console input, power, netboot and flash need the caller's
    /// reservation; upload, files, rm, token, log, jobs and watching a
    /// console do not.
    func routedCommand(_ name: String, _ arguments: [String], _ session: LabSession) throws(CommandError) -> Int32 {
        guard let boardName = arguments.first(where: { !$0.hasPrefix("-") }) else {
            throw .usage("\(name): missing BOARD (try 'help')")
        }
        let board = try board(boardName, for: name)
        let words = [name] + arguments
        switch name {
        case "power":
            if arguments.count == 2 && arguments[1] == "status" { break }
            try requireReservation(of: board.name, for: name, session)
            audit(session, "power", board: board.name, arguments.dropFirst().joined(separator: " "))
            let status = try route(words, to: board, session, forwardInput: false)
            if status == 0, arguments.count == 2, let power = ["on": "on", "cycle": "on", "off": "off"][arguments[1]] {
                registry.notePower(board: board.name, power)
            }
            return status
        case "netboot", "flash":
            try requireReservation(of: board.name, for: name, session)
            audit(session, name, board: board.name, arguments.dropFirst().joined(separator: " "))
            return try route(words, to: board, session, forwardInput: true, onReservation: true)
        case "console":
            guard session.isTerminal else { throw .usage("console: needs a terminal: use ssh -t") }
            return try console(board, readOnly: arguments.contains("--ro"), session)
        case "upload":
            guard !session.isTerminal else {
                throw .usage("upload: reads the file from stdin, not a terminal: ssh lab upload \(board.name) NAME < FILE")
            }
            let status = try route(words, to: board, session, forwardInput: true)
            audit(session, "upload", board: board.name, (arguments.dropFirst().first ?? "") + (status == 0 ? "" : " (failed, status \(status))"))
            return status
        case "rm":
            let status = try route(words, to: board, session, forwardInput: false)
            if status == 0 { audit(session, "rm", board: board.name, arguments.dropFirst().first) }
            return status
        default:
            break
        }
        let needsInput = name == "log" && arguments.contains("--follow")
        return try route(words, to: board, session, forwardInput: needsInput)
    }

    /// Console input needs a current reservation of `board` by the caller
    /// (or one the caller is a guest of).
    func requireReservation(of board: String, for command: String, _ session: LabSession) throws(CommandError) {
        try requireReservation(of: board, for: command, user: session.user.name)
    }

    func requireReservation(of board: String, for command: String, user: String) throws(CommandError) {
        if let problem = calendar?.accessProblem(board: board) { throw .failure("\(command): \(problem)") }
        let current: Reservation?
        do { current = try store.current(board: board, at: now()) } catch { throw .failure("\(command): the reservation store failed: \(error)") }
        guard let current else { throw .notAllowed("\(command): needs a reservation of \(board) (not reserved: reserve \(board))") }
        guard current.allows(user) else {
            throw .notAllowed("\(command): needs a reservation of \(board) (held by \(current.user) until \(TimeText.format(current.end)))")
        }
    }

    /// `console BOARD [--ro]`: read-write for the holder (and its guests), else watching.
    func console(_ board: BoardStatus, readOnly asked: Bool, _ session: LabSession) throws(CommandError) -> Int32 {
        var holds = false
        do { holds = try store.current(board: board.name, at: now())?.allows(session.user.name) ?? false } catch {
            logger.error("console: the reservation store failed: \(error)")
        }
        if holds && !asked, let problem = calendar?.accessProblem(board: board.name) { throw .failure("console: \(problem)") }
        let readOnly = asked || !holds
        if readOnly && !asked {
            session.writeRaw(Array("[provisioner] you do not hold \(board.name): watching read-only (reserve \(board.name) to type)\r\n".utf8))
        }
        audit(session, "console-attach", board: board.name, readOnly ? "read-only" : "read-write")
        defer { audit(session, "console-detach", board: board.name) }
        return try route(["console", board.name] + (readOnly ? ["--ro"] : []), to: board, session, forwardInput: true,
                         onReservation: !readOnly)
    }

    /// Runs `words` on the board's agent for the caller and pipes the
    /// session's streams through until the agent's command ends (its status
    /// is returned) or the caller leaves (the agent's side is hung up).
    /// `onReservation`: the session lives on the caller's reservation, and
    /// is warned before it ends and cut when it does (exit 3).
    func route(_ words: [String], to board: BoardStatus, _ session: LabSession, forwardInput: Bool,
               onReservation: Bool = false) throws(CommandError) -> Int32 {
        let command = words[0]
        guard let link = links[board.agent] else { throw .failure("\(command): \(board.name): agent \(board.agent) is not in the config") }
        let state = registry.agentState(board.agent)
        guard state.online else {
            throw .failure("\(command): \(board.name) is offline: agent \(board.agent) does not answer (\(state.problem ?? "?"))")
        }
        let remote: SSHClientSession
        do {
            remote = try link.open(words, as: session.user.name, terminal: session.io.terminal)
        } catch {
            throw .failure("\(command): \(board.name): agent \(board.agent) cannot be reached: \(error)")
        }
        let io = session.io
        let done = RouteEnd()
        if forwardInput {
            let early = session.takePending()
            if !early.isEmpty { remote.write(early) }
            do {
                try startThread(named: "route-input") {
                    Self.forwardInput(from: io, to: remote, until: done)
                }
            } catch {
                remote.hangUp()
                throw .failure("\(command): cannot start a thread: \(error)")
            }
        } else {
            remote.finishInput()
        }
        defer { done.flag.store(true, ordering: .releasing) }
        var watched: Int?
        if onReservation {
            let notice = { @Sendable (message: String) in
                _ = io.writeError(TerminalText.bytes("\n[provisioner] \(message)\n", terminal: io.terminal != nil))
            }
            watched = watch.add(user: session.user.name, board: board.name, warn: notice, cut: { message in
                done.cut.store(true, ordering: .releasing)
                notice(message)
                remote.hangUp()
            })
        }
        defer { if let watched { watch.remove(watched) } }
        while true {
            switch remote.read(timeout: 0.5) {
            case .stdout(let bytes):
                if !io.write(bytes) { remote.hangUp() }
            case .stderr(let bytes):
                if !io.writeError(bytes) { remote.hangUp() }
            case .timeout:
                if io.isClosed { remote.hangUp() }
            case .exit(let status):
                if done.cut.load(ordering: .acquiring) {
                    logger.notice("\(command): \(session.user.name)'s session on \(board.name) cut: the reservation ended")
                    return ExitStatus.notAllowed.rawValue
                }
                guard let status else {
                    if !io.isClosed { session.printError("\(command): \(board.name): the connection to agent \(board.agent) broke") }
                    return ExitStatus.failure.rawValue
                }
                return status
            }
        }
    }

    /// The caller's input and window changes to the agent, until the caller
    /// sends EOF (passed on) or leaves (the agent's side is hung up), or the
    /// routed command ended (`done`).
    static func forwardInput(from io: SSHChannelIO, to remote: SSHClientSession, until done: RouteEnd) {
        var size = io.terminal.map { ($0.columns, $0.rows) }
        while !done.flag.load(ordering: .acquiring) {
            let input = io.read(timeout: 0.2) as SSHInput
            if let terminal = io.terminal, size.map({ $0 != (terminal.columns, terminal.rows) }) ?? false {
                size = (terminal.columns, terminal.rows)
                remote.resize(columns: terminal.columns, rows: terminal.rows)
            }
            switch input {
            case .bytes(let bytes):
                if !remote.write(bytes) { return }
            case .timeout:
                continue
            case .end:
                if io.isClosed { remote.hangUp() } else { remote.finishInput() }
                return
            }
        }
    }
}

/// Set once a routed command ended, so its input thread stops.
final class RouteEnd: Sendable {
    let flag = Atomic<Bool>(false)
    /// The reservation ended and the watch hung the agent's side up.
    let cut = Atomic<Bool>(false)
}
