// OpenSSL's libcrypto, for SHA-256 only (EVP digests). Nothing here is
// variadic: the header just names what the Digest module uses.
#ifndef CCRYPTO_SHIM_H
#define CCRYPTO_SHIM_H
#include <openssl/evp.h>
#endif
