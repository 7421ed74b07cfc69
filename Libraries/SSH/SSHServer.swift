#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import SystemSupport

/// A listening SSH port and the connections it serves: one thread accepts,
/// each connection runs `SSHServerConnection.run` with `handler` on a thread
/// of its own, and `stop()` ends them all. The agent's port and the
/// coordinator's front door are each one of these with their own handler.
public final class SSHServer: Sendable {
    /// The port actually bound (the kernel's when 0 was asked).
    public let port: UInt16
    private let listener: SSHListener
    /// The connections being served, and those held back (accepted, not
    /// yet started) by host, oldest first. One lock: admitting is a count
    /// and an insert that must not interleave.
    private struct Table {
        var serving: [ObjectIdentifier: SSHServerConnection] = [:]
        var held: [String: [SSHServerConnection]] = [:]
        var heldCount = 0
    }
    private let table = Mutex(Table())
    /// Connections that have not logged in yet (each may take up to 60 s):
    /// at most this many from one address, and in all. A new one past
    /// either waits, accepted but without a word from the server, until
    /// one of them logs in or goes; so idle or slow clients from one host
    /// cannot keep everyone else out, nor take every thread, while a burst
    /// of logins from one host only queues. Past `maxHeld` held ones, a
    /// new connection is closed at once.
    public static let maxWaitingPerAddress = 16
    public static let maxWaiting = 256
    public static let maxHeld = 1024
    /// When a refusal or an accept error was last logged, and how many since.
    private let quiet = QuietLog()

    /// Binds and listens at once: a taken port or an unreadable key fails
    /// here, with the reason.
    public init(host: String, port: UInt16, hostKeyPath: String) throws(SSHError) {
        listener = try SSHListener(host: host, port: port, hostKeyPath: hostKeyPath)
        self.port = listener.port
    }

    /// Accepts connections on a thread of its own until `stop()`.
    public func start(handler: any SSHServerHandler) throws {
        try startThread(named: "ssh-listen") { [self] in run(handler: handler) }
    }

    /// Accepts connections until `stop()`. Blocks the calling thread.
    public func run(handler: any SSHServerHandler) {
        while true {
            let connection: SSHServerConnection
            do {
                guard let accepted = try listener.accept() else { return }
                connection = accepted
            } catch {
                // Out of descriptors, say: the listening socket stays readable,
                // so pause rather than spin, and say so once in a while.
                logQuietly(handler, "ssh: \(error)")
                usleep(100_000)
                continue
            }
            enum Admission { case serve, hold(String), refuse(String) }
            let admission = table.withLock { table -> Admission in
                if let full = Self.waitingLimit(for: connection.peerHost, in: table) {
                    guard table.heldCount < Self.maxHeld else { return .refuse(full) }
                    table.held[connection.peerHost, default: []].append(connection)
                    table.heldCount += 1
                    return .hold(full)
                }
                table.serving[ObjectIdentifier(connection)] = connection
                return .serve
            }
            switch admission {
            case .serve: serve(connection, handler)
            case .hold(let why): logQuietly(handler, "ssh: holding a connection from \(connection.peer) back: \(why)")
            case .refuse(let why):
                logQuietly(handler, "ssh: closed a connection from \(connection.peer): \(why), and \(Self.maxHeld) more are held back")
                connection.refuse()
            }
        }
    }

    /// Runs `connection` (already in `serving`) on a thread of its own; when
    /// it logs in or ends, held connections may start.
    private func serve(_ connection: SSHServerConnection, _ handler: any SSHServerHandler) {
        let id = ObjectIdentifier(connection)
        connection.onLoggedIn = { [self] in admitHeld(handler) }
        do {
            try startThread(named: "ssh-connection") { [self] in
                connection.run(handler: handler)
                table.withLock { _ = $0.serving.removeValue(forKey: id) }
                admitHeld(handler)
            }
        } catch {
            handler.log(.warning, "ssh: cannot serve \(connection.peer): \(error)")
            table.withLock { _ = $0.serving.removeValue(forKey: id) }
            connection.refuse()
        }
    }

    /// Starts the held connections whose hosts are under the limits now, oldest first.
    private func admitHeld(_ handler: any SSHServerHandler) {
        while true {
            let next = table.withLock { table -> SSHServerConnection? in
                for (host, queue) in table.held where Self.waitingLimit(for: host, in: table) == nil {
                    let connection = queue[0]
                    table.held[host] = queue.count > 1 ? Array(queue.dropFirst()) : nil
                    table.heldCount -= 1
                    table.serving[ObjectIdentifier(connection)] = connection
                    return connection
                }
                return nil
            }
            guard let next else { return }
            serve(next, handler)
        }
    }

    /// Why a connection from `host` may not start its login now, if it may not.
    private static func waitingLimit(for host: String, in table: Table) -> String? {
        var all = 0, here = 0
        for connection in table.serving.values where !connection.hasLoggedIn {
            all += 1
            if connection.peerHost == host { here += 1 }
        }
        if here >= maxWaitingPerAddress { return "\(here) connections from \(host) are waiting to log in already" }
        if all >= maxWaiting { return "\(all) connections are waiting to log in already" }
        return nil
    }

    /// Logs `message`, but at most one line a second (QuietLog).
    private func logQuietly(_ handler: any SSHServerHandler, _ message: String) {
        if let line = quiet.admit(message) { handler.log(.warning, line) }
    }

    /// Stops listening and ends every connection (their programs see their
    /// input end); held ones are closed.
    public func stop() {
        listener.stop()
        let (serving, held) = table.withLock { table in
            defer { table.held = [:]; table.heldCount = 0 }
            return (Array(table.serving.values), table.held.values.flatMap { $0 })
        }
        for connection in held { connection.refuse() }
        for connection in serving { connection.stop() }
    }

    /// Connections being served.
    public var connectionCount: Int { table.withLock { $0.serving.count } }
}
