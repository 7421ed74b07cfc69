import Foundation
import ProvisionerTesting
import Testing

/// What the server must refuse (DESIGN.md: writes, `..`, absolute escapes,
/// symlinks out of the root), as each real client shows it; after every
/// refusal the same server still serves a good file.
@Suite("TFTP: refusals, as real clients see them", .serialized, .timeLimit(.minutes(2)))
struct TFTPRefusalTests {
    /// A refusal every client must show: the request, the ERROR code, and a
    /// piece of the server's message.
    struct Refusal: Sendable, CustomTestStringConvertible {
        let requested: String
        let code: UInt16
        let message: String
        var testDescription: String { "'\(requested)' → error \(code)" }
    }

    static let common = [
        Refusal(requested: "missing.bin", code: 1, message: "not found"),
        Refusal(requested: "../secret.bin", code: 2, message: "'..' is not allowed"),
        Refusal(requested: "passwd", code: 2, message: "leads out of the TFTP root"),  // → /etc/passwd
        Refusal(requested: "sub", code: 2, message: "not a regular file"),
    ]

    /// A folder with a secret beside the root, a symlink to /etc/passwd and a folder inside it.
    static func refusalFixture() throws -> TFTPFixture {
        let fixture = try TFTPFixture()
        try fixture.directory.createRandomFile("secret.bin", size: 700)
        try fixture.directory.createSymbolicLink("root/passwd", to: "/etc/passwd")
        try fixture.serve("sub/inside.bin", size: 10)
        return fixture
    }

