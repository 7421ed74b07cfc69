#include "CLZMA.h"

lzma_ret CLZMA_xz_decoder(lzma_stream *stream, uint64_t memory_limit)
{
    return lzma_stream_decoder(stream, memory_limit, LZMA_CONCATENATED);
}
