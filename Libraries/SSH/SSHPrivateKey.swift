#if canImport(Glibc)
import Glibc
#endif
import CSSH

/// A private key read from an OpenSSH key file (no passphrase), to log in
/// with. libssh's key is read-only after loading and safe to share.
public final class SSHPrivateKey: @unchecked Sendable {
    let key: ssh_key
    /// The public half, e.g. for an agent's `coordinator_keys`.
    public let publicKey: SSHPublicKey

    /// Reads `path`; with `generate`, a missing file is first made (ed25519,
    /// mode 0600, as `SSHHostKey.ensure` makes host keys).
    public init(path: String, generate: Bool = false) throws(SSHKeyError) {
        if generate { try SSHHostKey.ensure(at: path) }
        var loaded: ssh_key?
        guard ssh_pki_import_privkey_file(path, nil, nil, nil, &loaded) == SSH_OK, let loaded else {
            throw SSHKeyError("\(path): not a private key libssh can read (no passphrase)")
        }
        var publicKey: ssh_key?
        guard ssh_pki_export_privkey_to_pubkey(loaded, &publicKey) == SSH_OK, let publicKey else {
            ssh_key_free(loaded)
            throw SSHKeyError("\(path): cannot derive the public key")
        }
        defer { ssh_key_free(publicKey) }
        guard let wrapped = SSHPublicKey.copying(publicKey) else {
            ssh_key_free(loaded)
            throw SSHKeyError("\(path): cannot read the public key")
        }
        key = loaded
        self.publicKey = wrapped
    }

    deinit { ssh_key_free(key) }

    /// `TYPE BASE64 COMMENT`, one authorized_keys line.
    public func publicKeyLine(comment: String) -> String {
        "\(publicKey.type) \(publicKey.base64)" + (comment.isEmpty ? "" : " \(comment)")
    }
}
