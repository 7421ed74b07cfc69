import Foundation
import ProvisionerCore
import Reservations
import SSH
import SystemSupport

/// `coordinator.yaml`: users, agents and the calendar. Every field is
/// documented in `examples/coordinator.yaml`; `CoordinatorConfig(file:)` is
/// its one validator (unknown keys are refused, errors are `FILE:LINE: …`).
public struct CoordinatorConfig: Sendable {
    public var file: String
    public var coordinator: Settings
    public var users: [User]
    public var agents: [Agent]
    /// Accepted and validated; the calendar sync is another issue.
    public var calendar: CalendarSettings?
    /// The lab's web page; nil: none.
    public var web: WebSettings?
    /// Where `/metrics` (Prometheus) is served (`metrics: { listen: … }`); nil: nowhere.
    public var metricsListen: SocketAddress?


    public struct Settings: Sendable {
        public var dataDirectory: String
        public var ssh: SSHSettings
        /// How often each agent is asked for its boards.
        public var healthInterval: Double
        /// Where reservations, audit and events live: nil, SQLite in
        /// `data_dir`; else a PostgreSQL that several coordinators share.
        public var store: StoreSettings?
    }

    /// `coordinator.store`: `url` (`postgresql://user@host:5432/db`), an
    /// optional `password_file` (read at start; its first line), and how
    /// many `connections` the pool may open (2 to 100, 8 by default).
    public struct StoreSettings: Sendable {
        public var url: String
        public var passwordFile: String?
        public var connections: Int

        /// The password, read from `password_file` (its first line).
        public func password() throws -> String? {
            guard let passwordFile else { return nil }
            guard let text = FileManager.default.contents(atPath: passwordFile).flatMap({ String(data: $0, encoding: .utf8) }) else {
                throw StoreError(.failed, "\(passwordFile): cannot read the store's password file (coordinator.store.password_file)")
            }
            return text.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        }
    }

    public struct SSHSettings: Sendable {
        public var listen: SocketAddress
        public var hostKey: String
        /// The key the coordinator logs into agents with (generated when missing).
        public var clientKey: String
        /// Where each key's path comes from: its own line, or else
        /// `data_dir` (the keys' default folder).
        public var hostKeySource: (key: String, line: Int) = ("coordinator.data_dir", 1)
        public var clientKeySource: (key: String, line: Int) = ("coordinator.data_dir", 1)
    }

    public struct User: Sendable {
        public var name: String
        public var email: String?
        public var admin: Bool
        public var keys: [SSHPublicKey]
    }

    public struct Agent: Sendable {
        public var name: String
        public var host: String
        public var port: UInt16
        public var hostKey: SSHHostKeyPin
        public var address: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    static func store(_ value: ConfigValue) throws(ConfigError) -> StoreSettings {
        let map = try value.mapping()
        let urlValue = try map.required("url")
        let url = try urlValue.string()
        guard url.hasPrefix("postgresql://") || url.hasPrefix("postgres://"), url.count <= 1000,
              !url.contains(where: { $0.isWhitespace || $0.asciiValue.map { $0 < 0x20 || $0 == 0x7F } ?? false }) else {
            throw urlValue.error("must be a PostgreSQL URL, postgresql://USER@HOST:5432/DATABASE (absent: SQLite in data_dir)")
        }
        let afterScheme = url[url.firstRange(of: "://")!.upperBound...]
        if let at = afterScheme.firstIndex(of: "@"), afterScheme[..<at].contains(":") {
            throw urlValue.error("holds a password: put it in password_file instead")
        }
        let passwordFile = try map.optional("password_file")?.filePath()
        let connections = try map.optional("connections")?.int(in: 2...100) ?? 8
        try map.finish()
        return StoreSettings(url: url, passwordFile: passwordFile, connections: connections)
    }

    /// Loads and validates `file`; the first problem is thrown as
    /// `FILE:LINE: what is wrong`.
    public init(file: String) throws(ConfigError) {
        try self.init(ConfigValue.load(file: file))
    }

    public init(text: String, file: String) throws(ConfigError) {
        try self.init(ConfigValue.parse(text, file: file))
    }

