// A C target needs a source file; the Swift side calls libzstd directly.
#include "CZstd.h"
