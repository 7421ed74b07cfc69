import CCrypto

/// SHA-1, for the one protocol that still names it: a WebSocket handshake's
/// `Sec-WebSocket-Accept` (RFC 6455, 4.2.2). Not for anything that must
/// resist collisions. The corresponding C function is `EVP_Digest`.
public enum SHA1 {
    /// The 20-byte digest of `bytes`.
    public static func digest(of bytes: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 20)
        var length: UInt32 = 0
        let done = bytes.withUnsafeBytes { EVP_Digest($0.baseAddress, $0.count, &digest, &length, EVP_sha1(), nil) }
        guard done == 1, length == 20 else { fatalError("EVP_Digest(SHA-1) failed") }  // only out of memory
        return digest
    }
}
