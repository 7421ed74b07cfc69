// OpenSSL's libcrypto: SHA-256 (EVP digests) for the Digest module, and RSA
// signatures (PEM private keys, EVP_DigestSign) for the Google service
// account's RS256 JWTs. Nothing here is variadic: the header just names what
// the Digest module uses.
#ifndef CCRYPTO_SHIM_H
#define CCRYPTO_SHIM_H
#include <openssl/evp.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/err.h>
#endif
