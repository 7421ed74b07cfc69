import HTTPDaemon
import Logging
import SystemSupport

/// The artifact server as a running service: the store, the tokens and a
/// libmicrohttpd daemon on `address`. Used by `provisioner-agent http` and,
/// with `http.listen` from agent.yaml, by the agent daemon.
public final class ArtifactHTTPServer: Sendable {
    public let store: ArtifactStore
    public let tokens: TokenStore
    private let daemon: HTTPDaemon
    private let logger: Logger

    /// Binds at once, so a taken port or a missing permission fails here.
    /// `routes`: other handlers by path prefix (the flasher's job API).
    public init(listeningOn address: SocketAddress, dataDirectory: String, quota: UInt64? = nil,
                threads: HTTPDaemonOptions.Threads = .pool(4), routes: [(prefix: String, handler: any HTTPHandler)] = [],
                onRequestEnd: (@Sendable (HTTPRequestEnd) -> Void)? = nil, logger: Logger) throws {
        store = try ArtifactStore(dataDirectory: dataDirectory, quota: quota)
        tokens = try TokenStore(directory: store.tokensDirectory)
        var options = HTTPDaemonOptions()
        options.threads = threads
        options.onRequestEnd = onRequestEnd
        options.log = { [logger] message in
            logger.warning(message.hasPrefix("refused") ? "http: \(message)" : "http: libmicrohttpd: \(message)")
        }
        let artifacts = ArtifactServer(store: store, tokens: tokens, logger: logger)
        daemon = try HTTPDaemon(listeningOn: address, options: options,
                                handler: routes.isEmpty ? artifacts : PrefixRouter(routes: routes, fallback: artifacts))
        self.logger = logger
        logger.info("http: serving on \(daemon.localAddress)")
    }

    /// The address bound, with the port the kernel chose for port 0.
    public var localAddress: SocketAddress { daemon.localAddress }

    /// Stops serving; uploads under way are abandoned and their temp files removed.
    public func stop() {
        daemon.stop()
        logger.debug("http: stopped")
    }
}

/// Sends a request to the first handler whose prefix its path starts with.
struct PrefixRouter: HTTPHandler {
    let routes: [(prefix: String, handler: any HTTPHandler)]
    let fallback: any HTTPHandler

    func handle(_ request: HTTPRequest) -> HTTPAction {
        for route in routes where request.path.hasPrefix(route.prefix) { return route.handler.handle(request) }
        return fallback.handle(request)
    }
}
