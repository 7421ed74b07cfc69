import Foundation
import ProvisionerTesting
import Testing

/// A pdudaemon user (issue 19): the agent's `command` power switch runs
/// pdudaemon's own client, `pduclient`, against a real `pdudaemon` (PyPI,
/// in .cache/tools-venv from scripts/setup) whose `localcmdline` driver
/// stands in for a PDU: its outlets' commands append to a file, which the
/// test reads as a user would look at the PDU. The board configs are the
/// ones docs/power.md shows.
@Suite(.serialized, .enabled(if: Tools.isInstalled("ssh") && PeerTools.hasPDUDaemon,
                             "needs OpenSSH and pdudaemon in .cache/tools-venv (scripts/setup)"))
struct PDUDaemonTests {
    @Test func pduclientSwitchesPDUDaemonsOutletOnOffAndCycle() async throws {
        let pdu = try await PDUDaemon(pdus: [
            // A PDU that takes half a second per outlet switch, as network PDUs do.
            "bench-pdu": ("sleep 0.5; echo '%s on' >> outlets", "sleep 0.5; echo '%s off' >> outlets"),
            // One slower than the agent's timeout for its board.
            "slow-pdu": ("sleep 3; echo 'slow %s on' >> outlets", "echo 'slow %s off' >> outlets"),
        ])
        defer { Task { await pdu.stop() } }
        let client = PeerTools.pduclient
        let daemon = pdu.address
        // Where the switch keeps its state files (data_dir in docs/power.md).
        let state = try TemporaryDirectory(prefix: "pdudaemon-state")
        // As docs/power.md: a state file remembers what was switched
        // (pdudaemon cannot say whether an outlet is on).
        func board(_ name: String, pdu: String, outlet: Int, timeout: String) -> String {
            """
              - name: \(name)
                serial: { device: data/\(name).console }
                power:
                  type: command
                  on: "\(client) --daemon \(daemon) --hostname \(pdu) --port \(outlet) --command on && touch \(state.path)/\(name).on"
                  off: "\(client) --daemon \(daemon) --hostname \(pdu) --port \(outlet) --command off && rm -f \(state.path)/\(name).on"
                  status: "test -e \(state.path)/\(name).on"
                  timeout: \(timeout)
                  cycle_delay: 1s

            """
        }
        let agent = try await ServedAgent(prefix: "pdudaemon-agent", boards: board("b1", pdu: "bench-pdu", outlet: 3, timeout: "20s")
                                              + board("b2", pdu: "no-such-pdu", outlet: 4, timeout: "20s")
                                              + board("b3", pdu: "slow-pdu", outlet: 7, timeout: "1s"))

        let before = try await agent.ssh("power", "b1", "status")
        #expect(before.exitCode == 0 && before.stdout == "b1: off\n", "\(before)")

        // `power on` returns once pdudaemon ran the outlet's command: the
        // line is in the PDU's file at once, no waiting.
        let started = ContinuousClock.now
        let on = try await agent.ssh("power", "b1", "on")
        let took = ContinuousClock.now - started
        #expect(on.exitCode == 0 && on.stdout == "b1: on\n", "\(on)\n\(agent.process.stderr.suffix(1500))\n\(pdu.log)")
        #expect(pdu.outlets == ["3 on"], "\(pdu.outlets)\n\(pdu.log)")
        #expect(took >= .milliseconds(500), "\(took)")
        print("ok: ssh power b1 on: \(on.stdout.trimmingCharacters(in: .newlines)) after \(took); the PDU's outlet 3 is on (\(pdu.outlets))")

        let off = try await agent.ssh("power", "b1", "off")
        #expect(off.exitCode == 0 && off.stdout == "b1: off\n", "\(off)")
        #expect(pdu.outlets == ["3 on", "3 off"], "\(pdu.outlets)")
        print("ok: ssh power b1 off: \(off.stdout.trimmingCharacters(in: .newlines)); the outlet is off")

        let cycle = try await agent.ssh("power", "b1", "cycle")
        #expect(cycle.exitCode == 0 && cycle.stdout == "b1: on\n", "\(cycle)")
        #expect(pdu.outlets == ["3 on", "3 off", "3 off", "3 on"], "\(pdu.outlets)")
        print("ok: ssh power b1 cycle: off, cycle_delay, on: \(pdu.outlets.suffix(2))")
        #expect(pdu.log.contains("Received a request from") && pdu.log.contains("'bench-pdu 3 on'"), "\(pdu.log)")

        // A PDU pdudaemon does not know: it answers nack, pduclient exits
        // 127, and the user reads pduclient's own words.
        let unknown = try await agent.ssh("power", "b2", "on")
        #expect(unknown.exitCode == 1, "\(unknown)")
        #expect(unknown.stderr.contains("exited with status 127: Error sending command! \(daemon) replied: nack"), "\(unknown)")
        print("ok: a PDU pdudaemon does not know: exit 1, \(unknown.stderrLines.first ?? "")")
        let stillOff = try await agent.ssh("power", "b2", "status")
        #expect(stillOff.stdout == "b2: off\n", "\(stillOff)")

        // A PDU slower than the switch's timeout: the agent kills pduclient
        // and says so, but pdudaemon had the request and still switches the
        // outlet; the state file was not written, so status says off.
        let slow = try await agent.ssh("power", "b3", "on")
        #expect(slow.exitCode == 1 && slow.stderr.contains("did not finish within 1s and was killed"), "\(slow)")
        #expect(await eventually(timeout: .seconds(10)) { pdu.outlets.contains("slow 7 on") }, "\(pdu.outlets)\n\(pdu.log)")
        let slowStatus = try await agent.ssh("power", "b3", "status")
        #expect(slowStatus.stdout == "b3: off\n", "\(slowStatus)")
        print("ok: slower than its timeout: exit 1, \(slow.stderrLines.first ?? ""); pdudaemon still switched outlet 7 on")

        #expect(await agent.stop() == 0, "\(agent.process.stderr.suffix(1500))")
        await pdu.stop()
    }

