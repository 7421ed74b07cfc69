// A C target needs a source file; the Swift side calls SHA256_* directly.
#include "CSHA256.h"
