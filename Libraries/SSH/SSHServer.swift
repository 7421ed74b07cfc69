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
                handler.log(.warning, "ssh: \(error)")
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

    /// Stops listening and ends every connection (their programs see their
    /// input end).
    public func stop() {
        listener.stop()
        for connection in connections.withLock({ Array($0.values) }) { connection.stop() }
    }

    /// Connections being served.
    public var connectionCount: Int { connections.withLock { $0.count } }
}