    /// pdudaemon's HTTP listener (the one its README recommends; pduclient
    /// speaks the older TCP one) on a port of our choosing, with `curl -f`
    /// as the switch's commands: 200 once the outlet switched, 500 when
    /// pdudaemon refused the request.
    @Test func curlAgainstPDUDaemonsHTTPListener() async throws {
        let pdu = try await PDUDaemon(listener: "http", pdus: [
            "bench-pdu": ("sleep 0.5; echo '%s on' >> outlets", "sleep 0.5; echo '%s off' >> outlets"),
        ])
        defer { Task { await pdu.stop() } }
        let state = try TemporaryDirectory(prefix: "pdudaemon-state")
        let url = "http://\(pdu.address):\(pdu.port)/power/control"
        func board(_ name: String, pdu: String, outlet: Int) -> String {
            """
              - name: \(name)
                serial: { device: data/\(name).console }
                power:
                  type: command
                  on: "curl -fsS '\(url)/on?hostname=\(pdu)&port=\(outlet)' && touch \(state.path)/\(name).on"
                  off: "curl -fsS '\(url)/off?hostname=\(pdu)&port=\(outlet)' && rm -f \(state.path)/\(name).on"
                  status: "test -e \(state.path)/\(name).on"
                  timeout: 20s

            """
        }
        let agent = try await ServedAgent(prefix: "pdudaemon-http-agent", boards: board("b1", pdu: "bench-pdu", outlet: 5)
                                              + board("b2", pdu: "no-such-pdu", outlet: 6))
        let on = try await agent.ssh("power", "b1", "on")
        #expect(on.exitCode == 0 && on.stdout == "b1: on\n", "\(on)\n\(pdu.log)")
        #expect(pdu.outlets == ["5 on"], "\(pdu.outlets)\n\(pdu.log)")
        print("ok: curl to pdudaemon's HTTP listener: ssh power b1 on: \(on.stdout.trimmingCharacters(in: .newlines)); outlet 5 is on")
        let off = try await agent.ssh("power", "b1", "off")
        #expect(off.exitCode == 0 && off.stdout == "b1: off\n", "\(off)")
        #expect(pdu.outlets == ["5 on", "5 off"], "\(pdu.outlets)")
        print("ok: ssh power b1 off: \(off.stdout.trimmingCharacters(in: .newlines)); outlet 5 is off")
        let unknown = try await agent.ssh("power", "b2", "on")
        #expect(unknown.exitCode == 1 && unknown.stderr.contains("exited with status 22: curl: (22)")
                && unknown.stderr.contains("500"), "\(unknown)")
        print("ok: a PDU pdudaemon does not know: exit 1, \(unknown.stderrLines.first ?? "")")
        #expect(await agent.stop() == 0, "\(agent.process.stderr.suffix(1500))")
        await pdu.stop()
    }
}

