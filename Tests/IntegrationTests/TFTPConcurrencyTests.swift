import Foundation
import ProvisionerTesting
import Testing

/// Many clients at once, each served on its own transfer ID: every one gets
/// its bytes, none waits for another, and the log has one line per transfer.
@Suite("TFTP: many clients at once", .timeLimit(.minutes(2)))
struct TFTPConcurrencyTests {
    @Test("20 atftp clients at once, on one file and on different files",
          .enabled(if: TFTPClient.atftp.isInstalled, TFTPClient.atftp.missingComment))
    func twentyAtftpClients() async throws {
        let fixture = try TFTPFixture()
        let shared = try fixture.serve("shared/Image", size: 3 << 20)
        var own: [Data] = []
        for index in 0..<10 { own.append(try fixture.serve("own/file-\(index).bin", size: (1 << 20) + index * 1001)) }
        // Half ask with blksize 1468 and windowsize 16, half in RFC 1350 lockstep.
        let jobs: [(remote: String, expected: Data, tuning: TFTPClient.Tuning)] =
            (0..<10).map { ("shared/Image", shared, $0 % 2 == 0 ? .tuned : .plain) }
            + (0..<10).map { ("own/file-\($0).bin", own[$0], $0 % 2 == 0 ? .plain : .tuned) }
        try await fixture.withServer { server in
            try await fetchAll(jobs.map { (TFTPClient.atftp, $0.remote, $0.expected, $0.tuning) }, fixture: fixture, server: server)
        }
    }

    @Test("four kinds of client at once, five of each",
          .enabled(if: TFTPClient.allCases.allSatisfy(\.isInstalled), "needs tftp-hpa, atftp, curl and busybox"))
    func mixedClients() async throws {
        let fixture = try TFTPFixture()
        let shared = try fixture.serve("Image", size: 2 << 20)
        let jobs = TFTPClient.allCases.flatMap { client in (0..<5).map { _ in (client, "Image", shared, TFTPClient.Tuning.tuned) } }
        try await fixture.withServer { server in
            try await fetchAll(jobs, fixture: fixture, server: server)
        }
    }

    private func fetchAll(_ jobs: [(TFTPClient, String, Data, TFTPClient.Tuning)], fixture: TFTPFixture,
                          server: TFTPServerProcess) async throws {
        let port = server.port
        let results = try await withThrowingTaskGroup(of: (Int, ProcessResult, String).self) { group in
            for (index, (client, remote, _, tuning)) in jobs.enumerated() {
                let local = fixture.fetchedPath("client-\(index)")
                group.addTask {
                    (index, try await client.fetch(remote, to: local, port: port, tuning: tuning, timeout: .seconds(90)), local)
                }
            }
            var results: [(Int, ProcessResult, String)] = []
            for try await result in group { results.append(result) }
            return results.sorted { $0.0 < $1.0 }
        }
        for (index, result, local) in results {
            let (client, remote, expected, _) = jobs[index]
            #expect(client.succeeded(result), "client \(index) (\(client)) failed:\n\(result)")
            if let difference = ByteComparison.difference(between: expected, andFileAt: local) {
                Issue.record("client \(index) (\(client), '\(remote)'): \(difference)")
            }
        }
        // The log line comes after the last ACK, maybe after the client exited.
        let deadline = ContinuousClock.now + .seconds(10)
        while server.logLines(containing: "tftp: sent '").count < jobs.count && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(server.logLines(containing: "tftp: sent '").count == jobs.count, "server log:\n\(server.log)")
        #expect(server.isRunning)
    }
}
