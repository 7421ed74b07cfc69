// libmicrohttpd. MHD_start_daemon, MHD_get_connection_info and the logger
// callback are variadic (or take a va_list), which Swift cannot call or
// implement: the CMicroHTTPD_ functions below wrap them with typed arguments.
#ifndef CMICROHTTPD_SHIM_H
#define CMICROHTTPD_SHIM_H
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <microhttpd.h>

/// Where MHD's own error messages go, already formatted (one message, no newline needed).
typedef void (*CMicroHTTPD_log_sink)(void *context, const char *message);

/// The options a daemon starts with (every field is required; 0 keeps MHD's default
/// where the comment says so).
typedef struct {
    unsigned int flags;                  // MHD_USE_* bits
    int listen_fd;                       // bound and listening; MHD closes it when stopped
    MHD_AccessHandlerCallback handler;
    void *handler_context;
    MHD_RequestCompletedCallback completed;  // once per request that reached the URI log callback
    void *completed_context;
    void *(*uri_logger)(void *context, const char *uri, struct MHD_Connection *connection);
    void *uri_logger_context;            // its return value becomes the request's *con_cls
    CMicroHTTPD_log_sink log_sink;       // may be NULL: MHD's messages go nowhere
    void *log_context;
    unsigned int thread_pool_size;       // 0 or 1: one internal thread (or one per connection)
    unsigned int connection_timeout;     // seconds of inactivity before a connection is closed
    unsigned int connection_limit;
    /// Connections one client address may hold at once (0: no limit).
    unsigned int per_ip_connection_limit;
    size_t connection_memory_limit;      // per connection: request line, headers and read buffer
    unsigned int listen_backlog;
    /// PEM text of the TLS key and certificate (both, or neither: plain HTTP).
    /// They must stay valid while the daemon runs.
    const char *tls_key;
    const char *tls_cert;
} CMicroHTTPD_options;

/// MHD_OPTION_EXTERNAL_LOGGER hands over a format and a va_list: format it here.
static inline void CMicroHTTPD_format_log(void *cls, const char *format, va_list arguments)
{
    const CMicroHTTPD_options *options = (const CMicroHTTPD_options *)cls;
    char message[512];
    vsnprintf(message, sizeof message, format, arguments);
    size_t length = strlen(message);
    while (length > 0 && (message[length - 1] == '\n' || message[length - 1] == '\r')) {
        message[--length] = '\0';
    }
    options->log_sink(options->log_context, message);
}

/// Starts a daemon as `options` say (MHD_start_daemon with typed options).
/// `options` must stay valid while the daemon runs when it has a log sink.
static inline struct MHD_Daemon *CMicroHTTPD_start_daemon(const CMicroHTTPD_options *options)
{
    unsigned int flags = options->flags;
    if (options->log_sink != NULL) {
        flags |= MHD_USE_ERROR_LOG;
    }
    // TLS: its two options in an array that is otherwise empty (varargs cannot be built at run time).
    struct MHD_OptionItem tls[3] = {{MHD_OPTION_END, 0, NULL}, {MHD_OPTION_END, 0, NULL}, {MHD_OPTION_END, 0, NULL}};
    if (options->tls_key != NULL && options->tls_cert != NULL) {
        flags |= MHD_USE_TLS;
        tls[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)options->tls_key};
        tls[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)options->tls_cert};
    }
    // The logger comes first: MHD reports problems with the options after it through it.
    return MHD_start_daemon(flags, 0, NULL, NULL, options->handler, options->handler_context,
                            MHD_OPTION_EXTERNAL_LOGGER,
                            options->log_sink != NULL ? CMicroHTTPD_format_log : NULL, (void *)options,
                            MHD_OPTION_LISTEN_SOCKET, (MHD_socket)options->listen_fd,
                            MHD_OPTION_NOTIFY_COMPLETED, options->completed, options->completed_context,
                            MHD_OPTION_URI_LOG_CALLBACK, options->uri_logger, options->uri_logger_context,
                            MHD_OPTION_THREAD_POOL_SIZE, options->thread_pool_size,
                            MHD_OPTION_CONNECTION_TIMEOUT, options->connection_timeout,
                            MHD_OPTION_CONNECTION_LIMIT, options->connection_limit,
                            MHD_OPTION_PER_IP_CONNECTION_LIMIT, options->per_ip_connection_limit,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, options->connection_memory_limit,
                            MHD_OPTION_LISTEN_BACKLOG_SIZE, options->listen_backlog,
                            MHD_OPTION_ARRAY, tls,
                            MHD_OPTION_END);
}

/// Sends what is written at once (TCP_NODELAY): a streamed response's small
/// pieces (a console's echo) must not wait for the client's delayed ACK.
static inline void CMicroHTTPD_send_at_once(struct MHD_Connection *connection)
{
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (info != NULL) {
        int one = 1;
        setsockopt(info->connect_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
}

/// Hands an upgraded connection's socket back to libmicrohttpd to close
/// (MHD_upgrade_action is variadic).
static inline int CMicroHTTPD_upgrade_close(struct MHD_UpgradeResponseHandle *handle)
{
    return MHD_upgrade_action(handle, MHD_UPGRADE_ACTION_CLOSE) == MHD_YES;
}

/// The peer's address (MHD_get_connection_info is variadic). Returns its length,
/// 0 when MHD does not know it.
static inline socklen_t CMicroHTTPD_client_address(struct MHD_Connection *connection,
                                                   struct sockaddr_storage *address)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (info == NULL || info->client_addr == NULL) {
        return 0;
    }
    socklen_t length = info->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                                : sizeof(struct sockaddr_in);
    memcpy(address, info->client_addr, length);
    return length;
}
#endif
