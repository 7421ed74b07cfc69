import Foundation
import ProvisionerTesting
import Testing

/// The built binaries as a person runs them: exit status 0 / 1 / 2 and one
/// clear line on stderr (DESIGN.md).
@Suite("Command line of the built binaries", .timeLimit(.minutes(1)))
struct CommandLineTests {
    static let binaries = ["provisioner-agent", "provisioner-coordinator", "provisioner-flasher"]

    @Test("--version prints 0.1.0", arguments: binaries)
    func version(binary: String) async throws {
        let result = try await RunningProcess.run(try Tools.binary(binary), ["--version"], timeout: .seconds(20))
        #expect(result.exitCode == 0, "\(result)")
        #expect(result.stdout == "0.1.0\n", "\(result)")
        #expect(result.stderr.isEmpty, "\(result)")
    }

    /// In a chroot without /proc, Swift finds no arguments at all: the
    /// binary says so and exits 2, where it printed the help and exited 0
    /// (a `check-config` that "passed" a file that is not there).
    @Test("without /proc: one line and exit 2, never a silent pass",
          .enabled(if: getuid() == 0 && Tools.isInstalled("unshare"), "needs root and unshare (a mount namespace without /proc)"),
          arguments: ["provisioner-agent", "provisioner-coordinator"])
    func withoutProc(binary: String) async throws {
        let path = try Tools.binary(binary)
        let result = try await RunningProcess.run("unshare", ["-m", "sh", "-c", "umount -l /proc && exec \"$0\" check-config --config /nonexistent.yaml", path],
                                                  timeout: .seconds(20))
        #expect(result.exitCode == 2 && result.stderr == "\(binary): cannot read its command line from /proc/self/cmdline (is /proc mounted?)\n",
                "\(result)")
    }

    @Test("--help prints the usage and exits 0", arguments: binaries)
    func help(binary: String) async throws {
        let result = try await RunningProcess.run(try Tools.binary(binary), ["--help"], timeout: .seconds(20))
        #expect(result.exitCode == 0, "\(result)")
        #expect(result.stdout.lowercased().contains("usage: \(binary)"), "\(result)")
    }
}

/// `provisioner-agent check-config` on the documented example, and on broken copies of it.
@Suite("provisioner-agent check-config", .timeLimit(.minutes(1)))
struct CheckConfigTests {
    /// examples/agent.yaml, which documents every key.
    static func example() throws -> String {
        try String(contentsOfFile: Tools.packageRoot + "/examples/agent.yaml", encoding: .utf8)
    }

