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
        guard let file = authorizedKeysFile, let keys = read(file), let entry = keys.entries.first(where: { $0.key.matches(key) }) else {
            return nil
        }
        // Edited since the start to give two people one name: neither acts
        // as the other (the start refuses such a file).
        if let clash = keys.sharedName(of: entry) {
            logger.warning("ssh: refused the key on \(file):\(entry.line): \(clash)")
            return nil
        }
        return .person(user: Self.userName(fromComment: entry.key.comment, fingerprint: key.fingerprint))
    }

    private func find(_ key: SSHPublicKey, in file: String?) -> AuthorizedKeys.Entry? {
        guard let file else { return nil }
        return read(file)?.entries.first { $0.key.matches(key) }
    }

    private func read(_ file: String) -> AuthorizedKeys? {
        do {
            return try AuthorizedKeys(file: file)
        } catch {
            logger.warning("ssh: \(error)")
            return nil
        }
    }

    /// The user a key's comment names (`AuthorizedKeys.userName`).
    public static func userName(fromComment comment: String, fingerprint: String) -> String {
        AuthorizedKeys.userName(fromComment: comment, fingerprint: fingerprint)
    }

    /// Whether `name` is a valid acting user named by a coordinator: a
    /// user name (`ArtifactRoute.isValidUserName`) that is not an option.
    public static func isValidUserName(_ name: String) -> Bool {
        ArtifactRoute.isValidUserName(name) && name.first != "-"
    }
}
