import Foundation
import ProvisionerTesting
import Testing

/// One test's folder: `root/` is what the server serves, `fetched/` is where
/// clients write. Removed when the test ends.
struct TFTPFixture {
    let directory: TemporaryDirectory
    let root: String

    init() throws {
        directory = try TemporaryDirectory(prefix: "tftp-integration")
        root = try directory.createDirectory("root")
        try directory.createDirectory("fetched")
    }

    /// A file of `size` random bytes at `name` below the root; returns its bytes.
    @discardableResult
    func serve(_ name: String, size: Int) throws -> Data {
        try directory.createRandomFile("root/" + name, size: size)
    }

    @discardableResult
    func serve(_ name: String, contents: Data) throws -> Data {
        try directory.createFile("root/" + name, contents: contents)
        return contents
    }

    /// A fresh path for a client to write to (never left over from before).
    func fetchedPath(_ name: String) -> String {
        let path = directory.path("fetched/\(name)-\(UInt32.random(in: 0...UInt32.max))")
        try? FileManager.default.removeItem(atPath: path)
        return path
    }

    /// Runs `body` with the agent serving `root`; the server is ended afterwards.
    func withServer<T>(arguments: [String] = [], wrapper: [String] = [],
                       _ body: (TFTPServerProcess) async throws -> T) async throws -> T {
        try await TFTPServerProcess.with(root: root, arguments: arguments, wrapper: wrapper, body)
    }

    /// Fetches `remote` with `client` and expects exactly `expected`; also
    /// expects the server to log the transfer with the size it sent and the
    /// block and window sizes it settled on.
    func expectFetch(_ remote: String, with client: TFTPClient, from server: TFTPServerProcess, expected: Data,
                     tuning: TFTPClient.Tuning = .tuned, timeout: Duration = .seconds(60),
                     sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let local = fetchedPath(client.rawValue)
        let result = try await client.fetch(remote, to: local, port: server.port, tuning: tuning, timeout: timeout)
        #expect(client.succeeded(result), "\(client) failed to fetch '\(remote)':\n\(result)\n--- server log:\n\(server.log)",
                sourceLocation: sourceLocation)
        if let difference = ByteComparison.difference(between: expected, andFileAt: local) {
            Issue.record("\(client) fetched '\(remote)' wrong: \(difference)\n\(result)\n--- server log:\n\(server.log)",
                         sourceLocation: sourceLocation)
        }
        let line = try await server.waitForLog("sent '\(remote)' to 127.0.0.1:")
        #expect(line.contains(": \(expected.count) bytes in "), "server log: \(line)", sourceLocation: sourceLocation)
        let tuningText = "blksize \(client.blockSize(tuning)), windowsize \(client.windowSize(tuning))"
        #expect(line.contains(tuningText), "expected \(tuningText) in the server's log: \(line)", sourceLocation: sourceLocation)
    }

    /// After a refusal or a bad packet: a real client still gets a good file, byte for byte.
    func expectStillServes(_ server: TFTPServerProcess, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        #expect(server.isRunning, "the server died:\n\(server.log)", sourceLocation: sourceLocation)
        let name = "still-serving-\(UInt32.random(in: 0...UInt32.max)).bin"
        let expected = try serve(name, size: 3000)
        let client = TFTPClient.allCases.first { $0.isInstalled } ?? .tftpHPA
        try await expectFetch(name, with: client, from: server, expected: expected, sourceLocation: sourceLocation)
    }
}
