// SHA-256 from OpenSSL's libcrypto, linked from libcrypto.a. The low-level
// SHA256_* functions (deprecated in OpenSSL 3 but kept) pull in only the
// digest and its CPU dispatch (SHA-NI, AVX2), not the EVP provider machinery:
// a few tens of KiB in the static flasher instead of megabytes.
#ifndef CSHA256_H
#define CSHA256_H
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/sha.h>
#endif
