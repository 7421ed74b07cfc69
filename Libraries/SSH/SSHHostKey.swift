#if canImport(Glibc)
import Glibc
#endif
import CSSH

/// A server's private host key on disk, in OpenSSH's format.
public enum SSHHostKey {
    /// Makes sure `path` holds a private key libssh can read: an existing one
    /// is checked, a missing one is generated (ed25519, mode 0600, written to
    /// a temporary name and renamed, so no half-written key is ever read).
    /// Returns the key's public `SHA256:…` fingerprint and whether it was made now.
    @discardableResult
    public static func ensure(at path: String) throws(SSHKeyError) -> (fingerprint: String, generated: Bool) {
        var generated = false
        if access(path, F_OK) != 0 {
            try generate(at: path)
            generated = true
        }
        var key: ssh_key?
        guard ssh_pki_import_privkey_file(path, nil, nil, nil, &key) == SSH_OK, let key else {
            throw SSHKeyError("\(path): not a private key libssh can read")
        }
        defer { ssh_key_free(key) }
        var publicKey: ssh_key?
        guard ssh_pki_export_privkey_to_pubkey(key, &publicKey) == SSH_OK, let publicKey else {
            throw SSHKeyError("\(path): cannot derive the public key")
        }
        defer { ssh_key_free(publicKey) }
        guard let wrapped = SSHPublicKey.copying(publicKey) else { throw SSHKeyError("\(path): cannot read the public key") }
        return (wrapped.fingerprint, generated)
    }

    /// Checks the key at `path` without making one: an existing file must be
    /// a private key libssh can read; a missing one is fine (the daemon
    /// makes it at its first start). For `check-config`.
    public static func check(at path: String) throws(SSHKeyError) {
        guard access(path, F_OK) == 0 else { return }
        guard access(path, R_OK) == 0 else { throw SSHKeyError("\(path): cannot be read") }
        var key: ssh_key?
        guard ssh_pki_import_privkey_file(path, nil, nil, nil, &key) == SSH_OK, let key else {
            throw SSHKeyError("\(path): not a private key libssh can read")
        }
        ssh_key_free(key)
    }

    private static func generate(at path: String) throws(SSHKeyError) {
        var key: ssh_key?
        guard ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key) == SSH_OK, let key else {
            throw SSHKeyError("cannot generate an ed25519 host key")
        }
        defer { ssh_key_free(key) }
        let temporary = path + ".new"
        unlink(temporary)
        // Create the file 0600 first: libssh would fopen(3) it with the umask's mode.
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SSHKeyError("\(path): cannot create the host key: \(String(cString: strerror(errno)))") }
        close(fd)
        guard ssh_pki_export_privkey_file(key, nil, nil, nil, temporary) == SSH_OK else {
            unlink(temporary)
            throw SSHKeyError("\(path): cannot write the host key")
        }
        chmod(temporary, 0o600)
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw SSHKeyError("\(path): cannot write the host key: \(reason)")
        }
    }
}

extension SSHPublicKey {
    /// A copy of a key libssh hands to a callback (the callback's key is
    /// freed by libssh when it returns).
    static func copying(_ key: ssh_key, comment: String = "") -> SSHPublicKey? {
        var base64: UnsafeMutablePointer<CChar>?
        guard ssh_pki_export_pubkey_base64(key, &base64) == SSH_OK, let base64 else { return nil }
        defer { ssh_string_free_char(base64) }
        guard let typeName = ssh_key_type_to_char(ssh_key_type(key)) else { return nil }
        return try? SSHPublicKey(line: "\(String(cString: typeName)) \(String(cString: base64)) \(comment)")
    }
}
