import Foundation
import HTTPDaemon
import Synchronization
import SystemSupport

/// The web page as a service of the coordinator or of a lone agent: binds
/// `listen` (HTTPS with the PEM files of `tls`) when it starts, in its turn;
/// at a stop, its consoles and event streams end before the daemon does.
public final class WebService: Service {
    public let name = "web"
    public let server: WebServer
    let listen: SocketAddress
    let tls: (certificate: String, key: String)?
    let log: @Sendable (String) -> Void
    private let daemon = Mutex<HTTPDaemon?>(nil)

    public init(server: WebServer, listen: SocketAddress, tls: (certificate: String, key: String)?,
                log: @escaping @Sendable (String) -> Void) {
        self.server = server
        self.listen = listen
        self.tls = tls
        self.log = log
    }

    public func start() throws {
        var options = WebServer.daemonOptions
        if let tls {
            guard let certificate = FileManager.default.contents(atPath: tls.certificate).map({ String(decoding: $0, as: UTF8.self) }),
                  let key = FileManager.default.contents(atPath: tls.key).map({ String(decoding: $0, as: UTF8.self) }) else {
                throw HTTPDaemonError("web: cannot read \(tls.certificate) or \(tls.key) (web.tls_cert, web.tls_key)")
            }
            options.tls = (certificate, key)
        }
        // Called with the service's thread group current: the consoles'
        // threads join it, so that the stop waits for them.
        server.startThreads(in: ThreadGroup.current)
        let started = try HTTPDaemon(listeningOn: listen, options: options, handler: server)
        log("web: serving on \(started.localAddress), as \(server.publicURL)")
        daemon.withLock { $0 = started }
    }

    /// Where it listens, once started.
    public var localAddress: SocketAddress? { daemon.withLock { $0?.localAddress } }

    public func stop() {
        server.stop()
        // The consoles' threads (in the service's group, current here) end
        // once their console did and their WebSocket closed: they give their
        // sockets back to libmicrohttpd while it still runs, not after.
        _ = ThreadGroup.current?.waitUntilEnded(timeout: Self.consoleGrace)
        daemon.withLock { $0?.stop(); $0 = nil }
    }

    /// How long a stop waits for the consoles to end: a browser that does
    /// not answer the close frame is cut off after 2 s.
    static let consoleGrace = 4.0
}
