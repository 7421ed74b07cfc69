import Foundation
import ProvisionerTesting
import Testing

/// `/metrics` of the agents' HTTP ports and of the coordinator's
/// `metrics.listen`, scraped by the real Prometheus (Debian's `prometheus`)
/// after a user did things a lab's dashboard counts: a reservation, power
/// on, console traffic both ways, a TFTP transfer, an HTTP 404, an SSH
/// login refused. What Prometheus stored is asked back through its API.
@Suite(.enabled(if: Tools.isInstalled("prometheus") && Tools.isInstalled("curl") && Tools.isInstalled("socat"),
                "needs prometheus, curl and socat (scripts/setup installs them)"))
struct MetricsTests {
    /// The value Prometheus has for `query` (one series), or nil.
    static func query(_ prometheus: UInt16, _ query: String) async throws -> Double? {
        let answer = try await RunningProcess.run("curl", ["-s", "--max-time", "5", "-G", "http://127.0.0.1:\(prometheus)/api/v1/query",
                                                           "--data-urlencode", "query=\(query)"])
        guard let json = try? JSONSerialization.jsonObject(with: Data(answer.stdout.utf8)) as? [String: Any],
              let data = json["data"] as? [String: Any], let result = data["result"] as? [[String: Any]],
              result.count == 1, let value = result[0]["value"] as? [Any], let text = value.last as? String else { return nil }
        return Double(text)
    }

