#include "CLZMA.h"

lzma_ret CLZMA_xz_decoder(lzma_stream *stream)
{
    return lzma_stream_decoder(stream, UINT64_MAX, LZMA_CONCATENATED);
}
