import AgentCore
import SystemSupport

extension AgentShell {
    /// `connect BOARD PORT`: the board's TCP port on stdin and stdout, for
    /// the holder. The coordinator runs it for `ssh -J lab root@BOARD`; alone,
    /// `ssh -o ProxyCommand="ssh agent connect BOARD %p" root@BOARD` does the
    /// same (and `ssh -J agent root@BOARD` opens a tunnel that ends here too).
    /// `connect BOARD PORT --check` only reaches the port and closes it: the
    /// coordinator asks so before it opens a tunnel, so that OpenSSH can say
    /// "open failed" for a port nobody listens on.
    func connectCommand(_ command: ConnectCommand, _ board: any BoardHandle, _ session: ShellSession) throws(ShellError) {
        let check = command.checkOnly, port = command.portNumber
        guard check || !session.isTerminal else {
            throw .usage("connect: carries raw bytes, not for a terminal (use ssh -J or a ProxyCommand)")
        }
        let connection = try openConnection(to: board, port: port, for: "connect")
        if check {
            connection.shutDown()
            session.print("\(board.config.name) port \(port): reachable\n")
            return
        }
        logger.info("connect: \(session.identity.user) to \(board.config.name) port \(port) (\(connection.peer))")
        Self.carry(session.streams, connection)
        logger.info("connect: \(session.identity.user) left \(board.config.name) port \(port)")
    }

    /// A TCP connection to the board's `port`, or one line saying why not.
    func openConnection(to board: any BoardHandle, port: Int, for command: String) throws(ShellError) -> TCPConnection {
        let name = board.config.name
        let target: (host: String, port: Int)
        switch board.config.tcpAddress(port: port) {
        case .success(let address): target = address
        case .failure(let problem): throw .failure("\(command): \(problem)")
        }
        do {
            let address = try SocketAddress(host: target.host, port: UInt16(target.port))
            return try TCPConnection(to: address, timeout: 5)
        } catch {
            throw .failure("\(command): \(name) port \(port): \(error)")
        }
    }

    /// Carries bytes both ways until the board's side ends (the client sees
    /// EOF) or the client leaves. The client's EOF half-closes toward the
    /// board, which may still answer.
    static func carry(_ streams: any ShellStreams, _ connection: TCPConnection) {
        let boardEnded = ThreadSignal()
        do {
            try startThread(named: "tunnel-in") {
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)
                defer { buffer.deallocate() }
                while let count = try? connection.receive(into: buffer), count > 0 {
                    streams.write(Array(buffer[..<count]))
                    if streams.isClosed { break }
                }
                boardEnded.signal()
            }
        } catch {
            return
        }
        var sending = true
        while !boardEnded.isSignalled {
            guard sending else {
                // The client sent EOF: the board may still answer.
                if boardEnded.wait(timeout: 0.5) || streams.isClosed { break }
                continue
            }
            switch streams.read(timeout: 0.5) {
            case .bytes(let bytes):
                do { try bytes.withUnsafeBytes { try connection.send($0) } } catch { connection.shutDown() }
            case .timeout:
                continue
            case .end:
                if streams.isClosed {
                    connection.shutDown()
                } else {
                    connection.finishSending()
                    sending = false
                }
            }
        }
        connection.shutDown()
        boardEnded.wait(timeout: nil)
    }
}
