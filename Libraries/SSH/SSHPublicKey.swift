import CSSH

/// libssh's version, e.g. "0.10.6".
public let libsshVersion: String = String(cString: ssh_version(0))

/// A public key in OpenSSH's one-line form (`ssh-ed25519 AAAA… comment`),
/// checked by libssh.
public final class SSHPublicKey: @unchecked Sendable {
    // The key is never mutated after init; libssh's read-only calls are thread-safe.
    let key: ssh_key
    /// The key type as written, e.g. `ssh-ed25519`.
    public let type: String
    /// The base64 body.
    public let base64: String
    /// The comment after the key, often `user@host`; may be empty.
    public let comment: String

    /// Parses one authorized_keys-style line (options in front are not
    /// supported). Throws `SSHKeyError` with the reason.
    public init(line: String) throws(SSHKeyError) {
        let fields = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
        guard fields.count >= 2 else { throw SSHKeyError("expected 'TYPE BASE64 [COMMENT]'") }
        let type = String(fields[0])
        let keyType = ssh_key_type_from_name(type)
        guard keyType != SSH_KEYTYPE_UNKNOWN else { throw SSHKeyError("unknown key type '\(type)'") }
        var parsed: ssh_key?
        guard ssh_pki_import_pubkey_base64(String(fields[1]), keyType, &parsed) == SSH_OK, let parsed else {
            throw SSHKeyError("the \(type) key data is not valid")
        }
        key = parsed
        self.type = type
        base64 = String(fields[1])
        comment = fields.count > 2 ? fields[2].trimmingCharacters(in: " \t") : ""
    }

    deinit { ssh_key_free(key) }

    /// `SHA256:…`, as `ssh-keygen -l` prints it.
    public var fingerprint: String {
        var hash: UnsafeMutablePointer<UInt8>?
        var length = 0
        guard ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &length) == 0, let digest = hash else { return "?" }
        defer { ssh_clean_pubkey_hash(&hash) }
        guard let text = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, digest, length) else { return "?" }
        defer { ssh_string_free_char(text) }
        return String(cString: text)
    }

    /// True when both are the same key (comments aside).
    public func matches(_ other: SSHPublicKey) -> Bool {
        ssh_key_cmp(key, other.key, SSH_KEY_CMP_PUBLIC) == 0
    }
}

public struct SSHKeyError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

private extension StringProtocol {
    func trimmingCharacters(in set: String) -> String {
        let scalars = Set(set.unicodeScalars)
        var view = Substring(self)
        while let first = view.unicodeScalars.first, scalars.contains(first) { view = view.dropFirst() }
        while let last = view.unicodeScalars.last, scalars.contains(last) { view = view.dropLast() }
        return String(view)
    }
}
