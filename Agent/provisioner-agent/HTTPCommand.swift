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
        let signals = StopSignals.block([SIGINT, SIGTERM])
        let address = try SocketAddress(parsing: listen), bytes = try parseQuota(), quota = quota
        let threads: HTTPDaemonOptions.Threads = threadPerConnection ? .perConnection : .pool(threads)
        let http = HTTPService {
            try ArtifactHTTPServer(listeningOn: address, dataDirectory: root, quota: bytes, threads: threads, logger: logger)
        }
        try Daemon.serve("http", services: [http], signals: signals, logger: logger) {
            http.server.map { "http: data folder \($0.store.dataDirectory), quota \(quota) per user" }
        }
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
