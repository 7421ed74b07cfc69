import AgentCore
import Jobs
import ShellSupport
import SystemSupport

extension AgentShell {
    /// `console BOARD [--ro]`: attaches to the live console with scrollback
    /// replay until the client detaches (`Ctrl-]` `.`), sends EOF or leaves.
    /// Read-write when the policy granted it (the holder, an admin's
    /// `--force`), else watching.
    func consoleCommand(_ command: ConsoleCommand, _ board: any BoardHandle, _ grant: AccessGrant,
                        _ session: ShellSession) throws(ShellError) {
        guard session.isTerminal else { throw .usage("console: needs a terminal: use ssh -t") }
        attachConsole(board, readOnly: grant == .watching, asked: command.readOnly, forced: grant != .granted, session)
    }

    /// A read-write console turns read-only when someone else comes to
    /// hold the board (checked each second), unless an admin forced it.
    func attachConsole(_ board: any BoardHandle, readOnly startsReadOnly: Bool, asked: Bool = false, forced: Bool = false,
                       _ session: ShellSession) {
        var readOnly = startsReadOnly
        let name = board.config.name
        let user = session.identity.user
        // Someone else holds the board: watching only.
        let shut = readOnly && !asked && !holders.allows(user, on: name)
        let streams = session.streams
        @Sendable func notice(_ text: String) { streams.offer(Array("\r\n[provisioner] \(text)\r\n".utf8)) }
        if shut, let heldBy = holders.holding(of: name) {
            session.writeRaw(Array("[provisioner] \(name) is held by \(heldBy.user) until \(isoTime(heldBy.until)): read-only\r\n".utf8))
        } else if shut, let reason = holders.lockReason(of: name) {
            session.writeRaw(Array("[provisioner] \(name) is locked (\(reason)): read-only\r\n".utf8))
        }
        session.writeRaw(Array(("[provisioner] \(name) console\(readOnly ? ", read-only" : ""): "
                                + "Ctrl-] opens the menu, Ctrl-] . detaches\r\n").utf8))
        logger.info("console: \(user) attached to \(name)\(readOnly ? " read-only" : "")")
        events?.append("console.attach", board: name, user: user, ["read_only": .bool(readOnly)])
        let attached = board.console.attach(readOnly: readOnly) { chunk in
            switch chunk {
            case .output(let bytes): streams.offer(bytes)
            case .notice(let text): notice(text)
            case .dropped(let count): notice("\(count) bytes dropped: this session was too slow")
            }
        }
        // OpenSSH's ~B sends a break request: a serial break on the line.
        if !readOnly {
            streams.setBreakHandler { [logger] in
                do {
                    try attached.sendBreak()
                    logger.info("console: \(user) sent a break to \(name)")
                } catch {
                    notice("break not sent: \(error)")
                }
            }
        }
        defer {
            streams.setBreakHandler(nil)
            attached.detach()
            logger.info("console: \(user) detached from \(name)")
            events?.append("console.detach", board: name, user: user)
        }
        var escape = ConsoleEscape()
        var toldReadOnly = false
        while true {
            let input = session.read(timeout: 1)
            if !readOnly && !forced && !holders.allows(user, on: name) {
                readOnly = true
                streams.setBreakHandler(nil)
                notice("\(name) is now \(holders.describe(name)): read-only from now on")
                logger.info("console: \(user) on \(name) turned read-only (\(holders.describe(name)))")
            }
            let dropped = streams.takeDropped()
            if dropped > 0 { notice("\(dropped) bytes dropped: this session was too slow") }
            guard case .bytes(let bytes) = input else {
                if input == .end { return }
                continue
            }
            for action in escape.feed(bytes) {
                switch action {
                case .send(let typed):
                    if readOnly {
                        if !toldReadOnly { notice("read-only: what you type is not sent") }
                        toldReadOnly = true
                        continue
                    }
                    do { try attached.write(typed) } catch { notice("input not sent: \(error)") }
                case .showMenu:
                    notice("menu: . detach  c power cycle  b send break  r reset to U-Boot  Ctrl-] send Ctrl-]")
                case .detach:
                    notice("detached from \(name)")
                    return
                case .powerCycle:
                    guard !readOnly else { notice("read-only: power cycle not allowed"); continue }
                    notice("power cycle…")
                    do {
                        try board.power.cycle()
                        logger.notice("power: \(name) cycle, asked by \(user) from the console")
                    } catch {
                        notice("power cycle failed: \(error)")
                    }
                case .sendBreak:
                    guard !readOnly else { notice("read-only: break not allowed"); continue }
                    do { try attached.sendBreak() } catch { notice("break not sent: \(error)") }
                case .resetToUBoot:
                    guard !readOnly else { notice("read-only: reset not allowed"); continue }
                    notice(resetToUBoot(board, by: user))
                case .cancel:
                    notice("menu closed")
                }
            }
        }
    }
}

extension AgentShell {
    /// The console menu's `r`: power-cycles the board and stops it at the
    /// U-Boot prompt, as a job would (one at a time per board). Returns the
    /// line to show.
    func resetToUBoot(_ board: any BoardHandle, by user: String) -> String {
        let name = board.config.name
        let claim: JobClaim
        do {
            claim = try jobs.claim(name, kind: "reset", user: user)
        } catch {
            return "reset not done: \(error)"
        }
        defer { claim.release() }
        logger.notice("console: \(user) resets \(name) to U-Boot")
        board.console.note("reset to U-Boot by \(user)")
        let uboot = UBootDriver(board: board, isCancelled: { false })
        defer { uboot.detach() }
        do {
            try uboot.powerUp()
            try uboot.reachPrompt()
        } catch {
            setState(nil, of: board, by: user)
            return "reset to U-Boot failed: \(error)"
        }
        setState("u-boot", of: board, by: user)
        return "at the U-Boot prompt"
    }
}
