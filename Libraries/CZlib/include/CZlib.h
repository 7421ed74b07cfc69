// zlib (zlib1g-dev), linked from libz.a. inflateInit2 is a macro that passes
// the header's version and struct size: Swift cannot call macros, so the shim
// does.
#ifndef CZLIB_H
#define CZLIB_H
#include <zlib.h>

/// inflateInit2(stream, 15 + 16): a gzip stream (RFC 1952) with a 32 KiB window.
int CZlib_inflate_init_gzip(z_stream *stream);
#endif
