import CoordinatorCore
import Foundation
import ProvisionerCore
import ProvisionerTesting
import SSH
import Testing

struct CoordinatorConfigTests {
    static let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop"

    func refusal(_ text: String) -> ConfigError? {
        do {
            _ = try CoordinatorConfig(text: text, file: "/etc/c.yaml")
            return nil
        } catch {
            return error
        }
    }

    @Test func theExampleIsValid() throws {
        let config = try CoordinatorConfig(file: Tools.packageRoot + "/examples/coordinator.yaml")
        #expect(config.users.map(\.name) == ["alice"] && config.users[0].admin)
        #expect(config.agents.map(\.address) == ["192.168.1.20:2223"])
        #expect(config.coordinator.ssh.listen.port == 2222)
        #expect(config.calendar?.google.boards == ["board1": "c_abc123@resource.calendar.google.com"])
        #expect(config.metricsListen?.port == 9464)
    }

    /// `metrics:` (where /metrics is served).
    @Test(arguments: [
        (#"metrics: { listen: "nowhere" }"#, 1, "metrics.listen"),
        (#"metrics: { listen: "127.0.0.1:70000" }"#, 1, "metrics.listen"),
        (#"metrics: {}"#, 1, "missing required key 'listen'"),
        (#"metrics: { listen: "127.0.0.1:9464", path: /m }"#, 1, "unknown key 'path'"),
        ("metrics: 9464", 1, "metrics"),
    ])
    func aMetricsBlockIsChecked(_ line: String, _ lineNumber: Int, _ message: String) {
        let refused = refusal("\(line)\ncoordinator: { data_dir: /d }\n")
        #expect(refused?.line == lineNumber && refused?.message.contains(message) == true, "\(String(describing: refused))")
    }

    @Test func defaultsAndFingerprintPins() throws {
        let config = try CoordinatorConfig(text: """
            coordinator: { data_dir: /var/lib/c }
            agents:
              - { name: a1, address: "bench.lab:2223", host_key: "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU" }
            """, file: "/etc/c.yaml")
        #expect(config.coordinator.ssh.hostKey == "/var/lib/c/ssh_host_ed25519_key")
        #expect(config.coordinator.ssh.clientKey == "/var/lib/c/ssh_client_ed25519_key")
        #expect(config.agents[0].host == "bench.lab" && config.agents[0].port == 2223)
        #expect(config.users.isEmpty && config.calendar == nil)
    }

    @Test func mistakesAreLocated() {
        let unknown = refusal("coordinator: { data_dir: /d, colour: red }\n")
        #expect(unknown?.line == 1 && unknown?.message.contains("unknown key 'colour'") == true, "\(String(describing: unknown))")
        let missing = refusal("users: []\n")
        #expect(missing?.message.contains("missing required key 'coordinator'") == true)
        let badKey = refusal("""
            coordinator: { data_dir: /d }
            users:
              - name: alice
                keys: ["ssh-ed25519 nonsense"]
            """)
        #expect(badKey?.line == 4 && badKey?.message.contains("users[0].keys[0]") == true, "\(String(describing: badKey))")
        let twice = refusal("""
            coordinator: { data_dir: /d }
            users:
              - { name: alice, keys: ["\(Self.key)"] }
              - { name: bob, keys: ["\(Self.key)"] }
            """)
        #expect(twice?.line == 4 && twice?.message.contains("also a key of 'alice'") == true, "\(String(describing: twice))")
        let badName = refusal("""
            coordinator: { data_dir: /d }
            users:
              - { name: Alice, keys: ["\(Self.key)"] }
            """)
        #expect(badName?.line == 3 && badName?.message.contains("not a valid name") == true)
        let badPin = refusal("""
            coordinator: { data_dir: /d }
            agents:
              - { name: a1, address: "127.0.0.1:2223", host_key: "SHA256:short" }
            """)
        #expect(badPin?.line == 3 && badPin?.message.contains("agents[0].host_key") == true, "\(String(describing: badPin))")
        let badAddress = refusal("""
            coordinator: { data_dir: /d }
            agents:
              - { name: a1, address: "127.0.0.1", host_key: "\(Self.key)" }
            """)
        #expect(badAddress?.message.contains("not HOST:PORT") == true)
        let calendar = refusal("""
            coordinator: { data_dir: /d }
            calendar:
              google: { service_account_key: sa.json, poll: soon }
            """)
        #expect(calendar?.line == 3 && calendar?.message.contains("calendar.google.poll") == true, "\(String(describing: calendar))")
    }

    /// `coordinator.store`: a PostgreSQL URL without a password, a bounded pool.
    @Test(arguments: [
        (#"store: { url: "mysql://db/lab" }"#, "must be a PostgreSQL URL"),
        (#"store: { url: "postgresql://lab:hunter2@db/lab" }"#, "holds a password: put it in password_file"),
        (#"store: { url: "postgresql://lab@db/lab x" }"#, "must be a PostgreSQL URL"),
        (#"store: { url: "postgresql://lab@db/lab", connections: 1 }"#, "connections"),
        (#"store: { url: "postgresql://lab@db/lab", connections: 1e19 }"#, "connections"),
        (#"store: { password_file: /p }"#, "missing required key 'url'"),
        (#"store: { url: "postgresql://lab@db/lab", pool: 3 }"#, "unknown key 'pool'"),
    ])
    func aStoreIsChecked(_ line: String, _ message: String) {
        let refused = refusal("coordinator:\n  data_dir: /d\n  \(line)\n")
        #expect(refused?.line == 3 && refused?.message.contains(message) == true, "\(String(describing: refused))")
    }

    /// `web:` (parsed once for coordinator.yaml and agent.yaml).
    @Test(arguments: [
        (#"web: { listen: "nowhere" }"#, 1, "web.listen"),
        (#"web: { listen: "127.0.0.1:99999" }"#, 1, "web.listen"),
        (#"web: { public_url: "http://x" }"#, 1, "missing required key 'listen'"),
        (#"web: { listen: "127.0.0.1:8080", public_url: "javascript:alert(1)" }"#, 1, "must be http://"),
        (#"web: { listen: "127.0.0.1:8080", public_url: "http://x/?a=b" }"#, 1, "must be http://"),
        (#"web: { listen: "127.0.0.1:8080", tls_cert: c.pem }"#, 1, "tls_cert and tls_key go together"),
        (#"web: { listen: "127.0.0.1:8080", port: 1 }"#, 1, "unknown key 'port'"),
    ])
    func aWebBlockIsChecked(_ line: String, _ lineNumber: Int, _ message: String) {
        let refused = refusal("\(line)\ncoordinator: { data_dir: /d }\n")
        #expect(refused?.line == lineNumber && refused?.message.contains(message) == true, "\(String(describing: refused))")
    }

    @Test func aStoreIsRead() throws {
        let config = try CoordinatorConfig(text: """
            coordinator:
              data_dir: /d
              store: { url: "postgresql://lab@db.lab:5432/lab", password_file: pw }
            """, file: "/etc/c.yaml")
        #expect(config.coordinator.store?.url == "postgresql://lab@db.lab:5432/lab")
        #expect(config.coordinator.store?.passwordFile == "/etc/pw" && config.coordinator.store?.connections == 8)
    }

    @Test func checkConfigSaysTheSame() async throws {
        let folder = try TemporaryDirectory(prefix: "coordinator-config")
        try folder.createFile("c.yaml", text: "coordinator:\n  data_dir: d\n  sssh: {}\n")
        let result = try await RunningProcess.run(try Tools.coordinator(), ["check-config", "--config", folder.path("c.yaml")])
        #expect(result.exitCode == 2 && result.stderr == "\(folder.path("c.yaml")):3: unknown key 'sssh' in coordinator (known: data_dir, health_interval, ssh, store)\n", "\(result)")
    }

    /// Keys that are not there yet are made at the first start; a file that
    /// is there and is no private key (a public key, say) is refused at the
    /// line that names it, or at data_dir for the keys kept there.
    @Test func checkConfigReadsTheKeysThatExist() async throws {
        let folder = try TemporaryDirectory(prefix: "coordinator-config")
        let config = try folder.createFile("c.yaml", text: "coordinator:\n  data_dir: d\n  ssh:\n    host_key: host\n")
        try FileManager.default.createDirectory(atPath: folder.path("d"), withIntermediateDirectories: true)
        let check = { try await RunningProcess.run(try Tools.coordinator(), ["check-config", "--config", config]) }

        let missing = try await check()
        #expect(missing.exitCode == 0, "\(missing)")

        try folder.createFile("host", text: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHuhLPTAdUcAqUk8ZDBH1fMqFiYzGnnGdQiaHeB8Mfmc alice\n")
        let publicKey = try await check()
        #expect(publicKey.exitCode == 2, "\(publicKey)")
        #expect(publicKey.stderr == "\(config):4: coordinator.ssh.host_key: \(folder.path("host")): not a private key libssh can read\n",
                "\(publicKey)")

        try FileManager.default.removeItem(atPath: folder.path("host"))
        try SSHHostKey.ensure(at: folder.path("host"))
        try folder.createFile("d/ssh_client_ed25519_key", text: "")
        let emptyClientKey = try await check()
        #expect(emptyClientKey.exitCode == 2, "\(emptyClientKey)")
        #expect(emptyClientKey.stderr.hasPrefix("\(config):2: coordinator.data_dir: \(folder.path("d"))/ssh_client_ed25519_key: "),
                "\(emptyClientKey)")

        try FileManager.default.removeItem(atPath: folder.path("d/ssh_client_ed25519_key"))
        try SSHHostKey.ensure(at: folder.path("d/ssh_client_ed25519_key"))
        let both = try await check()
        #expect(both.exitCode == 0 && both.stderr.isEmpty, "\(both)")
    }
}