    @Test("each client shows the refusal", arguments: TFTPClient.allCases, common)
    func clientsShowRefusals(client: TFTPClient, refusal: Refusal) async throws {
        guard client.isInstalled else { try Test.cancel(client.missingComment) }
        let fixture = try Self.refusalFixture()
        try await fixture.withServer { server in
            let local = fixture.fetchedPath("refused")
            let result = try await client.fetch(refusal.requested, to: local, port: server.port, timeout: .seconds(30))
            #expect(client.reportsRefusal(result, code: refusal.code, message: refusal.message),
                    "\(client) should show error \(refusal.code) '\(refusal.message)':\n\(result)\n--- server log:\n\(server.log)")
            #expect(Self.fetchedNothing(local), "\(client) wrote bytes for a refused request")
            try await server.waitForLog("refused '\(refusal.requested)' from 127.0.0.1:")
            try await fixture.expectStillServes(server)
        }
    }

    @Test("a write request (tftp put) is refused and nothing is written",
          .enabled(if: TFTPClient.tftpHPA.isInstalled, TFTPClient.tftpHPA.missingComment))
    func writeRequest() async throws {
        let fixture = try TFTPFixture()
        let upload = try fixture.directory.createRandomFile("upload.bin", size: 2000)
        try await fixture.withServer { server in
            let result = try await RunningProcess.run(
                "tftp", ["-m", "binary", "127.0.0.1", String(server.port), "-c", "put", fixture.directory.path("upload.bin"), "uploaded.bin"],
                timeout: .seconds(30))
            #expect(TFTPClient.tftpHPA.reportsRefusal(result, code: 2, message: "write requests are refused"),
                    "\(result)\n--- server log:\n\(server.log)")
            #expect(!FileManager.default.fileExists(atPath: fixture.root + "/uploaded.bin"))
            // The same by hand: a WRQ for a name that exists is refused too, and the file stays.
            try fixture.serve("existing.bin", contents: upload)
            let socket = try UDPTestSocket()
            try socket.send(TFTPWire.writeRequest("existing.bin"), toPort: server.port)
            let reply = try await socket.receive(timeout: .seconds(5))
            #expect(reply.map { Self.isError($0.packet, code: 2) } == true, "answer to a WRQ: \(String(describing: reply?.packet))")
            #expect(FileManager.default.contents(atPath: fixture.root + "/existing.bin") == upload)
            try await fixture.expectStillServes(server)
        }
    }

    /// Every way of climbing out with `..`, and `..` even where it would stay inside.
    @Test("'..' in any position is refused",
          .enabled(if: TFTPClient.tftpHPA.isInstalled, TFTPClient.tftpHPA.missingComment),
          arguments: ["../secret.bin", "sub/../../secret.bin", "/../secret.bin", "..", "sub/..", "sub/../sub/inside.bin"])
    func dotDot(requested: String) async throws {
        let fixture = try Self.refusalFixture()
        try await fixture.withServer { server in
            try await expectRefusedByTFTPHPA(requested, code: 2, message: "'..' is not allowed", fixture: fixture, server: server)
        }
    }

    /// Symlinks inside the root whose target is outside: a file, a relative
    /// climb, a folder, a chain. All refused without reading the target.
    @Test("symlinks leading out of the root are refused",
          .enabled(if: TFTPClient.tftpHPA.isInstalled, TFTPClient.tftpHPA.missingComment),
          arguments: ["passwd", "relative-secret", "etc/passwd", "chain"])
    func symlinksOut(requested: String) async throws {
        let fixture = try Self.refusalFixture()
        try fixture.directory.createSymbolicLink("root/relative-secret", to: "../secret.bin")
        try fixture.directory.createSymbolicLink("root/etc", to: "/etc")
        try fixture.directory.createSymbolicLink("root/chain", to: "passwd")
        try await fixture.withServer { server in
            try await expectRefusedByTFTPHPA(requested, code: 2, message: "leads out of the TFTP root", fixture: fixture, server: server)
        }
    }

    @Test("missing files, folders and things that are not regular files",
          .enabled(if: TFTPClient.tftpHPA.isInstalled, TFTPClient.tftpHPA.missingComment),
          arguments: [
              Refusal(requested: "missing.bin", code: 1, message: "not found"),
              Refusal(requested: "nofolder/file.bin", code: 1, message: "not found"),
              Refusal(requested: "sub/inside.bin/more", code: 1, message: "not found"),
              Refusal(requested: "sub", code: 2, message: "not a regular file"),
              Refusal(requested: "/", code: 1, message: "names no file"),
              Refusal(requested: "fifo", code: 2, message: "not a regular file"),  // must not hang in open(2)
              Refusal(requested: "loop", code: 0, message: "Too many levels of symbolic links"),
          ])
    func notServable(refusal: Refusal) async throws {
        let fixture = try Self.refusalFixture()
        guard mkfifo(fixture.root + "/fifo", 0o644) == 0 else { throw TestSetupError("mkfifo failed") }
        try fixture.directory.createSymbolicLink("root/loop", to: "loop")
        try await fixture.withServer { server in
            try await expectRefusedByTFTPHPA(refusal.requested, code: refusal.code, message: refusal.message,
                                             fixture: fixture, server: server)
        }
    }

    /// A file the server's user cannot read is refused with "permission denied".
    /// The tests run as root here, and root reads a mode-000 file anyway: the
    /// server then runs as `nobody` (setpriv), as the agent runs in production.
    @Test("an unreadable file is refused",
          .enabled(if: TFTPClient.tftpHPA.isInstalled, TFTPClient.tftpHPA.missingComment),
          .enabled(if: getuid() != 0 || Tools.isInstalled("setpriv"), "as root this needs setpriv to drop to nobody"))
    func unreadableFile() async throws {
        let fixture = try TFTPFixture()
        try fixture.serve("locked.bin", size: 1000)
        try fixture.directory.setPermissions("root/locked.bin", 0o000)
        var wrapper: [String] = []
        if getuid() == 0 {
            // nobody must reach the root and read the good files in it.
            try fixture.directory.setPermissions("", 0o755)
            try fixture.directory.setPermissions("root", 0o755)
            wrapper = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        }
        try await fixture.withServer(wrapper: wrapper) { server in
            try await expectRefusedByTFTPHPA("locked.bin", code: 2, message: "permission denied", fixture: fixture, server: server)
        }
    }

    /// Options out of range are refused with error 8 (RFC 2347), not ignored.
    @Test("blksize 4 and windowsize 0 are refused with error 8 (atftp)",
          .enabled(if: TFTPClient.atftp.isInstalled, TFTPClient.atftp.missingComment),
          arguments: [("blksize", "4"), ("windowsize", "0")])
    func optionsOutOfRange(name: String, value: String) async throws {
        let fixture = try TFTPFixture()
        try fixture.serve("file.bin", size: 3000)
        try await fixture.withServer { server in
            let local = fixture.fetchedPath("refused")
            let result = try await RunningProcess.run(
                "atftp", ["-g", "-r", "file.bin", "-l", local, "--option", "\(name) \(value)", "127.0.0.1", String(server.port)],
                timeout: .seconds(30))
            #expect(TFTPClient.atftp.reportsRefusal(result, code: 8, message: "option \(name) \(value) is out of range"),
                    "\(result)\n--- server log:\n\(server.log)")
            #expect(Self.fetchedNothing(local))
            // atftp does not print the code: ask by hand.
            let socket = try UDPTestSocket()
            try socket.send(TFTPWire.readRequest("file.bin", options: [(name, value)]), toPort: server.port)
            let reply = try await socket.receive(timeout: .seconds(5))
            #expect(reply.map { Self.isError($0.packet, code: 8) } == true, "answer: \(String(describing: reply?.packet))")
            try await fixture.expectStillServes(server)
        }
    }

    /// Refusals of other option values, by hand (no client sends these).
    @Test("other option values out of range get error 8",
          arguments: [("blksize", "7"), ("blksize", "-1"), ("blksize", "big"), ("timeout", "0"), ("timeout", "256"),
                      ("windowsize", "65536"), ("tsize", "x")])
    func otherOptionsOutOfRange(name: String, value: String) async throws {
        let fixture = try TFTPFixture()
        try fixture.serve("file.bin", size: 100)
        try await fixture.withServer { server in
            let socket = try UDPTestSocket()
            try socket.send(TFTPWire.readRequest("file.bin", options: [(name, value)]), toPort: server.port)
            let reply = try await socket.receive(timeout: .seconds(5))
            #expect(reply.map { Self.isError($0.packet, code: 8) } == true, "answer: \(String(describing: reply?.packet))\n\(server.log)")
            try await fixture.expectStillServes(server)
        }
    }

    private func expectRefusedByTFTPHPA(_ requested: String, code: UInt16, message: String, fixture: TFTPFixture,
                                        server: TFTPServerProcess, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let local = fixture.fetchedPath("refused")
        let result = try await TFTPClient.tftpHPA.fetch(requested, to: local, port: server.port, timeout: .seconds(30))
        #expect(TFTPClient.tftpHPA.reportsRefusal(result, code: code, message: message),
                "expected error \(code) '\(message)' for '\(requested)':\n\(result)\n--- server log:\n\(server.log)",
                sourceLocation: sourceLocation)
        #expect(Self.fetchedNothing(local), "bytes arrived for refused '\(requested)'", sourceLocation: sourceLocation)
        try await server.waitForLog("refused '\(requested)' from 127.0.0.1:")
        try await fixture.expectStillServes(server, sourceLocation: sourceLocation)
    }

    /// Clients create the local file before they ask; it must stay empty.
    static func fetchedNothing(_ path: String) -> Bool {
        (FileManager.default.contents(atPath: path) ?? Data()).isEmpty
    }

    static func isError(_ packet: TFTPWire.Packet, code: UInt16) -> Bool {
        if case .error(code, _) = packet { return true }
        return false
    }
}
