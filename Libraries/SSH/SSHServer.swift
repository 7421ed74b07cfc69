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
    private let connections = Mutex<[ObjectIdentifier: SSHServerConnection]>([:])
    /// Connections that have not logged in yet (each may take up to 60 s):
    /// at most this many from one address, and in all. Past either a new
    /// one is closed at once, so idle or slow clients from one host cannot
    /// keep everyone else out, nor take every thread and descriptor.
    public static let maxWaitingPerAddress = 16
    public static let maxWaiting = 256
    /// When a refusal or an accept error was last logged, and how many since.
    private let quiet = Mutex<(last: Double, suppressed: Int)>((0, 0))

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
            if let full = waitingLimit(for: connection) {
                logQuietly(handler, "ssh: closed a connection from \(connection.peer): \(full)")
                connection.refuse()
                continue
            }
            let id = ObjectIdentifier(connection)
            connections.withLock { $0[id] = connection }
            do {
                try startThread(named: "ssh-connection") { [self] in
                    connection.run(handler: handler)
                    connections.withLock { _ = $0.removeValue(forKey: id) }
                }
            } catch {
                handler.log(.warning, "ssh: cannot serve \(connection.peer): \(error)")
                connections.withLock { _ = $0.removeValue(forKey: id) }
            }
        }
    }

    /// Why `connection` may not wait to log in, if it may not.
    private func waitingLimit(for connection: SSHServerConnection) -> String? {
        let host = connection.peerHost
        let (all, here) = connections.withLock { connections in
            connections.values.reduce(into: (0, 0)) { counts, other in
                guard !other.hasLoggedIn else { return }
                counts.0 += 1
                if other.peerHost == host { counts.1 += 1 }
            }
        }
        if here >= Self.maxWaitingPerAddress { return "\(here) connections from \(host) are waiting to log in already" }
        if all >= Self.maxWaiting { return "\(all) connections are waiting to log in already" }
        return nil
    }

    /// Logs `message`, but at most one line a second; the lines left out
    /// are counted in the next.
    private func logQuietly(_ handler: any SSHServerHandler, _ message: String) {
        let now = monotonicSeconds()
        let suppressed = quiet.withLock { state -> Int? in
            guard now - state.last >= 1 else {
                state.suppressed += 1
                return nil
            }
            defer { state = (now, 0) }
            return state.suppressed
        }
        guard let suppressed else { return }
        handler.log(.warning, message + (suppressed > 0 ? " (and \(suppressed) more like it)" : ""))
    }

    /// Stops listening and ends every connection (their programs see their
    /// input end).
    public func stop() {
        listener.stop()
        for connection in connections.withLock({ Array($0.values) }) { connection.stop() }
    }

    /// Connections being served.
    public var connectionCount: Int { connections.withLock { $0.count } }
}
