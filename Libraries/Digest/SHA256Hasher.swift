import CCrypto

/// SHA-256 over bytes fed in pieces (libcrypto's EVP interface):
///
///     var hasher = SHA256Hasher()
///     hasher.update(chunk)          // as often as needed
///     let hex = hasher.finalize()   // "e3b0c442…", 64 lowercase hex digits
///
/// A copy carries on independently (the digest state is copied on write).
public struct SHA256Hasher: Sendable {
    private var context: DigestContext

    public init() {
        context = DigestContext()
    }

    /// Adds `bytes` to the digest. The corresponding C function is `EVP_DigestUpdate`.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        makeUnique()
        guard EVP_DigestUpdate(context.pointer, bytes.baseAddress, bytes.count) == 1 else {
            fatalError("EVP_DigestUpdate failed")  // only on a programming error (finalized context)
        }
    }

    public mutating func update(_ bytes: some Sequence<UInt8>) {
        let array = Array(bytes)
        array.withUnsafeBytes { update($0) }
    }

    /// The digest of everything added, as lowercase hex; the hasher starts
    /// over afterwards. The corresponding C function is `EVP_DigestFinal_ex`.
    public mutating func finalize() -> String {
        makeUnique()
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        guard EVP_DigestFinal_ex(context.pointer, &digest, &length) == 1, length == 32,
              EVP_DigestInit_ex(context.pointer, EVP_sha256(), nil) == 1 else {
            fatalError("EVP_DigestFinal_ex failed")
        }
        return hexString(digest)
    }

    /// The SHA-256 of `bytes`, as lowercase hex.
    public static func hex(of bytes: some Sequence<UInt8>) -> String {
        var hasher = SHA256Hasher()
        hasher.update(bytes)
        return hasher.finalize()
    }

    private mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&context) { context = context.copy() }
    }
}

/// Lowercase hex of `bytes`.
public func hexString(_ bytes: some Sequence<UInt8>) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var text = [UInt8]()
    text.reserveCapacity(64)
    for byte in bytes {
        text.append(digits[Int(byte >> 4)])
        text.append(digits[Int(byte & 0x0f)])
    }
    return String(decoding: text, as: UTF8.self)
}

/// Owns one `EVP_MD_CTX`: freed in deinit.
private final class DigestContext: @unchecked Sendable {
    // @unchecked: the context is only touched through a uniquely referenced
    // SHA256Hasher (copied on write), so never from two threads at once.
    let pointer: OpaquePointer

    init() {
        guard let pointer = EVP_MD_CTX_new(), EVP_DigestInit_ex(pointer, EVP_sha256(), nil) == 1 else {
            fatalError("libcrypto cannot allocate a SHA-256 context (out of memory)")
        }
        self.pointer = pointer
    }

    private init(copying other: DigestContext) {
        guard let pointer = EVP_MD_CTX_new(), EVP_MD_CTX_copy_ex(pointer, other.pointer) == 1 else {
            fatalError("libcrypto cannot copy a SHA-256 context (out of memory)")
        }
        self.pointer = pointer
    }

    func copy() -> DigestContext { DigestContext(copying: self) }

    deinit { EVP_MD_CTX_free(pointer) }
}
