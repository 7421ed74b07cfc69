/// A server's host key as a client's config pins it: the whole public key
/// (`ssh-ed25519 AAAA…`) or its `SHA256:…` fingerprint (`ssh-keygen -l`).
public enum SSHHostKeyPin: Sendable, CustomStringConvertible {
    case key(SSHPublicKey)
    case fingerprint(String)

    /// Parses a key line or a `SHA256:` fingerprint.
    public init(_ text: String) throws(SSHKeyError) {
        let trimmed = text.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
        if trimmed.hasPrefix("SHA256:") {
            let body = trimmed.dropFirst("SHA256:".count)
            // 32 bytes in unpadded base64: 43 characters.
            let base64 = body.utf8.allSatisfy { ($0 >= 0x41 && $0 <= 0x5a) || ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2b || $0 == 0x2f }
            guard body.utf8.count == 43, base64 else {
                throw SSHKeyError("'\(trimmed)' is not a SHA256 fingerprint (SHA256: and 43 base64 characters, as ssh-keygen -l prints)")
            }
            self = .fingerprint(trimmed)
        } else {
            self = .key(try SSHPublicKey(line: trimmed))
        }
    }

    /// Whether `key`, as the server showed it, is the pinned one.
    public func accepts(_ key: SSHPublicKey) -> Bool {
        switch self {
        case .key(let pinned): pinned.matches(key)
        case .fingerprint(let fingerprint): key.fingerprint == fingerprint
        }
    }

    /// The host key algorithms to ask for, so a server with several host
    /// keys shows the pinned one; nil when only a fingerprint is known.
    var algorithms: String? {
        guard case .key(let key) = self else { return nil }
        return key.type == "ssh-rsa" ? "rsa-sha2-512,rsa-sha2-256" : key.type
    }

    public var description: String {
        switch self {
        case .key(let key): "\(key.type) \(key.fingerprint)"
        case .fingerprint(let fingerprint): fingerprint
        }
    }
}
