// libzstd (libzstd-dev), linked from libzstd.a. Nothing here is a macro or
// variadic; the header only names what the flasher uses.
#ifndef CZSTD_H
#define CZSTD_H
#include <zstd.h>
#endif
