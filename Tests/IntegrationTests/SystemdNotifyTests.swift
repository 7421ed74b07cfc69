import Foundation
import ProvisionerTesting
import Testing

/// `Type=notify` as systemd meets the daemons: each real binary is started
/// with `NOTIFY_SOCKET` naming a datagram socket the test binds. The moment
/// READY=1 arrives, every port of its config must answer (SSH's banner, an
/// HTTP response, `/metrics`, a TFTP DATA packet): nothing is still being
/// bound. SIGHUP changes nothing (a reload is not supported: a line says
/// so); SIGTERM is answered with STOPPING=1, and the process exits 0.
@Suite(.enabled(if: Tools.isInstalled("ssh-keygen"), "needs OpenSSH's ssh-keygen"))
struct SystemdNotifyTests {
    @Test func theAgentIsReadyOnceSSHTFTPHTTPAndWebAnswer() async throws {
        let folder = try TemporaryDirectory(prefix: "notify-agent")
        let ssh = try freeTCPPort(), http = try freeTCPPort(), web = try freeTCPPort()
        let tftp = try freeUDPPort()
        try folder.createFile("authorized_keys", text: "")
        try folder.createFile("data/shared/hello.txt", text: "hello from the agent\n")
        try folder.createFile("agent.yaml", text: """
            agent:
              name: notify
              data_dir: data
              ssh: { listen: "127.0.0.1:\(ssh)", authorized_keys: authorized_keys }
              tftp: { listen: "127.0.0.1:\(tftp)" }
              http: { listen: "127.0.0.1:\(http)" }
            boards:
              - name: b1
                serial: { device: data/absent }
                power: { type: command, on: "true", off: "true", status: "true" }
            web: { listen: "127.0.0.1:\(web)" }

            """)
        let notify = try NotifySocket(path: folder.path("notify"))
        let agent = try RunningProcess(try Tools.agent(), ["serve", "--config", folder.path("agent.yaml")],
                                       environment: notify.environment)

        let ready = try await notify.next(from: agent)
        #expect(ready.fields["READY"] == "1", "\(ready)")
        #expect(ready.fields["STATUS"] == "serving 1 boards", "\(ready)")
        // systemd takes it only from the main process (NotifyAccess=main).
        #expect(ready.pid == agent.pid, "\(ready)")
        #expect(try sshBanner(port: ssh).hasPrefix("SSH-2.0-"))
        #expect(try httpStatusLine(port: http, path: "/metrics") == "HTTP/1.1 200 OK")
        #expect(try httpStatusLine(port: web).hasPrefix("HTTP/1.1 "))
        #expect(try await tftpRead("shared/hello.txt", port: tftp) == "hello from the agent\n")

        try await Self.hangUp(agent, name: "agent")
        #expect(try sshBanner(port: ssh).hasPrefix("SSH-2.0-"))
        #expect(try await tftpRead("shared/hello.txt", port: tftp) == "hello from the agent\n")
        #expect(try notify.pending() == nil, "SIGHUP made the agent tell systemd something")
        try await Self.stopSaysStopping(agent, notify: notify)
    }