/// `pdudaemon` from PyPI, started by the test with a config in a temporary
/// folder, its PDUs' `localcmdline` commands run in that folder. Its TCP
/// listener is on 127.X.Y.Z:16421, a loopback address nobody uses, since
/// pduclient always connects to port 16421.
final class PDUDaemon: Sendable {
    let folder: TemporaryDirectory
    let address: String
    let process: RunningProcess

    /// pdudaemon's `daemon.port`: 16421 for the TCP listener (pduclient
    /// knows no other), a free port for the HTTP one.
    let port: UInt16

    /// `listener`: `tcp` (on 127.X.Y.Z:16421) or `http` (on 127.0.0.1, a free port).
    /// `pdus`: name → (cmd_on, cmd_off), each with `%s` for the outlet.
    init(listener: String = "tcp", pdus: [String: (on: String, off: String)]) async throws {
        folder = try TemporaryDirectory(prefix: "pdudaemon")
        if listener == "tcp" {
            address = try Self.freeLoopbackAddress(port: 16421)
            port = 16421
        } else {
            address = "127.0.0.1"
            port = try freeTCPPort()
        }
        var entries: [String: Any] = [:]
        for (name, commands) in pdus {
            entries[name] = ["driver": "localcmdline", "cmd_on": "cd \(folder.path) && \(commands.on)",
                             "cmd_off": "cd \(folder.path) && \(commands.off)", "retries": 1, "retrydelay": 1]
        }
        let config: [String: Any] = ["daemon": ["hostname": address, "port": Int(port), "listener": listener, "logging_level": "DEBUG"],
                                     "pdus": entries]
        try folder.createFile("pdudaemon.conf", contents: try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted]))
        try folder.createFile("outlets", text: "")
        process = try RunningProcess(PeerTools.pdudaemon, ["--conf", folder.path("pdudaemon.conf")], workingDirectory: folder.path)
        // "listening on …" (TCP), "Listening on …" (HTTP).
        try await process.waitForLine(in: .stdout, timeout: .seconds(20), describedAs: "listening on \(address):\(port)") {
            $0.lowercased().contains("listening on \(address):\(port)")
        }
    }

    /// The lines the PDU's outlet commands wrote, in order.
    var outlets: [String] {
        ((try? String(contentsOfFile: folder.path("outlets"), encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    /// What pdudaemon logged (it logs to stdout).
    var log: String { process.stdout + process.stderr }

    /// SIGTERM by PID (pdudaemon shuts its listener and runners down).
    func stop() async { await process.terminate(grace: .seconds(5)) }

    /// A 127.X.Y.Z address whose `port` nobody listens on.
    private static func freeLoopbackAddress(port: UInt16) throws -> String {
        for _ in 0..<50 {
            let address = "127.\(Int.random(in: 100...250)).\(Int.random(in: 0...255)).\(Int.random(in: 1...254))"
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var socketAddress = sockaddr_in()
            socketAddress.sin_family = sa_family_t(AF_INET)
            socketAddress.sin_addr.s_addr = inet_addr(address)
            socketAddress.sin_port = port.bigEndian
            let bound = withUnsafeMutablePointer(to: &socketAddress) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            close(fd)
            if bound == 0 { return address }
        }
        throw TestSetupError("no free loopback address for port \(port)")
    }
}
