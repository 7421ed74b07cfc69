import Artifacts
import ArgumentParser
import ProvisionerCore
import Foundation
import HTTPDaemon
import Logging
import SystemSupport

struct HTTPCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "http",
        abstract: "Serve the artifact store over HTTP (GET/HEAD, listings, PUT/DELETE with a user's token), alone.",
        discussion: """
            Serves DATA_DIR/users/USER/ as /u/USER/ and DATA_DIR/shared/ as /shared/. \
            Get a user's upload token with 'provisioner-agent token --root DATA_DIR USER'.
            """)

    @Option(help: "The data folder (users/, shared/ and tokens/ are created in it).")
    var root: String

    @Option(help: "ADDR:PORT to listen on ([::1]:8080 for IPv6; port 0: the kernel picks one).")
    var listen: String = "0.0.0.0:8080"

    @Option(help: "Bytes each user may store, e.g. 500M, 10G, or 'none'.")
    var quota: String = "10G"

    @Option(help: "Server threads (each serves many connections with epoll).")
    var threads: Int = 4

    @Flag(help: "A thread per connection (poll) instead of the epoll thread pool.")
    var threadPerConnection = false

    @OptionGroup var log: LogOptions

    func validate() throws {
        do { _ = try SocketAddress(parsing: listen) } catch { throw ValidationError("--listen: \(error)") }
        guard (1...64).contains(threads) else { throw ValidationError("--threads must be 1–64") }
        _ = try parseQuota()
    }

    func run() throws {
        log.bootstrap()
        let logger = Logger(label: "provisioner-agent")
        // SIGINT and SIGTERM are taken with sigwait below: block them before
        // libmicrohttpd starts its threads, which inherit the mask.
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGINT)
        sigaddset(&signals, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        let server: ArtifactHTTPServer
        do {
            server = try ArtifactHTTPServer(listeningOn: try SocketAddress(parsing: listen), dataDirectory: root,
                                            quota: try parseQuota(), threads: threadPerConnection ? .perConnection : .pool(threads),
                                            logger: logger)
        } catch {
            throw StartupError(description: "http: \(error)")
        }
        logger.info("http: data folder \(server.store.dataDirectory), quota \(quota) per user")
        var received: Int32 = 0
        sigwait(&signals, &received)
        logger.info("http: signal \(received), stopping")
        server.stop()
    }

    private func parseQuota() throws -> UInt64? {
        guard let bytes = parseByteCount(quota) else {
            throw ValidationError("--quota: '\(quota)' is not a size such as 500M, 10G or none")
        }
        return bytes == .max ? nil : bytes
    }
}

struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Print a user's upload token for the HTTP artifact server (creating it on first use).")

    @Option(help: "The data folder the HTTP server uses.")
    var root: String

    @Argument(help: "The user (a-z, 0-9, '.', '_', '-').")
    var user: String

    func validate() throws {
        guard ArtifactRoute.isValidUserName(user) else {
            throw ValidationError("'\(user)' is not a user name (a-z, 0-9, '.', '_', '-'; not starting with '.')")
        }
    }

    func run() throws {
        do {
            let store = try ArtifactStore(dataDirectory: root)
            print(try TokenStore(directory: store.tokensDirectory).token(for: user))
        } catch {
            throw StartupError(description: "token: \(error)")
        }
    }
}
