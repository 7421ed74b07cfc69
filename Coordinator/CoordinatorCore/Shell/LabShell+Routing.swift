import Commands
import Reservations
import ProvisionerCore
import Foundation
import SSH
import ShellSupport
import Synchronization
import SystemSupport

extension LabShell {
    /// A board command runs on the agent that owns the board, as the
    /// caller (`--as USER`), with its words as the parser normalised them:
    /// the agent acts on the board checked here, and the audit line names
    /// it. Streams are piped both ways and the agent's exit status passed
    /// through. The policy decides here (DESIGN.md "Reservation needed"):
    /// console input, power, netboot, flash and connect need the caller's
    /// reservation; upload, files, rm, token, log, jobs and watching a
    /// console do not.
    func routed(_ command: any BoardCommand, _ session: ShellSession) throws(ShellError) -> Int32 {
        let name = type(of: command).name
        let board = try board(command.board, for: name)
        if command is ConsoleCommand, !session.isTerminal { throw .usage("console: needs a terminal: use ssh -t") }
        if command is UploadCommand, session.isTerminal {
            throw .usage("upload: reads the file from stdin, not a terminal: ssh lab upload \(board.name) NAME < FILE")
        }
        let grant = try decide(command, for: session.identity)
        if case .forced(let holder) = grant {
            logger.notice("\(name): admin \(session.identity.user) forces \(board.name)\(holder.map { " (held by \($0))" } ?? "")")
        }
        // An admin's --force acts without a reservation: the watch, which
        // cuts sessions whose reservation is gone, would cut it at once.
        let onReservation = command.access != .anyone && grant == .granted
        var words = command.words
        if let console = command as? ConsoleCommand {
            // The agent is told what was decided: watching, or typing.
            let watching = grant == .watching
            if watching && !console.readOnly {
                session.writeRaw(Array("[provisioner] you do not hold \(board.name): watching read-only (reserve \(board.name) to type)\r\n".utf8))
            }
            words = ConsoleCommand(board: board.name, readOnly: watching, force: !watching && console.force).words
            audit(session, "console-attach", board: board.name, watching ? "read-only" : "read-write")
        }
        defer { if command is ConsoleCommand { audit(session, "console-detach", board: board.name) } }
        // What changes the board is written down before it runs; what
        // changes the caller's files, once it is known to have happened.
        let auditFirst = command.access == .holder
        if auditFirst, let (action, detail) = command.audit { audit(session, action, board: board.name, detail) }
        let status = try route(words, to: board, session, forwardInput: command.readsInput, onReservation: onReservation)
        if !auditFirst, let (action, detail) = command.audit {
            if command is UploadCommand {
                audit(session, action, board: board.name, (detail ?? "") + (status == 0 ? "" : " (failed, status \(status))"))
            } else if status == 0 {
                audit(session, action, board: board.name, detail)
            }
        }
        if status == 0, let power = command as? PowerCommand, let state = ["on": "on", "cycle": "on", "off": "off"][power.action] {
            registry.notePower(board: board.name, state)
        }
        return status
    }

    /// The policy's answer for `command` on its board, as the store and
    /// the calendar know the board now.
    func decide(_ command: any BoardCommand, for identity: ShellIdentity) throws(ShellError) -> AccessGrant {
        let name = type(of: command).name
        let current: Reservation?
        do { current = try store.current(board: command.board, at: now()) } catch {
            throw .failure("\(name): the reservation store failed: \(error)")
        }
        let holder = current.map { BoardHolder(user: $0.user, guests: $0.guests, until: $0.end) }
        return try policy.decide(command, identity: identity, holder: holder, problem: calendar?.accessProblem(board: command.board))
    }

    /// Runs `words` on the board's agent for the caller and pipes the
    /// session's streams through until the agent's command ends (its status
    /// is returned) or the caller leaves (the agent's side is hung up).
    /// `onReservation`: the session lives on the caller's reservation, and
    /// is warned before it ends and cut when it does (exit 3).
    func route(_ words: [String], to board: BoardStatus, _ session: ShellSession, forwardInput: Bool,
               onReservation: Bool = false) throws(ShellError) -> Int32 {
        let command = words[0]
        guard let link = links[board.agent] else { throw .failure("\(command): \(board.name): agent \(board.agent) is not in the config") }
        let state = registry.agentState(board.agent)
        guard state.online else {
            throw .failure("\(command): \(board.name) is offline: agent \(board.agent) does not answer (\(state.problem ?? "?"))")
        }
        let remote: SSHClientSession
        do {
            remote = try link.open(words, as: session.identity.user, terminal: session.streams.terminal)
        } catch {
            throw .failure("\(command): \(board.name): agent \(board.agent) cannot be reached: \(error)")
        }
        let io = session.streams
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
                io.writeError(TerminalText.bytes("\n[provisioner] \(message)\n", terminal: io.isTerminal))
            }
            watched = watch.add(user: session.identity.user, board: board.name, warn: notice, cut: { message in
                done.cut.store(true, ordering: .releasing)
                notice(message)
                remote.hangUp()
            })
        }
        defer { if let watched { watch.remove(watched) } }
        while true {
            switch remote.read(timeout: 0.5) {
            case .stdout(let bytes):
                io.write(bytes)
                if io.isClosed { remote.hangUp() }
            case .stderr(let bytes):
                io.writeError(bytes)
                if io.isClosed { remote.hangUp() }
            case .timeout:
                if io.isClosed { remote.hangUp() }
            case .exit(let status):
                if done.cut.load(ordering: .acquiring) {
                    logger.notice("\(command): \(session.identity.user)'s session on \(board.name) cut: the reservation ended")
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
    static func forwardInput(from io: any ShellStreams, to remote: SSHClientSession, until done: RouteEnd) {
        var size = io.terminal.map { ($0.columns, $0.rows) }
        while !done.flag.load(ordering: .acquiring) {
            let input = io.read(timeout: 0.2)
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