    @Test func theCoordinatorIsReadyOnceSSHWebAndMetricsAnswer() async throws {
        let folder = try TemporaryDirectory(prefix: "notify-coordinator")
        let made = try await RunningProcess.run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "alice@test",
                                                               "-f", folder.path("alice")])
        guard made.exitCode == 0 else { throw TestSetupError("ssh-keygen: \(made)") }
        let key = try String(contentsOfFile: folder.path("alice.pub"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let ssh = try freeTCPPort(), web = try freeTCPPort(), metrics = try freeTCPPort()
        // An agent nobody runs: the coordinator is ready without it (it is
        // offline until it answers).
        let agentPort = try freeTCPPort()
        try folder.createFile("coordinator.yaml", text: """
            coordinator:
              data_dir: data
              ssh: { listen: "127.0.0.1:\(ssh)" }
            users:
              - { name: alice, admin: true, keys: ["\(key)"] }
            agents:
              - { name: bench-1, address: "127.0.0.1:\(agentPort)", host_key: "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU" }
            web: { listen: "127.0.0.1:\(web)" }
            metrics: { listen: "127.0.0.1:\(metrics)" }

            """)
        let notify = try NotifySocket(path: folder.path("notify"))
        let coordinator = try RunningProcess(try Tools.coordinator(), ["serve", "--config", folder.path("coordinator.yaml")],
                                             environment: notify.environment)

        let ready = try await notify.next(from: coordinator)
        #expect(ready.fields["READY"] == "1", "\(ready)")
        #expect(ready.fields["STATUS"] == "serving 1 agents", "\(ready)")
        #expect(ready.pid == coordinator.pid, "\(ready)")
        #expect(try sshBanner(port: ssh).hasPrefix("SSH-2.0-"))
        #expect(try httpStatusLine(port: web).hasPrefix("HTTP/1.1 "))
        #expect(try httpStatusLine(port: metrics, path: "/metrics") == "HTTP/1.1 200 OK")

        try await Self.hangUp(coordinator, name: "coordinator")
        #expect(try sshBanner(port: ssh).hasPrefix("SSH-2.0-"))
        #expect(try notify.pending() == nil, "SIGHUP made the coordinator tell systemd something")
        try await Self.stopSaysStopping(coordinator, notify: notify)
    }

    /// SIGHUP: the daemon says a reload is not supported and carries on
    /// (the caller checks that it still serves and told systemd nothing).
    private static func hangUp(_ daemon: RunningProcess, name: String) async throws {
        daemon.signal(SIGHUP)
        try await daemon.waitForLine(containing: "\(name): SIGHUP: reload is not supported; restart to apply a config change",
                                     timeout: .seconds(30))
        #expect(daemon.isRunning, "\(daemon.stderr.suffix(1500))")
    }

    /// SIGTERM: STOPPING=1 first, then exit status 0.
    private static func stopSaysStopping(_ daemon: RunningProcess, notify: NotifySocket) async throws {
        daemon.signal(SIGTERM)
        let stopping = try await notify.next(from: daemon)
        #expect(stopping.fields["STOPPING"] == "1", "\(stopping)")
        #expect(stopping.pid == daemon.pid, "\(stopping)")
        let status = await daemon.waitForExit(timeout: .seconds(60))
        #expect(status == 0, "\(daemon.stderr.suffix(1500))")
        await daemon.terminate()
    }
}

/// The socket systemd hands a `Type=notify` service in `NOTIFY_SOCKET`: a
/// unix datagram socket at `path`, told each sender's credentials
/// (SO_PASSCRED), as systemd checks them for NotifyAccess=main.
private final class NotifySocket: Sendable {
    let path: String
    private let descriptor: Int32

    /// One datagram: its `KEY=VALUE` lines and the sender's PID.
    struct Message: CustomStringConvertible {
        let text: String
        let pid: pid_t
        var fields: [String: String] {
            Dictionary(text.split(separator: "\n").map { line in
                let parts = line.split(separator: "=", maxSplits: 1)
                return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
            }, uniquingKeysWith: { _, last in last })
        }
        var description: String { "\(text.debugDescription) from PID \(pid)" }
    }

    init(path: String) throws {
        self.path = path
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TestSetupError("socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(fd)
            throw TestSetupError("\(path) is too long for a unix socket")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw TestSetupError("bind \(path): \(reason)")
        }
        descriptor = fd
    }

    deinit { close(descriptor) }

