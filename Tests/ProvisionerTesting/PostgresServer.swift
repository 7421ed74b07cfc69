import Foundation
import Synchronization

/// A PostgreSQL server of the test's own (Debian's postgresql-15): a new
/// cluster made by `initdb` in a temporary folder, `postgres` on a free port
/// of 127.0.0.1 and a socket in that folder, run as `nobody` when the test
/// runs as root (PostgreSQL refuses root), stopped by its PID.
public final class PostgresServer: Sendable {
    public let folder: TemporaryDirectory
    public let port: UInt16
    let running: Mutex<RunningProcess>
    let serverArguments: (String, [String])
    var process: RunningProcess { running.withLock { $0 } }

    /// Debian's server binaries, wherever its one version lives.
    public static var binaries: String? {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).sorted { $0.count == $1.count ? $0 > $1 : $0.count > $1.count }
        return versions.map { "\(root)/\($0)/bin" }.first { FileManager.default.isExecutableFile(atPath: $0 + "/postgres") }
    }

    public static var isAvailable: Bool { binaries != nil && Tools.isInstalled("setpriv") }

    /// `postgresql://postgres@127.0.0.1:PORT/postgres` (trust: no password).
    public var url: String { "postgresql://postgres@127.0.0.1:\(port)/postgres" }

    public init() async throws {
        guard let binaries = Self.binaries else { throw TestSetupError("PostgreSQL is not installed (scripts/setup installs postgresql-15)") }
        folder = try TemporaryDirectory(prefix: "postgres")
        let asUser = getuid() == 0 ? ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"] : []
        if getuid() == 0 { chown(folder.path, 65534, 65534) }
        let made = try await RunningProcess.run(asUser.first ?? binaries + "/initdb",
                                                Array(asUser.dropFirst()) + (asUser.isEmpty ? [] : [binaries + "/initdb"])
                                                    + ["-D", folder.path("data"), "-A", "trust", "-U", "postgres", "--no-sync",
                                                       "--encoding", "UTF8", "--locale", "C"], timeout: .seconds(60))
        guard made.exitCode == 0 else { throw TestSetupError("initdb: \(made)") }
        port = try freeTCPPort()
        let server = [binaries + "/postgres", "-D", folder.path("data"), "-p", "\(port)", "-k", folder.path,
                      "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=50"]
        serverArguments = (asUser.first ?? server[0], Array(asUser.dropFirst()) + (asUser.isEmpty ? Array(server.dropFirst()) : server))
        let process = try RunningProcess(serverArguments.0, serverArguments.1)
        running = Mutex(process)
        try await process.waitForLine(containing: "ready to accept connections", timeout: .seconds(30))
    }

    /// Starts the server again (after `stop`), on the same folder and port.
    public func startAgain() async throws {
        let process = try RunningProcess(serverArguments.0, serverArguments.1)
        running.withLock { $0 = process }
        try await process.waitForLine(containing: "ready to accept connections", timeout: .seconds(30))
    }

    /// A new, empty database on this server; its URL.
    public func createDatabase(_ name: String) async throws -> String {
        let made = try await RunningProcess.run("psql", ["-X", "-q", url, "-c", "CREATE DATABASE \(name)"], timeout: .seconds(30))
        guard made.exitCode == 0 else { throw TestSetupError("CREATE DATABASE \(name): \(made)") }
        return "postgresql://postgres@127.0.0.1:\(port)/\(name)"
    }

    deinit { process.signal(SIGINT) }

    /// Stops this server (by its PID) and removes its folder when the test
    /// process exits: for a server kept in a static, whose deinit never
    /// runs. Without it every test process that used one left a
    /// `postgres` running, and its folder in /tmp.
    public func stopAtExit() {
        _ = registerExitStops
        exitStops.withLock { $0.append((process.pid, folder.path)) }
    }

    /// Fast shutdown (SIGINT), and its exit status.
    public func stop() async -> Int32? {
        process.signal(SIGINT)
        return await process.waitForExit(timeout: .seconds(20))
    }
}

/// The servers `stopAtExit` stops: their PID and folder.
private let exitStops = Mutex<[(pid: Int32, folder: String)]>([])

private let registerExitStops: Void = {
    atexit {
        for (pid, folder) in exitStops.withLock({ $0 }) {
            kill(pid, SIGINT)  // fast shutdown
            // PostgreSQL removes postmaster.pid once it has stopped (10 s at most here).
            for _ in 0..<1000 where FileManager.default.fileExists(atPath: folder + "/data/postmaster.pid") { usleep(10_000) }
            try? FileManager.default.removeItem(atPath: folder)
        }
    }
}()