    init(_ root: ConfigValue) throws(ConfigError) {
        file = root.file
        let top = try root.mapping()
        let settings = try top.required("coordinator").mapping()
        let dataDirectoryValue = try settings.required("data_dir")
        let dataDirectory = try dataDirectoryValue.filePath()
        let sshSection = try settings.optional("ssh")?.mapping()
        var ssh = SSHSettings(
            listen: try sshSection?.optional("listen").map(Self.listen) ?? Self.defaultListen,
            hostKey: try sshSection?.optional("host_key")?.filePath() ?? dataDirectory + "/ssh_host_ed25519_key",
            clientKey: try sshSection?.optional("client_key")?.filePath() ?? dataDirectory + "/ssh_client_ed25519_key")
        for (key, source) in [("host_key", \SSHSettings.hostKeySource), ("client_key", \SSHSettings.clientKeySource)] {
            let value = sshSection?.optional(key) ?? dataDirectoryValue
            ssh[keyPath: source] = (value.path, value.line)
        }
        try sshSection?.finish()
        let healthInterval = try settings.optional("health_interval")?.duration() ?? 2
        if healthInterval < 0.1 || healthInterval > 300, let value = settings.optional("health_interval") {
            throw value.error("must be from 100ms to 5m")
        }
        let store = try settings.optional("store").map(Self.store)
        try settings.finish()
        coordinator = Settings(dataDirectory: dataDirectory, ssh: ssh, healthInterval: healthInterval, store: store)

        var users: [User] = []
        for item in try top.optional("users")?.list() ?? [] {
            let user = try Self.user(item)
            if users.contains(where: { $0.name == user.name }) { throw item.error("user name '\(user.name)' is used twice") }
            for key in user.keys {
                if let other = users.first(where: { $0.keys.contains { $0.matches(key) } }) {
                    throw item.error("a key of '\(user.name)' is also a key of '\(other.name)' (\(key.fingerprint))")
                }
            }
            users.append(user)
        }
        self.users = users

        var agents: [Agent] = []
        for item in try top.optional("agents")?.list() ?? [] {
            let agent = try Self.agent(item)
            if agents.contains(where: { $0.name == agent.name }) { throw item.error("agent name '\(agent.name)' is used twice") }
            agents.append(agent)
        }
        self.agents = agents
        calendar = try top.optional("calendar").map(CalendarSettings.init)
        web = try top.optional("web").map(WebSettings.init)
        metricsListen = try top.optional("metrics").map { value throws(ConfigError) in
            let map = try value.mapping()
            let listen = try map.required("listen")
            let address: SocketAddress
            do { address = try SocketAddress(parsing: try listen.word()) } catch let error as ConfigError { throw error } catch {
                throw listen.error("\(error)")
            }
            try map.finish()
            return address
        }
        try top.finish()
    }

    static let defaultListen: SocketAddress = {
        do { return try SocketAddress(parsing: "0.0.0.0:2222") } catch { fatalError("\(error)") }
    }()

    private static func user(_ value: ConfigValue) throws(ConfigError) -> User {
        let mapping = try value.mapping()
        let name = try Self.name(mapping.required("name"))
        let email = try mapping.optional("email")?.word()
        let admin = try mapping.optional("admin")?.bool() ?? false
        var keys: [SSHPublicKey] = []
        let keysValue = try mapping.required("keys")
        let items: [ConfigValue]
        if case .scalar = keysValue.node { items = [keysValue] } else { items = try keysValue.list() }
        for item in items {
            let line = try item.word()
            do {
                keys.append(try SSHPublicKey(line: line))
            } catch {
                throw item.error("not an OpenSSH public key (TYPE BASE64 [COMMENT]): \(error)")
            }
        }
        if keys.isEmpty { throw keysValue.error("lists no key: the user could not log in") }
        try mapping.finish()
        return User(name: name, email: email, admin: admin, keys: keys)
    }

    private static func agent(_ value: ConfigValue) throws(ConfigError) -> Agent {
        let mapping = try value.mapping()
        let name = try Self.name(mapping.required("name"))
        let addressValue = try mapping.required("address")
        let (host, port) = try Self.hostAndPort(addressValue)
        let pinValue = try mapping.required("host_key")
        let pin: SSHHostKeyPin
        do {
            pin = try SSHHostKeyPin(try pinValue.word())
        } catch let error as ConfigError {
            throw error
        } catch {
            throw pinValue.error("\(error)")
        }
        try mapping.finish()
        return Agent(name: name, host: host, port: port, hostKey: pin)
    }

    /// User, agent and board names: [a-z0-9._-], as agents accept them in `--as`.
    static func name(_ value: ConfigValue) throws(ConfigError) -> String {
        let text = try value.word()
        guard isValidName(text) else {
            throw value.error("'\(text)' is not a valid name (lower-case letters, digits, '.', '_', '-'; 64 at most)")
        }
        return text
    }

    public static func isValidName(_ text: String) -> Bool {
        let allowed = text.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2d || $0 == 0x5f || $0 == 0x2e }
        guard allowed, !text.isEmpty, text.count <= 64, let first = text.utf8.first else { return false }
        return first != 0x2e && first != 0x2d
    }

    static func listen(_ value: ConfigValue) throws(ConfigError) -> SocketAddress {
        let text = try value.word()
        do { return try SocketAddress(parsing: text) } catch { throw value.error(error.description) }
    }

    /// `HOST:PORT` or `[V6]:PORT`; the host may be a name (resolved at each connection).
    static func hostAndPort(_ value: ConfigValue) throws(ConfigError) -> (String, UInt16) {
        let text = try value.word()
        var host: Substring
        var portText: Substring
        if text.hasPrefix("["), let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") {
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else if let colon = text.lastIndex(of: ":"), text.firstIndex(of: ":") == colon {
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        } else {
            throw value.error("'\(text)' is not HOST:PORT (an IPv6 address goes in brackets: [::1]:2223)")
        }
        guard let port = UInt16(portText), port > 0 else { throw value.error("'\(text)': the port must be from 1 to 65535") }
        host = host.drop { $0 == " " }
        guard !host.isEmpty, !host.contains(" ") else { throw value.error("'\(text)': missing host") }
        return (String(host), port)
    }
}

extension CoordinatorConfig {
    /// Checks the host and client keys where they exist already (missing
    /// ones are made at the first start); a file that is there but is no
    /// private key is the config's mistake, at the line that names it.
    public func checkKeyFiles() throws(ConfigError) {
        for (path, source) in [(coordinator.ssh.hostKey, coordinator.ssh.hostKeySource),
                               (coordinator.ssh.clientKey, coordinator.ssh.clientKeySource)] {
            do {
                try SSHHostKey.check(at: path)
            } catch {
                throw ConfigError(file: file, line: source.line, "\(source.key): \(error)")
            }
        }
    }
}
