import Foundation
import ProvisionerCore
import SSH

/// An authorized_keys file: one OpenSSH public key a line, `#` comments.
public struct AuthorizedKeys: Sendable {
    public struct Entry: Sendable {
        public let key: SSHPublicKey
        public let line: Int
    }

    public let entries: [Entry]

    /// Reads `file`; a line that is not a key is `FILE:LINE: why`.
    public init(file: String) throws(ConfigError) {
        guard let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(file: file, line: 0, "cannot read the keys file")
        }
        var entries: [Entry] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            do {
                entries.append(Entry(key: try SSHPublicKey(line: line), line: index + 1))
            } catch {
                throw ConfigError(file: file, line: index + 1, "not an OpenSSH public key: \(error)")
            }
        }
        self.entries = entries
    }

    /// A key comment as a user name: the part before '@' ("alice@laptop" is
    /// alice), lower-cased, every character outside [a-z0-9._-] made '-',
    /// at most 64 characters. A key without a usable comment is named after
    /// its fingerprint ("key-" and 8 characters of it). Lossy ("Alice" and
    /// "alice", "Éve" and "ve" meet): `sharedName` finds where that bites.
    public static func userName(fromComment comment: String, fingerprint: String) -> String {
        var name = String(localPart(of: comment).lowercased().unicodeScalars.map { isNameCharacter($0) ? Character($0) : "-" })
        while let first = name.first, first == "-" || first == "." { name.removeFirst() }
        name = String(name.prefix(64))
        if name.isEmpty || name.allSatisfy({ $0 == "-" }) {
            let hash = fingerprint.split(separator: ":").last.map(String.init) ?? fingerprint
            let cleaned = hash.lowercased().unicodeScalars.filter { isNameCharacter($0) && $0 != "-" }.prefix(8)
            return "key-" + String(String.UnicodeScalarView(cleaned))
        }
        return name
    }

    static func localPart(of comment: String) -> Substring {
        comment.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
    }

    static func isNameCharacter(_ scalar: Unicode.Scalar) -> Bool {
        (scalar >= "a" && scalar <= "z") || (scalar >= "0" && scalar <= "9") || scalar == "." || scalar == "_" || scalar == "-"
    }

    /// The user `entry` acts as.
    public func userName(of entry: Entry) -> String {
        Self.userName(fromComment: entry.key.comment, fingerprint: entry.key.fingerprint)
    }

    /// Why `entry` cannot act: another key of this file maps to the same
    /// user name from another comment ("Alice@x" and "alice@y"), so two
    /// people would share one artifact space, token and reservations. Keys
    /// whose comments have the same part before '@' ("alice@laptop",
    /// "alice@desktop") are one person, as the file says. Nil when none.
    public func sharedName(of entry: Entry) -> String? {
        let name = userName(of: entry), local = Self.localPart(of: entry.key.comment)
        guard let other = entries.first(where: { $0.line != entry.line && userName(of: $0) == name
                                                  && Self.localPart(of: $0.key.comment) != local }) else { return nil }
        return "the keys on lines \(min(entry.line, other.line)) ('\(entry.line < other.line ? entry.key.comment : other.key.comment)') "
            + "and \(max(entry.line, other.line)) ('\(entry.line < other.line ? other.key.comment : entry.key.comment)') both act as '\(name)'; "
            + "give one person's keys the same comment before '@', and different people different ones"
    }
}

extension AgentConfig {
    /// Checks the key files the config names, where they exist already:
    /// the host key too (a missing one is made at the first start).
    public func checkKeyFiles() throws(ConfigError) {
        do {
            try SSHHostKey.check(at: agent.ssh.hostKey)
        } catch {
            throw ConfigError(file: file, line: agent.ssh.hostKeySource.line, "\(agent.ssh.hostKeySource.key): \(error)")
        }
        for file in [agent.ssh.authorizedKeys, agent.ssh.coordinatorKeys].compactMap({ $0 }) {
            // A missing or unreadable file is the config's mistake: point at its line.
            if !FileManager.default.isReadableFile(atPath: file), let source = agent.ssh.keyFileSources[file] {
                let reason = FileManager.default.fileExists(atPath: file) ? "cannot be read" : "does not exist"
                throw ConfigError(file: self.file, line: source.line, "\(source.key): \(file) \(reason)")
            }
            let keys = try AuthorizedKeys(file: file)
            // A person's key acts as its comment's user: two people, one name, refused.
            if file == agent.ssh.authorizedKeys, let entry = keys.entries.first(where: { keys.sharedName(of: $0) != nil }) {
                throw ConfigError(file: file, line: entry.line, keys.sharedName(of: entry)!)
            }
        }
    }
}
