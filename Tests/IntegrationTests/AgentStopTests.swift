import Foundation
import ProvisionerTesting
import Testing

/// `systemctl stop` as the agent meets it: SIGTERM while users are attached.
/// The agent stops its services in reverse order, waits for their threads,
/// and exits 0 by returning from `main` (no `_exit` skipping teardown).
@Suite(.enabled(if: Tools.isInstalled("ssh"), "needs OpenSSH"))
struct AgentStopTests {
    @Test func sigtermWithSessionsAttachedStopsEveryServiceAndExitsZero() async throws {
        // No serial device yet: the console waits for it, as for an adapter not plugged in.
        let agent = try await ServedAgent(prefix: "agent-stop", boards: """
              - name: b1
                serial: { device: data/b1.console }
                power: { type: command, on: "true", off: "true" }
            """)
        let console = try agent.console("b1")
        defer { console.stop() }
        try await console.expect(#"\[provisioner\] b1 console: "#)
        let watcher = try agent.console("b1", readOnly: true)
        defer { watcher.stop() }
        try await watcher.expect(#"\[provisioner\] b1 console, read-only: "#)
        let on = try await agent.ssh("power", "b1", "on")
        // A command switch without a status command cannot tell the state.
        #expect(on.exitCode == 0 && on.stdout == "b1: unknown\n", "\(on)")

        #expect(await agent.stop() == 0, "\(agent.process.stderr)")
        let log = agent.process.stderr
        #expect(log.contains("agent: signal 15, stopping"), "\(log)")
        #expect(log.contains("agent: stopped"), "\(log)")
        #expect(!log.contains("did not stop"), "\(log)")
        // The sessions were cut by the stop, not left hanging.
        for session in [console, watcher] {
            for _ in 0..<100 where session.isRunning { try await Task.sleep(for: .milliseconds(50)) }
            #expect(!session.isRunning, "\(session.transcript.suffix(400))")
            #expect(session.transcript.contains("the agent test is stopping (a restart or an upgrade): this session ends; "
                                                + "the boards are left as they are"), "\(session.transcript.suffix(400))")
            #expect(session.exitCode == 1, "\(session.transcript.suffix(400))")
        }
    }

    @Test func aServiceThatCannotStartStopsTheOnesBeforeItAndNamesItself() async throws {
        let folder = try TemporaryDirectory(prefix: "agent-stop-taken")
        // The SSH port is taken: the boards and TFTP start, then stop again.
        let taken = try TCPListener(port: try freeTCPPort())
        try folder.createFile("authorized_keys", text: "")
        try folder.createFile("agent.yaml", text: ServedAgent.agentYAML(sshPort: taken.port, boards: """
              - name: b1
                serial: { device: data/b1.console }
                power: { type: command, on: "true", off: "true" }
            """))
        let result = try await RunningProcess.run(try Tools.agent(), ["serve", "--config", folder.path("agent.yaml")],
                                                  timeout: .seconds(20))
        #expect(result.exitCode == 1, "\(result)")
        #expect(result.stderr.contains("ssh: "), "\(result)")
        #expect(result.stderr.contains("\(taken.port)"), "\(result)")
        #expect(!result.stderr.contains(": ready,"), "\(result)")
        taken.close()
    }
}

/// A TCP port held open (listening) on 127.0.0.1, so a server cannot bind it.
private final class TCPListener: Sendable {
    let port: UInt16
    private let fd: Int32

    init(port: UInt16) throws {
        self.port = port
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = port.bigEndian
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 1) == 0 else { throw TestSetupError("cannot listen on 127.0.0.1:\(port)") }
    }

    func close() { _ = Glibc.close(fd) }
}