    @Test func prometheusScrapesTheAgentsAndTheCoordinator() async throws {
        let metricsPort = try freeTCPPort()
        let lab = try await LabFixture(extraConfig: "metrics: { listen: \"127.0.0.1:\(metricsPort)\" }")
        defer { Task { await lab.stop() } }
        _ = try await lab.waitForBoards { $0.count == 2 && $0.allSatisfy { $0["online"] as? Bool == true } }
        let http = try lab.agents.map { agent in
            try #require(agent.stderr.split(separator: "\n").first { $0.contains("http: serving on") }?.split(separator: " ").last)
        }
        let tftpLine = try #require(lab.agents[0].stderr.split(separator: "\n").first { $0.contains("tftp: serving on") })
        let tftpPort = try #require(tftpLine.split(separator: ":").last.map(String.init))

        // What a user does.
        #expect(try await lab.ssh("alice", "reserve", "b1", "--for", "30m").exitCode == 0)
        #expect(try await lab.ssh("alice", "power", "b1", "on").exitCode == 0)
        let kernel = lab.folder.path("kernel.img")
        FileManager.default.createFile(atPath: kernel, contents: Data(repeating: 0x5a, count: 300_000))
        #expect(try await lab.ssh("alice", ["upload", "b1", "kernel.img"], stdinPath: kernel).exitCode == 0)
        let fetched = try await RunningProcess.run("curl", ["-sS", "-o", lab.folder.path("fetched"), "tftp://127.0.0.1:\(tftpPort)/kernel.img"])
        #expect(fetched.exitCode == 0, "\(fetched)")
        #expect(try await RunningProcess.run("curl", ["-s", "-o", "/dev/null", "http://\(http[0])/nothing-here"]).exitCode == 0)
        let token = try await lab.ssh("alice", "token", "b1").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let put = try await RunningProcess.run("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-T", kernel,
                                                        "-H", "Authorization: Bearer \(token)", "http://\(http[0])/u/alice/up.img"])
        #expect(put.stdout.hasPrefix("20"), "\(put)")
        let get = try await RunningProcess.run("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "http://\(http[0])/u/alice/up.img"])
        #expect(get.stdout == "200", "\(get)")
        let board = lab.boardSide()
        #expect(board >= 0)
        defer { close(board) }
        let holder = try await lab.console(as: "alice", board: board)
        holder.send("version\r")
        #expect(try await LabFixture.typed(on: board, until: "version").contains("version"))
        let stranger = lab.folder.path("stranger")
        _ = try await RunningProcess.run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", stranger])
        let refused = try await RunningProcess.run("ssh", ["-F", "none", "-p", "\(lab.port)", "-i", stranger, "-o", "IdentitiesOnly=yes",
                                                           "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                                                           "-o", "UserKnownHostsFile=/dev/null", "127.0.0.1", "boards"])
        #expect(refused.exitCode == 255, "\(refused)")

        // The exposition as any scraper gets it.
        let direct = try await RunningProcess.run("curl", ["-s", "-i", "http://\(http[0])/metrics"])
        #expect(direct.stdout.contains("Content-Type: text/plain; version=0.0.4") && direct.stdout.contains("# TYPE provisioner_boards gauge"),
                "\(direct.stdout.prefix(600))")
        // Anything else there is refused plainly, on both daemons.
        for (arguments, code) in [(["http://\(http[0])/metrics/x"], "404"), (["--path-as-is", "http://\(http[0])/metrics/../u/alice/up.img"], "404"),
                                  (["-X", "POST", "--data", "x", "http://127.0.0.1:\(metricsPort)/metrics"], "405"),
                                  (["http://127.0.0.1:\(metricsPort)/"], "404"), (["http://127.0.0.1:\(metricsPort)/metrics?x=%00"], "200")] {
            let answer = try await RunningProcess.run("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}"] + arguments)
            #expect(answer.stdout == code, "\(arguments): \(answer)")
        }

        // Prometheus scrapes all three every second.
        let promPort = try freeTCPPort()
        try lab.folder.createFile("prometheus.yml", text: """
            global: { scrape_interval: 1s, evaluation_interval: 1s }
            scrape_configs:
              - job_name: coordinator
                static_configs: [{ targets: ["127.0.0.1:\(metricsPort)"] }]
              - job_name: agents
                static_configs: [{ targets: ["\(http[0])", "\(http[1])"] }]
            """)
        let prometheus = try RunningProcess("prometheus", ["--config.file=\(lab.folder.path("prometheus.yml"))",
                                                           "--storage.tsdb.path=\(lab.folder.path("tsdb"))",
                                                           "--web.listen-address=127.0.0.1:\(promPort)"])
        defer { Task { await prometheus.terminate() } }
        let checks: [(String, (Double) -> Bool, String)] = [
            (#"sum(up{job=~"coordinator|agents"})"#, { $0 == 3 }, "all three targets up"),
            (#"provisioner_board_power{job="coordinator",board="b1",state="on"}"#, { $0 == 1 }, "b1 on, as the coordinator knows"),
            (#"provisioner_board_online{job="coordinator",board="b2"}"#, { $0 == 1 }, "b2 online"),
            (#"provisioner_reservations_current{job="coordinator"}"#, { $0 == 1 }, "one reservation"),
            (#"provisioner_queue_waiting{job="coordinator"}"#, { $0 == 0 }, "nobody queued"),
            (#"provisioner_ssh_refused_logins_total{job="coordinator"}"#, { $0 >= 1 }, "the stranger's login refused"),
            (#"provisioner_ssh_sessions_total{job="coordinator"}"#, { $0 >= 5 }, "alice's ssh sessions"),
            (#"provisioner_ssh_sessions_open{job="coordinator"}"#, { $0 >= 1 }, "alice's console still open"),
            (#"provisioner_board_power{instance="\#(http[0])",state="on"}"#, { $0 == 1 }, "b1 on, as its agent knows"),
            (#"provisioner_board_held{instance="\#(http[0])"}"#, { $0 == 1 }, "b1 held"),
            (#"provisioner_console_read_bytes_total{board="b1"}"#, { $0 >= 19 }, "the board's banner read"),
            (#"provisioner_console_written_bytes_total{board="b1"}"#, { $0 >= 8 }, "'version\r' typed"),
            (#"provisioner_console_sessions{board="b1"}"#, { $0 >= 1 }, "alice's console attached"),
            (#"provisioner_tftp_transfers_total{instance="\#(http[0])",outcome="completed"}"#, { $0 == 1 }, "one TFTP transfer"),
            (#"provisioner_tftp_sent_bytes_total{instance="\#(http[0])"}"#, { $0 == 300_000 }, "its 300,000 bytes"),
            (#"provisioner_http_requests_total{instance="\#(http[0])",method="GET",code="404"}"#, { $0 >= 1 }, "the 404"),
            (#"sum(provisioner_http_requests_total{instance="\#(http[0])",method="PUT",code=~"20."})"#, { $0 == 1 }, "the PUT"),
            (#"provisioner_http_received_bytes_total{instance="\#(http[0])"}"#, { $0 >= 300_000 }, "the PUT's bytes"),
            (#"provisioner_http_sent_bytes_total{instance="\#(http[0])"}"#, { $0 >= 300_000 }, "the GET's bytes"),
        ]
        let deadline = ContinuousClock.now + .seconds(40)
        var missing = checks.map(\.2)
        while !missing.isEmpty && ContinuousClock.now < deadline {
            missing = []
            for (query, holds, what) in checks {
                if let value = try await Self.query(promPort, query), holds(value) { continue }
                missing.append("\(what) (\(query) = \(try await Self.query(promPort, query).map { "\($0)" } ?? "none"))")
            }
            if !missing.isEmpty { try await Task.sleep(for: .milliseconds(500)) }
        }
        #expect(missing.isEmpty, "Prometheus never saw: \(missing.joined(separator: "; "))")
        holder.send("\u{1D}.")
        await prometheus.terminate()
        await lab.stop()
    }
}
