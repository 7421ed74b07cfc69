// libmicrohttpd. MHD_start_daemon is variadic, which Swift cannot call:
// CMicroHTTPD_start_daemon passes the options this project uses, typed.
#ifndef CMICROHTTPD_SHIM_H
#define CMICROHTTPD_SHIM_H
#include <stdarg.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <microhttpd.h>

/// Starts a daemon listening on `listen_fd` (already bound and listening),
/// running `thread_pool_size` worker threads (0: one internal thread with
/// epoll), with a per-connection timeout in seconds and a connection limit.
/// `completed` (may be NULL) is called when a request ends, with `cls`.
static inline struct MHD_Daemon *
CMicroHTTPD_start_daemon(unsigned int flags, int listen_fd,
                         MHD_AccessHandlerCallback handler, void *handler_cls,
                         MHD_RequestCompletedCallback completed, void *completed_cls,
                         unsigned int thread_pool_size, unsigned int connection_timeout,
                         unsigned int connection_limit)
{
    return MHD_start_daemon(flags, 0, NULL, NULL, handler, handler_cls,
                            MHD_OPTION_LISTEN_SOCKET, (MHD_socket)listen_fd,
                            MHD_OPTION_NOTIFY_COMPLETED, completed, completed_cls,
                            MHD_OPTION_THREAD_POOL_SIZE, thread_pool_size,
                            MHD_OPTION_CONNECTION_TIMEOUT, connection_timeout,
                            MHD_OPTION_CONNECTION_LIMIT, connection_limit,
                            MHD_OPTION_END);
}
#endif