    /// The example without the two key-file lines (they name files of the
    /// agent host that do not exist here).
    static func exampleWithoutKeyFiles() throws -> String {
        try example().split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.contains("authorized_keys:") && !$0.contains("coordinator_keys:") }
            .joined(separator: "\n")
    }

    static func checkConfig(_ text: String, in folder: TemporaryDirectory) async throws -> (path: String, result: ProcessResult) {
        let path = try folder.createFile("agent.yaml", text: text)
        let result = try await RunningProcess.run(try Tools.agent(), ["check-config", "--config", path], timeout: .seconds(20))
        return (path, result)
    }

    @Test("the example config is ok")
    func exampleIsValid() async throws {
        let folder = try TemporaryDirectory(prefix: "check-config")
        let (path, result) = try await Self.checkConfig(try Self.exampleWithoutKeyFiles(), in: folder)
        #expect(result.exitCode == 0, "\(result)")
        #expect(result.stdout == "\(path): ok: agent bench-1, 1 board (board1)\n", "\(result)")
        #expect(result.stderr.isEmpty, "\(result)")
    }

    /// The example with real key files made by ssh-keygen in place of /etc/provisioner's.
    @Test("the example with real key files is ok",
          .enabled(if: Tools.isInstalled("ssh-keygen"), "ssh-keygen is not installed (openssh-client)"))
    func exampleWithKeyFiles() async throws {
        let folder = try TemporaryDirectory(prefix: "check-config")
        var text = try Self.example()
        for (file, comment) in [("agent_authorized_keys", "alice@laptop"), ("agent_coordinator_keys", "coordinator")] {
            let key = folder.path("key-\(file)")
            let made = try await RunningProcess.run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", key])
            try #require(made.exitCode == 0, "\(made)")
            try folder.createFile(file, contents: try Data(contentsOf: URL(fileURLWithPath: key + ".pub")))
            text = text.replacingOccurrences(of: "/etc/provisioner/\(file)", with: folder.path(file))
        }
        let (path, result) = try await Self.checkConfig(text, in: folder)
        #expect(result.exitCode == 0, "\(result)")
        #expect(result.stdout == "\(path): ok: agent bench-1, 1 board (board1)\n", "\(result)")
    }

    /// A host key that is there but is no private key is refused at the
    /// line naming it; a missing one is fine: the agent makes it at its
    /// first start.
    @Test("a host key that is not a private key is refused at its line")
    func aBrokenHostKeyIsRefused() async throws {
        let folder = try TemporaryDirectory(prefix: "check-config")
        let key = folder.path("agent_host_key")
        let text = try Self.exampleWithoutKeyFiles().replacingOccurrences(of: "/etc/provisioner/agent_host_key", with: key)
        let keyLine = try #require(text.split(separator: "\n", omittingEmptySubsequences: false)
            .firstIndex { $0.contains("host_key: \(key)") }) + 1

        let missing = try await Self.checkConfig(text, in: folder)
        #expect(missing.result.exitCode == 0, "\(missing.result)")

        try folder.createFile("agent_host_key", text: "not a key\n")
        let (path, result) = try await Self.checkConfig(text, in: folder)
        #expect(result.exitCode == 2, "\(result)")
        #expect(result.stderr == "\(path):\(keyLine): agent.ssh.host_key: \(key): not a private key libssh can read\n", "\(result)")
    }

    /// One mistake in a copy of the example: the line it is on, and words the message must have.
    struct Mistake: Sendable, CustomTestStringConvertible {
        let original: String
        let replacement: String
        /// Where the error must point, counted from the changed line (nil: any line ≥ 1).
        let lineOffset: Int?
        let words: [String]
        var testDescription: String { "'\(replacement.trimmingCharacters(in: .whitespaces))'" }
    }

    static let mistakes = [
        Mistake(original: "baud: 115200 ", replacement: "baud: fast ", lineOffset: 0, words: ["baud", "fast"]),
        Mistake(original: "name: bench-1 ", replacement: "name: Bench 1 ", lineOffset: 0, words: ["name", "Bench 1"]),
        Mistake(original: "type: gpio", replacement: "type: relay", lineOffset: 0, words: ["type", "relay"]),
        Mistake(original: "line: 17", replacement: "line: seventeen", lineOffset: 0, words: ["line", "seventeen"]),
        Mistake(original: "board_ip: 192.168.5.10 ", replacement: "board_ip: 192.168.5.300 ", lineOffset: 0,
                words: ["board_ip", "192.168.5.300"]),
        Mistake(original: "boot: booti ", replacement: "boot: bootx ", lineOffset: 0, words: ["boot", "bootx"]),
        Mistake(original: "listen: \"0.0.0.0:69\"", replacement: "listen: \"0.0.0.0:99999\"", lineOffset: 0,
                words: ["listen", "99999"]),
        Mistake(original: "  data_dir: /var/lib/provisioner ", replacement: "  data_dir: /var/lib/provisioner\n  colour: blue ",
                lineOffset: 1, words: ["colour"]),
        Mistake(original: "windowsize: 16 }", replacement: "windowsize: 16", lineOffset: nil, words: ["YAML"]),
    ]

    @Test("a broken copy: exit 2 and one line FILE:LINE: what is wrong", arguments: mistakes)
    func brokenCopy(mistake: Mistake) async throws {
        let good = try Self.exampleWithoutKeyFiles()
        let lines = good.split(separator: "\n", omittingEmptySubsequences: false)
        let index = try #require(lines.firstIndex { $0.contains(mistake.original) }, "'\(mistake.original)' is not in the example")
        let broken = good.replacingOccurrences(of: mistake.original, with: mistake.replacement)
        let folder = try TemporaryDirectory(prefix: "check-config")
        let (path, result) = try await Self.checkConfig(broken, in: folder)
        #expect(result.exitCode == 2, "\(result)")
        #expect(result.stdout.isEmpty, "\(result)")
        #expect(result.stderrLines.count == 1, "exactly one line on stderr:\n\(result)")
        let line = try #require(result.stderrLines.first, "\(result)")
        if let offset = mistake.lineOffset {
            #expect(line.hasPrefix("\(path):\(index + 1 + offset): "), "expected line \(index + 1 + offset): \(line)")
        } else {
            let number = line.dropFirst(path.count + 1).prefix { $0.isNumber }
            #expect(line.hasPrefix(path + ":") && (Int(number) ?? 0) >= 1, "expected \(path):LINE: …, got \(line)")
        }
        for word in mistake.words {
            #expect(line.contains(word), "'\(word)' missing in: \(line)")
        }
    }

    /// The example as shipped names key files of the agent host that do not
    /// exist here: the error points at the config line that names the missing file.
    @Test("a key file that does not exist: the config line that names it")
    func missingKeyFile() async throws {
        let text = try Self.example()
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let index = try #require(lines.firstIndex { $0.contains("authorized_keys:") })
        let folder = try TemporaryDirectory(prefix: "check-config")
        let (path, result) = try await Self.checkConfig(text, in: folder)
        #expect(result.exitCode == 2, "\(result)")
        #expect(result.stderrLines.count == 1, "\(result)")
        #expect(result.stderr.contains("/etc/provisioner/agent_authorized_keys"), "the missing file should be named: \(result)")
        #expect(result.stderr.hasPrefix("\(path):\(index + 1): agent.ssh.authorized_keys: "), "\(result)")
        #expect(result.stderr.contains("does not exist"), "\(result)")
    }

    @Test("a config file that does not exist: exit 2 and one line")
    func missingConfig() async throws {
        let folder = try TemporaryDirectory(prefix: "check-config")
        let path = folder.path("absent.yaml")
        let result = try await RunningProcess.run(try Tools.agent(), ["check-config", "--config", path], timeout: .seconds(20))
        #expect(result.exitCode == 2, "\(result)")
        #expect(result.stderrLines.count == 1 && result.stderr.hasPrefix(path + ":"), "\(result)")
    }
}

