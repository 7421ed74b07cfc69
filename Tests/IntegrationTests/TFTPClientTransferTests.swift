import Foundation
import ProvisionerTesting
import Testing

/// Every real client fetches files of the sizes where TFTP goes wrong (empty,
/// one block, exact multiples, one byte either side, whole windows), and the
/// bytes must be the server's. Each case has its own server and random content.
@Suite("TFTP: real clients fetch byte-identical files", .serialized, .timeLimit(.minutes(2)))
struct TFTPClientTransferTests {
    /// Sizes around 512 (RFC 1350), 1468 (the tuned blksize) and 16 × 1468 (atftp's window).
    static let sizes = [0, 1, 511, 512, 513, 512 * 8, 1467, 1468, 1469, 1468 * 4, 1468 * 16, 1468 * 16 + 1,
                        100_003, 1_048_576 + 7]

    @Test("tftp-hpa (tftp -m binary -c get)", .enabled(if: TFTPClient.tftpHPA.isInstalled, TFTPClient.tftpHPA.missingComment),
          arguments: sizes)
    func tftpHPA(size: Int) async throws {
        try await fetch(size: size, with: .tftpHPA)
    }

    @Test("atftp -g with blksize 1468, windowsize 16, tsize", .enabled(if: TFTPClient.atftp.isInstalled, TFTPClient.atftp.missingComment),
          arguments: sizes)
    func atftp(size: Int) async throws {
        try await fetch(size: size, with: .atftp)
    }

    /// curl cannot fetch an empty file over TFTP (its own bug, TESTING.md): 0 is left out.
    @Test("curl tftp:// --tftp-blksize 1468", .enabled(if: TFTPClient.curl.isInstalled, TFTPClient.curl.missingComment),
          arguments: sizes.filter { $0 > 0 })
    func curl(size: Int) async throws {
        try await fetch(size: size, with: .curl)
    }

    @Test("busybox tftp -b 1468 -g", .enabled(if: TFTPClient.busybox.isInstalled, TFTPClient.busybox.missingComment),
          arguments: sizes)
    func busybox(size: Int) async throws {
        try await fetch(size: size, with: .busybox)
    }

    /// The plain RFC 1350 request (no options) of atftp, curl and busybox.
    @Test("clients without options get 512-byte blocks",
          .enabled(if: [TFTPClient.atftp, .curl, .busybox].allSatisfy(\.isInstalled), "needs atftp, curl and busybox"),
          arguments: [TFTPClient.atftp, .curl, .busybox], [1, 512 * 3, 70_001])
    func plainRequests(client: TFTPClient, size: Int) async throws {
        let fixture = try TFTPFixture()
        let expected = try fixture.serve("plain.bin", size: size)
        try await fixture.withServer { server in
            try await fixture.expectFetch("plain.bin", with: client, from: server, expected: expected, tuning: .plain)
        }
    }

    private func fetch(size: Int, with client: TFTPClient) async throws {
        let fixture = try TFTPFixture()
        let name = "file-\(size).bin"
        let expected = try fixture.serve(name, size: size)
        try await fixture.withServer { server in
            try await fixture.expectFetch(name, with: client, from: server, expected: expected)
        }
    }
}

/// 40 MiB at blksize 512 is 81 920 blocks: the 16-bit block number rolls over
/// past 65535 (to 0, as every client expects) and the final block is empty.
/// About 2–5 s per client here.
@Suite("TFTP: 40 MiB at blksize 512, block numbers roll over", .timeLimit(.minutes(2)))
struct TFTPLargeFileTests {
    static let size = 40 << 20

    @Test("atftp", .enabled(if: TFTPClient.atftp.isInstalled, TFTPClient.atftp.missingComment))
    func atftp() async throws {
        try await fetchLarge(with: .atftp)
    }

    @Test("tftp-hpa", .enabled(if: TFTPClient.tftpHPA.isInstalled, TFTPClient.tftpHPA.missingComment))
    func tftpHPA() async throws {
        try await fetchLarge(with: .tftpHPA)
    }

    @Test("busybox", .enabled(if: TFTPClient.busybox.isInstalled, TFTPClient.busybox.missingComment))
    func busybox() async throws {
        try await fetchLarge(with: .busybox)
    }

    private func fetchLarge(with client: TFTPClient) async throws {
        let fixture = try TFTPFixture()
        let expected = try fixture.serve("large.bin", size: Self.size)
        try await fixture.withServer { server in
            try await fixture.expectFetch("large.bin", with: client, from: server, expected: expected, tuning: .plain,
                                          timeout: .seconds(90))
        }
    }
}
