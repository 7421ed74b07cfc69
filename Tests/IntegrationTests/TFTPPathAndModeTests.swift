import Foundation
import ProvisionerTesting
import Testing

@Suite("TFTP: names, folders, symlinks and netascii", .serialized, .timeLimit(.minutes(2)))
struct TFTPPathAndModeTests {
    /// Names as boards and people type them: relative, absolute (taken under
    /// the root, as `tftpd-hpa -s` does), with doubled slashes and `.`.
    @Test("names below the root, relative or absolute",
          .enabled(if: TFTPClient.tftpHPA.isInstalled, TFTPClient.tftpHPA.missingComment),
          arguments: ["sub/file.bin", "/sub/file.bin", "//sub//file.bin", "./sub/./file.bin",
                      "sub/deeper/kernel.img", "/sub/deeper/kernel.img"])
    func namesBelowTheRoot(requested: String) async throws {
        let fixture = try TFTPFixture()
        let file = requested.hasSuffix("kernel.img") ? "sub/deeper/kernel.img" : "sub/file.bin"
        let expected = try fixture.serve(file, size: 2000)
        try fixture.serve("file.bin", size: 2000)  // a file of that name at the top must not be what arrives
        try await fixture.withServer { server in
            try await fixture.expectFetch(requested, with: .tftpHPA, from: server, expected: expected)
        }
    }

    /// Every client can name a file absolutely (curl with a doubled slash in the URL).
    @Test("absolute names with every client", arguments: TFTPClient.allCases)
    func absoluteNames(client: TFTPClient) async throws {
        guard client.isInstalled else { try Test.cancel(client.missingComment) }
        let fixture = try TFTPFixture()
        let expected = try fixture.serve("boards/board1/Image", size: 5000)
        try await fixture.withServer { server in
            try await fixture.expectFetch("/boards/board1/Image", with: client, from: server, expected: expected)
        }
    }

    /// A symlink that stays inside the root is followed (a file or a folder).
    @Test("symlinks inside the root are followed",
          .enabled(if: TFTPClient.tftpHPA.isInstalled, TFTPClient.tftpHPA.missingComment))
    func symlinksInsideTheRoot() async throws {
        let fixture = try TFTPFixture()
        let expected = try fixture.serve("images/v2/Image", size: 4097)
        try fixture.directory.createSymbolicLink("root/Image", to: "images/v2/Image")
        try fixture.directory.createSymbolicLink("root/current", to: fixture.root + "/images/v2")
        try await fixture.withServer { server in
            try await fixture.expectFetch("Image", with: .tftpHPA, from: server, expected: expected)
            try await fixture.expectFetch("current/Image", with: .tftpHPA, from: server, expected: expected)
        }
    }

    /// In netascii the server sends CR LF for LF (and CR NUL for a bare CR);
    /// tftp-hpa on Unix turns it back, so the file arrives as it is. Lines
    /// put a CR at the very end of a block, so CR and LF travel in two packets.
    @Test("netascii: a text file with LF line ends arrives intact",
          .enabled(if: TFTPClient.tftpHPA.isInstalled, TFTPClient.tftpHPA.missingComment))
    func netasciiTFTPHPA() async throws {
        let text = Self.netasciiSample()
        let fixture = try TFTPFixture()
        let expected = try fixture.serve("boot.scr.txt", contents: Data(text.utf8))
        try await fixture.withServer { server in
            let local = fixture.fetchedPath("netascii")
            let result = try await TFTPClient.tftpHPA.fetch("boot.scr.txt", to: local, port: server.port, mode: "netascii")
            #expect(TFTPClient.tftpHPA.succeeded(result), "\(result)\n--- server log:\n\(server.log)")
            if let difference = ByteComparison.difference(between: expected, andFileAt: local) {
                Issue.record("netascii: \(difference)")
            }
            // On the wire every LF and CR took two bytes: the server converted.
            let wireSize = Self.netasciiSize(expected)
            let line = try await server.waitForLog("sent 'boot.scr.txt'")
            #expect(line.contains(": \(wireSize) bytes in "), "expected \(wireSize) bytes on the wire: \(line)")
        }
    }

    @Test("netascii with atftp and tsize",
          .enabled(if: TFTPClient.atftp.isInstalled, TFTPClient.atftp.missingComment))
    func netasciiAtftp() async throws {
        let fixture = try TFTPFixture()
        let expected = try fixture.serve("notes.txt", contents: Data(Self.netasciiSample().utf8))
        try await fixture.withServer { server in
            let local = fixture.fetchedPath("netascii")
            let result = try await TFTPClient.atftp.fetch("notes.txt", to: local, port: server.port, mode: "netascii")
            #expect(TFTPClient.atftp.succeeded(result), "\(result)\n--- server log:\n\(server.log)")
            if let difference = ByteComparison.difference(between: expected, andFileAt: local) {
                Issue.record("netascii: \(difference)")
            }
        }
    }