/// `provisioner-agent tftp`: what makes it refuse to start.
@Suite("provisioner-agent tftp: start-up errors", .timeLimit(.minutes(1)))
struct TFTPCommandTests {
    @Test("a root that does not exist: non-zero and one line naming it")
    func missingRoot() async throws {
        let folder = try TemporaryDirectory(prefix: "tftp-command")
        let root = folder.path("no-such-root")
        let result = try await RunningProcess.run(try Tools.agent(), ["tftp", "--root", root, "--listen", "127.0.0.1:0"],
                                                  timeout: .seconds(20))
        #expect(!result.timedOut, "it started serving a root that does not exist")
        #expect(result.exitCode != 0, "\(result)")
        #expect(result.stderrLines.count == 1, "exactly one line:\n\(result)")
        #expect(result.stderr.contains(root) && result.stderr.contains("No such file or directory"), "\(result)")
    }

    @Test("a root that is a file: non-zero and one line")
    func rootIsAFile() async throws {
        let folder = try TemporaryDirectory(prefix: "tftp-command")
        let file = try folder.createFile("plain-file", text: "x")
        let result = try await RunningProcess.run(try Tools.agent(), ["tftp", "--root", file, "--listen", "127.0.0.1:0"],
                                                  timeout: .seconds(20))
        #expect(!result.timedOut && result.exitCode != 0, "\(result)")
        #expect(result.stderrLines.count == 1 && result.stderr.contains("Not a directory"), "\(result)")
    }

    @Test("bad options are usage errors (exit 2)",
          arguments: [["--listen", "bogus"], ["--listen", "127.0.0.1:70000"], ["--listen", "::1:69"],
                      ["--log-level", "loud"], ["--max-window-size", "0"]])
    func usageErrors(options: [String]) async throws {
        let root = try TemporaryDirectory(prefix: "tftp-command")
        var arguments = ["tftp", "--root", root.path] + options
        if options[0] != "--listen" { arguments += ["--listen", "127.0.0.1:0"] }
        let result = try await RunningProcess.run(try Tools.agent(), arguments, timeout: .seconds(20))
        #expect(!result.timedOut, "it started with \(options)")
        #expect(result.exitCode == 2, "\(result)")
        // The first line names the option (ArgumentParser then adds the usage).
        #expect(result.stderr.hasPrefix("Error: \(options[0])"), "\(result)")
    }

    /// Two servers on one port would split the requests between them: the
    /// second must refuse to start, whoever holds the port.
    @Test("a port already in use: non-zero and one line", arguments: ["agent", "socket"])
    func portInUse(holder: String) async throws {
        let root = try TemporaryDirectory(prefix: "tftp-command")
        let first = holder == "agent" ? try await TFTPServerProcess(root: root.path) : nil
        let socket = holder == "socket" ? try UDPTestSocket() : nil
        let port = first?.port ?? socket!.localPort
        let result = try await RunningProcess.run(try Tools.agent(), ["tftp", "--root", root.path, "--listen", "127.0.0.1:\(port)"],
                                                  timeout: .seconds(5))
        await first?.stop()
        #expect(!result.timedOut, "a second server started on port \(port), already held by \(holder)")
        #expect(result.exitCode != 0, "\(result)")
        #expect(result.stderrLines.count == 1 && result.stderr.contains("Address already in use")
                && result.stderr.contains("127.0.0.1:\(port)"), "\(result)")
        _ = socket
    }

    /// --max-window-size caps what a client asking windowsize 16 gets.
    @Test("--max-window-size caps the window",
          .enabled(if: TFTPClient.atftp.isInstalled, TFTPClient.atftp.missingComment))
    func maxWindowSize() async throws {
        let fixture = try TFTPFixture()
        let expected = try fixture.serve("file.bin", size: 100_000)
        try await fixture.withServer(arguments: ["--max-window-size", "4"]) { server in
            let local = fixture.fetchedPath("atftp")
            let result = try await TFTPClient.atftp.fetch("file.bin", to: local, port: server.port)
            #expect(TFTPClient.atftp.succeeded(result), "\(result)")
            #expect(ByteComparison.difference(between: expected, andFileAt: local) == nil)
            let line = try await server.waitForLog("sent 'file.bin'")
            #expect(line.contains("blksize 1468, windowsize 4"), "\(line)")
        }
    }
}
