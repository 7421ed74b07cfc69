import CCrypto

/// Signs with an RSA private key read from PEM (PKCS#8 "BEGIN PRIVATE KEY",
/// as in a Google service account key file, or PKCS#1 "BEGIN RSA PRIVATE
/// KEY"): RSASSA-PKCS1-v1_5 over SHA-256, the JWT algorithm "RS256".
///
///     let signer = try RSASigner(pem: keyText)
///     let signature = try signer.signSHA256(Array("header.claims".utf8))
///
/// The key is never printed, not even in errors.
public final class RSASigner: @unchecked Sendable {
    // @unchecked: the EVP_PKEY is only read after init; each signature uses
    // an EVP_MD_CTX of its own, which OpenSSL allows from several threads.
    private let key: OpaquePointer

    /// Reads the first private key in `pem`. The corresponding C function is
    /// `PEM_read_bio_PrivateKey`.
    public init(pem: String) throws(SignerError) {
        var bytes = Array(pem.utf8)
        let parsed: OpaquePointer? = bytes.withUnsafeMutableBytes { buffer in
            guard let bio = BIO_new_mem_buf(buffer.baseAddress, Int32(buffer.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_PrivateKey(bio, nil, nil, nil)
        }
        ERR_clear_error()
        guard let parsed else { throw SignerError("not a PEM private key") }
        guard EVP_PKEY_get_base_id(parsed) == EVP_PKEY_RSA else {
            EVP_PKEY_free(parsed)
            throw SignerError("the private key is not an RSA key")
        }
        key = parsed
    }

    deinit { EVP_PKEY_free(key) }

    /// The RS256 signature of `message`. The corresponding C function is
    /// `EVP_DigestSign`.
    public func signSHA256(_ message: [UInt8]) throws(SignerError) -> [UInt8] {
        guard let context = EVP_MD_CTX_new() else { throw SignerError("out of memory") }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestSignInit(context, nil, EVP_sha256(), nil, key) == 1 else {
            ERR_clear_error()
            throw SignerError("EVP_DigestSignInit failed")
        }
        var length = 0
        guard EVP_DigestSign(context, nil, &length, message, message.count) == 1 else {
            ERR_clear_error()
            throw SignerError("EVP_DigestSign failed (size)")
        }
        var signature = [UInt8](repeating: 0, count: length)
        guard EVP_DigestSign(context, &signature, &length, message, message.count) == 1 else {
            ERR_clear_error()
            throw SignerError("EVP_DigestSign failed")
        }
        return Array(signature.prefix(length))
    }
}

/// Why a key could not be read or used; never contains key material.
public struct SignerError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
