// liblzma (liblzma-dev), linked from liblzma.a. The decoder flags are
// UINT32_C(…) macros that Swift does not import: the shim passes them.
#ifndef CLZMA_H
#define CLZMA_H
#include <lzma.h>

/// lzma_stream_decoder for .xz with concatenated streams, using at most
/// `memory_limit` bytes (a stream that needs more: LZMA_MEMLIMIT_ERROR).
lzma_ret CLZMA_xz_decoder(lzma_stream *stream, uint64_t memory_limit);
#endif
