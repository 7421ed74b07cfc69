// libpq, PostgreSQL's C client, as Debian 12 ships it (libpq-dev; its
// header lives in /usr/include/postgresql, which pkg-config names).
#ifndef CPOSTGRES_SHIM_H
#define CPOSTGRES_SHIM_H
#include <libpq-fe.h>
#endif
