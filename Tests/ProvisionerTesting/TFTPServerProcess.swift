import Foundation

/// The built `provisioner-agent tftp` serving a folder on 127.0.0.1, on a
/// port the kernel picked (read back from its "serving on" log line), so
/// tests can run side by side.
public final class TFTPServerProcess: Sendable {
    public let process: RunningProcess
    public let port: UInt16
    public let root: String

    /// Starts the server and waits until it serves.
    /// - Parameters:
    ///   - arguments: more options for `provisioner-agent tftp` (e.g. `--max-window-size`).
    ///   - wrapper: a command the agent runs under, e.g. `setpriv --reuid=…`.
    public init(root: String, arguments: [String] = [], logLevel: String = "debug", wrapper: [String] = []) async throws {
        let agent = try Tools.agent()
        let command = wrapper + [agent, "tftp", "--root", root, "--listen", "127.0.0.1:0", "--log-level", logLevel] + arguments
        process = try RunningProcess(command[0], Array(command.dropFirst()))
        self.root = root
        let line = try await process.waitForLine(containing: "tftp: serving on 127.0.0.1:")
        guard let text = line.split(separator: ":").last, let port = UInt16(text.trimmingCharacters(in: .whitespaces)),
              port != 0 else {
            await process.terminate()
            throw ProcessFailure("no port in the line '\(line)'", stdout: process.stdout, stderr: process.stderr)
        }
        self.port = port
    }

    /// Runs `body` with a server on `root`, and ends the server afterwards,
    /// also when `body` throws.
    public static func with<T>(root: String, arguments: [String] = [], wrapper: [String] = [],
                               _ body: (TFTPServerProcess) async throws -> T) async throws -> T {
        let server = try await TFTPServerProcess(root: root, arguments: arguments, wrapper: wrapper)
        do {
            let result = try await body(server)
            await server.stop()
            return result
        } catch {
            await server.stop()
            throw error
        }
    }

    /// Everything the server logged so far.
    public var log: String { process.stderr }

    /// The lines of the log that contain `text`.
    public func logLines(containing text: String) -> [String] {
        log.split(separator: "\n").filter { $0.contains(text) }.map(String.init)
    }

    /// Waits for a log line containing `text` and returns it.
    @discardableResult
    public func waitForLog(_ text: String, timeout: Duration = .seconds(10)) async throws -> String {
        try await process.waitForLine(containing: text, timeout: timeout)
    }

    /// Whether the server still runs (it must survive every bad request).
    public var isRunning: Bool { process.isRunning }

    /// Ends the server (SIGTERM, then SIGKILL).
    public func stop() async {
        await process.terminate()
    }
}
