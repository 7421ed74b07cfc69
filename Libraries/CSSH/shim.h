// libssh, as Debian 12 ships it (0.10). ssh_options_set is not variadic and is
// called directly; ssh_callbacks_init is a macro, so Swift sets `size` itself.
#ifndef CSSH_SHIM_H
#define CSSH_SHIM_H
#include <libssh/libssh.h>
#include <libssh/server.h>
#include <libssh/callbacks.h>
#endif
