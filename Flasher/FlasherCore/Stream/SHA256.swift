import CSHA256

/// SHA-256 over bytes fed in pieces, from libcrypto's low-level digest
/// (SHA-NI or AVX2 where the CPU has them; about 1.5 GB/s here). The state
/// is a plain C struct, so a copy is an independent hasher.
public struct SHA256: Sendable {
    private var context = SHA256_CTX()

    public init() {
        SHA256_Init(&context)
    }

    /// The corresponding C function is `SHA256_Update`.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        SHA256_Update(&context, base, bytes.count)
    }

    /// The digest as 64 lowercase hex digits (the hasher is spent afterwards;
    /// a copy taken before carries on). The corresponding C function is `SHA256_Final`.
    public mutating func finalize() -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        SHA256_Final(&digest, &context)
        return hexString(digest)
    }

    public static func hex(of bytes: [UInt8]) -> String {
        var hasher = SHA256()
        bytes.withUnsafeBytes { hasher.update($0) }
        return hasher.finalize()
    }
}

/// Lowercase hex of `bytes`.
func hexString(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var text = [UInt8]()
    text.reserveCapacity(bytes.count * 2)
    for byte in bytes {
        text.append(digits[Int(byte >> 4)])
        text.append(digits[Int(byte & 0x0f)])
    }
    return String(decoding: text, as: UTF8.self)
}
