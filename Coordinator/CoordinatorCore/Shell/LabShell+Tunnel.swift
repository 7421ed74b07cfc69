import Commands
import SSH
import ShellSupport
import SystemSupport

extension LabShell {
    /// A direct-tcpip open at the front door (`ssh -J lab root@BOARD`, or
    /// `ssh -W BOARD:PORT lab`): allowed for the board's holder while its
    /// agent is online; nil refuses it, with the reason in the log (the
    /// SSH protocol carries none back to OpenSSH).
    func tunnel(to boardName: String, port: Int, for user: String, peer: String) -> (@Sendable (SSHChannelIO) -> Void)? {
        do throws(ShellError) {
            guard let board = registry.board(boardName) else { throw .failure("no board '\(boardName)'") }
            _ = try decide(ConnectCommand(board: board.name, port: port), for: ShellIdentity(user: user))
            guard let link = links[board.agent], registry.agentState(board.agent).online else {
                throw .failure("\(board.name) is offline (agent \(board.agent))")
            }
            // The agent reaches the port first: nobody listening refuses the
            // open (OpenSSH: "open failed"), not a tunnel that closes at once.
            let check: (status: Int32?, stderr: [UInt8])
            do {
                let result = try link.run(ConnectCommand(board: board.name, port: port, checkOnly: true).words, as: user, limit: 15)
                check = (result.status, result.stderr)
            } catch {
                throw .failure("agent \(board.agent) cannot be reached: \(error)")
            }
            guard check.status == 0 else {
                let said = String(decoding: check.stderr, as: UTF8.self).split(whereSeparator: \.isNewline).joined(separator: " / ")
                throw .failure(said.isEmpty ? "the agent's check failed (status \(check.status.map(String.init) ?? "none"))" : said)
            }
            reservations.record(user, "tunnel", board: board.name, "port \(port)")
            logger.info("tunnel: \(user) from \(peer) to \(board.name) port \(port)")
            return { io in
                do {
                    try startThread(named: "tunnel") { [self] in
                        carry(io, through: link, to: board.name, port: port, for: user)
                        io.exit(0)
                    }
                } catch {
                    io.exit(0)
                }
            }
        } catch {
            logger.info("tunnel: refused \(user) from \(peer) to \(boardName):\(port): \(error.message)")
            return nil
        }
    }

    /// Runs `connect BOARD PORT` on the agent as `user` and carries the
    /// tunnel's bytes through it until either side ends. The agent's error
    /// lines go to the log: a tunnel has no stderr to show them on.
    private func carry(_ io: SSHChannelIO, through link: AgentLink, to board: String, port: Int, for user: String) {
        let remote: SSHClientSession
        do {
            remote = try link.open(ConnectCommand(board: board, port: port).words, as: user)
        } catch {
            logger.warning("tunnel: \(user) to \(board) port \(port): agent \(link.name) cannot be reached: \(error)")
            return
        }
        let done = RouteEnd()
        do {
            try startThread(named: "tunnel-input") { Self.forwardInput(from: io, to: remote, until: done) }
        } catch {
            remote.hangUp()
            return
        }
        defer { done.flag.store(true, ordering: .releasing) }
        let logger = self.logger
        let watched = watch.add(user: user, board: board, warn: { logger.info("tunnel: \(user) to \(board): \($0)") }, cut: { message in
            logger.notice("tunnel: \(user) to \(board) port \(port): \(message)")
            remote.hangUp()
        })
        defer { watch.remove(watched) }
        while true {
            switch remote.read(timeout: 0.5) {
            case .stdout(let bytes):
                if !io.write(bytes) { remote.hangUp() }
            case .stderr(let bytes):
                logger.warning("tunnel: \(user) to \(board) port \(port): \(String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isNewline).joined(separator: " / "))")
            case .timeout:
                if io.isClosed { remote.hangUp() }
            case .exit:
                return
            }
        }
    }
}