    /// The tsize a netascii request is told is the size on the wire (RFC 2349),
    /// not the size of the file.
    @Test("netascii tsize is the converted size")
    func netasciiTransferSize() async throws {
        let fixture = try TFTPFixture()
        let contents = Data(Self.netasciiSample().utf8)
        try fixture.serve("notes.txt", contents: contents)
        try await fixture.withServer { server in
            let socket = try UDPTestSocket()
            try socket.send(TFTPWire.readRequest("notes.txt", mode: "netascii", options: [("tsize", "0")]), toPort: server.port)
            let reply = try #require(try await socket.receive(timeout: .seconds(5)), "no answer:\n\(server.log)")
            #expect(reply.packet == .optionAcknowledgement(["tsize": String(Self.netasciiSize(contents))]),
                    "file \(contents.count) bytes; server log:\n\(server.log)")
            try socket.send(TFTPWire.error(0, "enough"), toPort: reply.port)
        }
    }

    /// Counting a netascii file's converted size reads all of it, on the
    /// server's one listening thread: done for text-sized files only. A
    /// larger one is sent without tsize (no OACK), at once.
    @Test("netascii tsize of a large file is not counted")
    func netasciiTransferSizeOfALargeFileIsLeftOut() async throws {
        let fixture = try TFTPFixture()
        try fixture.serve("big.txt", contents: Data(repeating: 0x0a, count: (4 << 20) + 1))
        try await fixture.withServer { server in
            let socket = try UDPTestSocket()
            try socket.send(TFTPWire.readRequest("big.txt", mode: "netascii", options: [("tsize", "0")]), toPort: server.port)
            let reply = try #require(try await socket.receive(timeout: .seconds(5)), "no answer:\n\(server.log)")
            // Block 1 at once: 256 line ends, each CR LF on the wire.
            #expect(reply.packet == .data(block: 1, payload: Self.crlfBlock(count: 512)), "\(reply.packet)\n\(server.log)")
            try socket.send(TFTPWire.error(0, "enough"), toPort: reply.port)
        }
    }

    /// A flood of requests that are refused (here 300 for files that do
    /// not exist, from 30 ports) writes about one log line a second, the
    /// next one counting those left out, and the server serves on.
    @Test("a flood of refused requests is logged at most once a second")
    func refusalsAreLoggedQuietly() async throws {
        let fixture = try TFTPFixture()
        try await fixture.withServer { server in
            let sockets = try (0..<30).map { _ in try UDPTestSocket() }
            for index in 0..<300 {
                try sockets[index % sockets.count].send(TFTPWire.readRequest("missing-\(index)", mode: "octet"), toPort: server.port)
            }
            for socket in sockets { while try await socket.receive(timeout: .milliseconds(300)) != nil {} }
            let lines = server.logLines(containing: "tftp: refused")
            #expect(!lines.isEmpty && lines.count <= 5, "\(lines.count) lines:\n\(server.log)")
            try await Task.sleep(for: .milliseconds(1100))
            try sockets[0].send(TFTPWire.readRequest("missing-last", mode: "octet"), toPort: server.port)
            _ = try await sockets[0].receive(timeout: .seconds(5))
            #expect(await eventually { server.logLines(containing: "missing-last").first?.contains("more like it)") == true },
                    "the next line counts the ones left out:\n\(server.log)")
            try await fixture.expectStillServes(server)
        }
    }

    /// `count` bytes of CR LF pairs.
    static func crlfBlock(count: Int) -> [UInt8] {
        (0..<count).map { $0 % 2 == 0 ? 0x0d : 0x0a }
    }

    /// LF line ends, a line that ends exactly at byte 512 (its CR closes
    /// block 1 and its LF opens block 2), a bare CR, an empty line and no
    /// final LF.
    static func netasciiSample() -> String {
        var text = "setenv bootargs console=ttyAMA0\n"
        text += String(repeating: "x", count: 511 - netasciiSize(Data(text.utf8))) + "\n"
        for index in 0..<300 {
            text += "line \(index): " + String(repeating: "abcdefghij", count: index % 13) + "\n"
        }
        text += "carriage\rreturn alone\n\nlast line without a line end"
        return text
    }

    /// The size in netascii: LF becomes CR LF, CR becomes CR NUL.
    static func netasciiSize(_ data: Data) -> Int {
        data.count + data.filter { $0 == 0x0a || $0 == 0x0d }.count
    }
}
