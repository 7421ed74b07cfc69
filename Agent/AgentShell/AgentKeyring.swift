import AgentCore
import Artifacts
import Logging
import SSH

/// The keys that may log in to the agent (DESIGN.md "Who acts"):
/// `ssh.authorized_keys` (people, acting as themselves) and
/// `ssh.coordinator_keys` (coordinators, naming the acting user per request).
/// The files are read at every login, so edits take effect without a restart.
public struct AgentKeyring: Sendable {
    public enum Role: Sendable, Equatable {
        /// A person's key: acts as the user its comment names.
        case person(user: String)
        /// A coordinator's key: names the acting user per request.
        case coordinator(name: String)
    }

    public let authorizedKeysFile: String?
    public let coordinatorKeysFile: String?
    let logger: Logger

    public init(authorizedKeysFile: String?, coordinatorKeysFile: String?, logger: Logger) {
        self.authorizedKeysFile = authorizedKeysFile
        self.coordinatorKeysFile = coordinatorKeysFile
        self.logger = logger
    }

    /// The role of `key`, or nil when neither file lists it. A key in both
    /// files is a coordinator's.
    public func role(of key: SSHPublicKey) -> Role? {
        if let entry = find(key, in: coordinatorKeysFile) {
            return .coordinator(name: Self.userName(fromComment: entry.key.comment, fingerprint: key.fingerprint))
        }
        if let entry = find(key, in: authorizedKeysFile) {
            return .person(user: Self.userName(fromComment: entry.key.comment, fingerprint: key.fingerprint))
        }
        return nil
    }

    private func find(_ key: SSHPublicKey, in file: String?) -> AuthorizedKeys.Entry? {
        guard let file else { return nil }
        do {
            return try AuthorizedKeys(file: file).entries.first { $0.key.matches(key) }
        } catch {
            logger.warning("ssh: \(error)")
            return nil
        }
    }

    /// A key comment as a user name: the part before '@' ("alice@laptop" is
    /// alice), lower-cased, every character outside [a-z0-9._-] made '-',
    /// at most 64 characters. A key without a usable comment is named after
    /// its fingerprint ("key-" and 8 characters of it).
    public static func userName(fromComment comment: String, fingerprint: String) -> String {
        let local = comment.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        var name = String(local.lowercased().unicodeScalars.map { isNameCharacter($0) ? Character($0) : "-" })
        while let first = name.first, first == "-" || first == "." { name.removeFirst() }
        name = String(name.prefix(64))
        if name.isEmpty || name.allSatisfy({ $0 == "-" }) {
            let hash = fingerprint.split(separator: ":").last.map(String.init) ?? fingerprint
            let cleaned = hash.lowercased().unicodeScalars.filter { isNameCharacter($0) && $0 != "-" }.prefix(8)
            return "key-" + String(String.UnicodeScalarView(cleaned))
        }
        return name
    }

    /// Whether `name` is a valid acting user named by a coordinator: a
    /// user name (`ArtifactRoute.isValidUserName`) that is not an option.
    public static func isValidUserName(_ name: String) -> Bool {
        ArtifactRoute.isValidUserName(name) && name.first != "-"
    }

    static func isNameCharacter(_ scalar: Unicode.Scalar) -> Bool {
        (scalar >= "a" && scalar <= "z") || (scalar >= "0" && scalar <= "9") || scalar == "." || scalar == "_" || scalar == "-"
    }
}
