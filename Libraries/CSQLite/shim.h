// SQLite 3, as Debian 12 ships it (libsqlite3-dev). SQLITE_TRANSIENT is a
// macro casting -1 to a function pointer, which Swift cannot import: the
// shim hands it over as a value.
#ifndef CSQLITE_SHIM_H
#define CSQLITE_SHIM_H
#include <sqlite3.h>

/// SQLITE_TRANSIENT: sqlite3_bind_text copies the bytes before it returns.
static inline sqlite3_destructor_type CSQLite_transient(void) { return SQLITE_TRANSIENT; }
#endif
