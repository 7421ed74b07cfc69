// GNU extensions that Swift's Glibc module does not expose (it is imported
// without _GNU_SOURCE): batched datagram sends, thread names, and closing
// every other descriptor in a spawned child.
#ifndef CSYSTEMSUPPORT_H
#define CSYSTEMSUPPORT_H
#include <stddef.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <pthread.h>
#include <spawn.h>

/// One datagram of a batch: `iov_count` buffers sent as one packet.
typedef struct {
    struct iovec *iov;
    size_t iov_count;
} CSystemSupport_datagram;

/// Sends `count` datagrams on a connected socket with one sendmmsg(2) call
/// where possible. Returns how many were sent, or -1 with errno set.
int CSystemSupport_send_datagrams(int fd, CSystemSupport_datagram *datagrams, unsigned int count);

/// pthread_setname_np(3): names the calling thread (15 bytes are kept).
void CSystemSupport_set_thread_name(const char *name);

/// posix_spawn_file_actions_addclosefrom_np(3) (glibc 2.34): the child
/// closes every descriptor from `from` on. Returns 0 or an error number.
int CSystemSupport_spawn_close_from(posix_spawn_file_actions_t *actions, int from);
#endif
