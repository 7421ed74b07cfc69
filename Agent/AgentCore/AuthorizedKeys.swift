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
}

extension AgentConfig {
    /// Checks the key files the config names, where they exist already.
    public func checkKeyFiles() throws(ConfigError) {
        for file in [agent.ssh.authorizedKeys, agent.ssh.coordinatorKeys].compactMap({ $0 }) {
            // A missing or unreadable file is the config's mistake: point at its line.
            if !FileManager.default.isReadableFile(atPath: file), let source = agent.ssh.keyFileSources[file] {
                let reason = FileManager.default.fileExists(atPath: file) ? "cannot be read" : "does not exist"
                throw ConfigError(file: self.file, line: source.line, "\(source.key): \(file) \(reason)")
            }
            _ = try AuthorizedKeys(file: file)
        }
    }
}
