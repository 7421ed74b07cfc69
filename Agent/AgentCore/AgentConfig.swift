import Foundation
import ProvisionerCore
import SystemSupport

/// `agent.yaml`: the agent host and its boards. Every field is documented in
/// `examples/agent.yaml`; `AgentConfig(file:)` is its one validator.
public struct AgentConfig: Sendable {
    public var file: String
    public var agent: AgentSettings
    public var boards: [BoardConfig]
    /// The web page of a lone agent (`web:`); nil: none.
    public var web: WebSettings?

    public struct AgentSettings: Sendable {
        public var name: String
        public var dataDirectory: String
        public var ssh: SSHSettings
        public var tftp: TFTPSettings
        public var http: HTTPSettings
        /// `on_stop`: what a stop (SIGTERM) does to the boards.
        public var onStop: StopPolicy = .keep
    }

    /// What the agent does to its boards when it is stopped (SIGTERM); a
    /// crash or SIGKILL always leaves them as they are.
    public enum StopPolicy: String, Sendable {
        /// Leave every board as it is: power stays, a virtual board's QEMU
        /// runs on, and the next start takes over (real labs: an upgrade or
        /// a config change must not power-cycle someone's test).
        case keep
        /// Power every board off (the local lab: Ctrl-C on `scripts/lab`
        /// stops its QEMUs).
        case off
    }

    public struct SSHSettings: Sendable {
        public var listen: SocketAddress
        public var hostKey: String
        /// People using this agent directly (standalone).
        public var authorizedKeys: String?
        /// Coordinators, which may act for any user.
        public var coordinatorKeys: String?
        /// Where the config names each key file: path → (key, line).
        public var keyFileSources: [String: (key: String, line: Int)] = [:]
        /// Where the host key's path comes from: `ssh.host_key`, or else
        /// `data_dir` (the key's default folder).
        public var hostKeySource: (key: String, line: Int) = ("agent.data_dir", 1)
    }

    public struct TFTPSettings: Sendable {
        public var listen: SocketAddress
    }

    public struct HTTPSettings: Sendable {
        public var listen: SocketAddress
        /// The base URL under which people and boards reach this server.
        public var publicURL: String
        /// Each user's artifact space at most, in bytes; nil: no limit.
        public var quota: UInt64?
    }

    /// Loads and validates `file`; the first problem is thrown as
    /// `FILE:LINE: what is wrong`.
    public init(file: String) throws {
        try self.init(ConfigValue.load(file: file))
    }

    public init(text: String, file: String) throws {
        try self.init(ConfigValue.parse(text, file: file))
    }

    init(_ root: ConfigValue) throws {
        file = root.file
        let top = try root.mapping()
        let agentSection = try top.required("agent")
        let settings = try agentSection.mapping()
        let name = try Self.name(settings.required("name"))
        let dataDirectoryValue = try settings.required("data_dir")
        let dataDirectory = try dataDirectoryValue.filePath()

        let sshSection = try settings.optional("ssh")?.mapping()
        var ssh = SSHSettings(
            listen: try sshSection?.optional("listen").map(Self.listen) ?? SocketAddress(parsing: "0.0.0.0:2223"),
            hostKey: try sshSection?.optional("host_key")?.filePath() ?? dataDirectory + "/ssh_host_ed25519_key",
            authorizedKeys: try sshSection?.optional("authorized_keys")?.filePath(),
            coordinatorKeys: try sshSection?.optional("coordinator_keys")?.filePath())
        for key in ["authorized_keys", "coordinator_keys"] {
            if let value = sshSection?.optional(key) { ssh.keyFileSources[try value.filePath()] = (value.path, value.line) }
        }
        let hostKeyValue = sshSection?.optional("host_key") ?? dataDirectoryValue
        ssh.hostKeySource = (hostKeyValue.path, hostKeyValue.line)
        try sshSection?.finish()

        let tftpSection = try settings.optional("tftp")?.mapping()
        let tftp = TFTPSettings(listen: try tftpSection?.optional("listen").map(Self.listen) ?? SocketAddress(parsing: "0.0.0.0:69"))
        try tftpSection?.finish()

        let httpSection = try settings.optional("http")?.mapping()
        let httpListen = try httpSection?.optional("listen").map(Self.listen) ?? SocketAddress(parsing: "0.0.0.0:8080")
        let publicURL = try httpSection?.optional("public_url").map(Self.httpURL)
            ?? Self.defaultPublicURL(for: httpListen)
        let quota: UInt64? = try httpSection?.optional("quota").map { try $0.byteCount() } ?? 10 << 30
        try httpSection?.finish()
        let onStop = try settings.optional("on_stop").map { StopPolicy(rawValue: try $0.choice(["keep", "off"])) ?? .keep } ?? .keep
        try settings.finish()

        agent = AgentSettings(name: name, dataDirectory: dataDirectory, ssh: ssh, tftp: tftp,
                              http: HTTPSettings(listen: httpListen, publicURL: publicURL, quota: quota), onStop: onStop)

        var boards: [BoardConfig] = []
        if let list = top.optional("boards") {
            for item in try list.list() {
                let board = try BoardConfig(item, agentHTTP: publicURL)
                if boards.contains(where: { $0.name == board.name }) {
                    throw item.error("board name '\(board.name)' is used twice")
                }
                boards.append(board)
            }
        }
        self.boards = boards
        web = try top.optional("web").map(WebSettings.init)
        try top.finish()
    }

    /// The listen address when it names one host; this machine's name when it
    /// listens on every address (0.0.0.0 or ::), which no client can use.
    static func defaultPublicURL(for listen: SocketAddress) -> String {
        var host = listen.family == .inet ? listen.host : "[\(listen.host)]"
        if listen.host == "0.0.0.0" || listen.host == "::" {
            host = hostName()
        }
        return "http://\(host):\(listen.port)"
    }

    /// Board and agent names: what people type after `ssh`, and folder names.
    /// A name (of the agent, a board) or a tag: lower-case letters, digits,
    /// `.`, `_`, `-`, not first `.` or `-`, 64 at most.
    static func name(_ value: ConfigValue, what: String = "name") throws -> String {
        let text = try value.word()
        let allowed = text.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2d || $0 == 0x5f || $0 == 0x2e }
        guard allowed, text.count <= 64, let first = text.utf8.first, first != 0x2e, first != 0x2d else {
            throw value.error("'\(text)' is not a valid \(what) (lower-case letters, digits, '.', '_', '-'; 64 at most)")
        }
        return text
    }

    static func listen(_ value: ConfigValue) throws -> SocketAddress {
        let text = try value.word()
        do {
            return try SocketAddress(parsing: text)
        } catch {
            throw value.error(error.description)
        }
    }

    static func httpURL(_ value: ConfigValue) throws -> String {
        let text = try value.word()
        guard let url = URL(string: text), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
            throw value.error("'\(text)' is not an http:// URL")
        }
        return text.hasSuffix("/") ? String(text.dropLast()) : text
    }

    static func ipv4(_ value: ConfigValue) throws -> String {
        let text = try value.word()
        // Dotted quad only: no host names, no inet_aton forms such as 0x7f.0.0.1 or 010.1.1.1.
        var address = in_addr()
        guard inet_pton(AF_INET, text, &address) == 1 else {
            throw value.error("'\(text)' is not an IPv4 address")
        }
        return text
    }
}