    /// This process's environment with `NOTIFY_SOCKET` set, for the daemon.
    var environment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["NOTIFY_SOCKET"] = path
        return environment
    }

    /// The next datagram; throws with what `daemon` printed when it ends
    /// first, or after a minute (a bound for a hung test, not a timing).
    func next(from daemon: RunningProcess) async throws -> Message {
        let deadline = ContinuousClock.now + .seconds(60)
        while true {
            if let message = try pending() { return message }
            if !daemon.isRunning, let message = try pending() { return message }
            if !daemon.isRunning || ContinuousClock.now >= deadline {
                throw ProcessFailure("\(daemon.commandLine) told NOTIFY_SOCKET nothing (it \(daemon.isRunning ? "runs" : "ended"))",
                                     stdout: daemon.stdout, stderr: daemon.stderr)
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// A datagram already queued, or nil.
    func pending() throws -> Message? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        // struct cmsghdr (size_t length, int level, int type) and struct ucred (pid, uid, gid).
        let headerSize = MemoryLayout<Int>.size + 2 * MemoryLayout<Int32>.size
        var control = [UInt8](repeating: 0, count: 64)
        return try buffer.withUnsafeMutableBytes { data in
            try control.withUnsafeMutableBytes { control in
                var vector = iovec(iov_base: data.baseAddress, iov_len: data.count)
                return try withUnsafeMutablePointer(to: &vector) { vector in
                    var header = msghdr()
                    header.msg_iov = vector
                    header.msg_iovlen = 1
                    header.msg_control = control.baseAddress
                    header.msg_controllen = control.count
                    let count = recvmsg(descriptor, &header, Int32(MSG_DONTWAIT))
                    if count < 0 {
                        if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { return nil }
                        throw TestSetupError("recvmsg: \(String(cString: strerror(errno)))")
                    }
                    var pid: pid_t = 0
                    if header.msg_controllen >= headerSize + 12 {
                        let level = control.load(fromByteOffset: MemoryLayout<Int>.size, as: Int32.self)
                        let type = control.load(fromByteOffset: MemoryLayout<Int>.size + 4, as: Int32.self)
                        if level == SOL_SOCKET && type == 2 /* SCM_CREDENTIALS, which Glibc's module lacks */ {
                            pid = control.load(fromByteOffset: headerSize, as: pid_t.self)
                        }
                    }
                    return Message(text: String(decoding: data[..<count], as: UTF8.self), pid: pid)
                }
            }
        }
    }
}

/// A UDP (and TCP) port on 127.0.0.1 nobody uses now: `freeTCPPort`'s,
/// once UDP can bind it too.
private func freeUDPPort() throws -> UInt16 {
    for _ in 0..<50 {
        let port = try freeTCPPort()
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = port.bigEndian
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        close(fd)
        if bound { return port }
    }
    throw TestSetupError("no free UDP port between 20000 and 32000")
}

/// The first line an SSH server sends (its version banner), read at once
/// from a fresh connection.
private func sshBanner(port: UInt16) throws -> String {
    let fd = try connected(to: port)
    defer { close(fd) }
    return try readFrom(fd) { $0.contains(UInt8(ascii: "\n")) }.split(separator: "\r\n").first.map(String.init) ?? ""
}

/// The status line of the server's answer to `GET path` (it closes after).
private func httpStatusLine(port: UInt16, path: String = "/") throws -> String {
    let fd = try connected(to: port)
    defer { close(fd) }
    let request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n\r\n"
    _ = request.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
    return try readFrom(fd) { $0.contains(UInt8(ascii: "\n")) }.split(separator: "\r\n").first.map(String.init) ?? ""
}

/// A small file read over TFTP (one DATA block, then its ACK).
private func tftpRead(_ name: String, port: UInt16) async throws -> String {
    let client = try UDPTestSocket()
    try client.send(TFTPWire.readRequest(name), toPort: port)
    guard let answer = try await client.receive(timeout: .seconds(30)) else {
        throw TestSetupError("no answer from TFTP on 127.0.0.1:\(port)")
    }
    guard case .data(1, let payload) = answer.packet else { throw TestSetupError("TFTP answered \(answer)") }
    try client.send(TFTPWire.acknowledgement(1), toPort: answer.port)
    return String(decoding: payload, as: UTF8.self)
}

/// A TCP connection to 127.0.0.1:`port` whose reads wait up to 30 s.
private func connected(to port: UInt16) throws -> Int32 {
    let fd = try tcpConnection(from: "127.0.0.1", to: port)
    var timeout = timeval(tv_sec: 30, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    return fd
}

/// Reads until `enough` says so; throws when the peer closes or is silent first.
private func readFrom(_ fd: Int32, until enough: ([UInt8]) -> Bool) throws -> String {
    var received: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while !enough(received) {
        let count = recv(fd, &buffer, buffer.count, 0)
        if count < 0 && errno == EINTR { continue }
        guard count > 0 else {
            throw TestSetupError("the server \(count == 0 ? "closed" : "was silent") after \(received.count) bytes: "
                                 + String(decoding: received, as: UTF8.self).debugDescription)
        }
        received += buffer[..<count]
    }
    return String(decoding: received, as: UTF8.self)
}
